package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The sink alone, fed what a spool written by an earlier version may hold: application properties the
 * codec accepted then and the SDK cannot encode.
 */
class ServiceBusRegionalSinkTest {

  static final RegionId A = RegionId.of("region-a");
  final FakeNamespace ns = new FakeNamespace("orders", 100, 256 * 1024, 1);
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  ServiceBusRegionalSink sink;

  {
    ns.sdkLinkMaxBytes = 256 * 1024;
    sink = new ServiceBusRegionalSink(A, new SyncNamespaceSender(ns.syncClient()), 100, registry);
  }

  @AfterEach
  void close() {
    sink.close();
  }

  static OutboundMessage spooled(String id, String property, String encoded) {
    return OutboundMessage.builder("orders", 0).id(id).value(new byte[] {1})
        .attribute(ServiceBusMessageMapping.PROPERTY + property, encoded).build();
  }

  @Test
  void aSpooledByteArrayPropertyIsRejectedWithItsReasonAndTheCopiesBehindItGo() throws Exception {
    CompletableFuture<?> bad = sink.send(spooled("old-bytes", "raw", "x:AQI="));
    CompletableFuture<?> next = sink.send(spooled("next", "n", "i:1"));

    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> bad.get(10, TimeUnit.SECONDS));
    assertInstanceOf(MessageRejectedException.class, e.getCause());
    assertTrue(e.getCause().getMessage().contains("cannot encode"), e.getCause().getMessage());
    next.get(10, TimeUnit.SECONDS);
    assertEquals(List.of("next"), ns.deliveredIds());
    assertEquals(1.0, registry.get("tandem.servicebus.rejected").tags("region", "region-a").counter()
        .count());
  }

  static OutboundMessage spooledScheduled(String id, String property, String encoded) {
    return OutboundMessage.builder("orders", 0).id(id).value(new byte[] {1})
        .attribute(ServiceBusMessageMapping.SCHEDULE_AT,
            OffsetDateTime.of(2030, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC).toString())
        .attribute(ServiceBusMessageMapping.PROPERTY + property, encoded).build();
  }

  /**
   * A scheduled copy is encoded by the SDK inside its management channel, and the SDK wraps the
   * encoding error as a ServiceBusException (GENERAL_ERROR, cause ClassCastException): it must still be
   * rejected (never a region failure, which would block the region's replay behind it forever).
   */
  @Test
  void aSpooledScheduledCopyWithAByteArrayPropertyIsRejectedAndTheCopiesBehindItGo()
      throws Exception {
    CompletableFuture<?> bad = sink.send(spooledScheduled("old-bytes", "raw", "x:AQI="));
    CompletableFuture<?> next = sink.send(spooled("next", "n", "i:1"));

    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> bad.get(10, TimeUnit.SECONDS));
    assertInstanceOf(MessageRejectedException.class, e.getCause());
    assertTrue(e.getCause().getMessage().contains("cannot encode"), e.getCause().getMessage());
    next.get(10, TimeUnit.SECONDS);
    assertEquals(List.of("next"), ns.deliveredIds());
    assertTrue(ns.scheduled.isEmpty(), "nothing scheduled");
    assertEquals(1.0, registry.get("tandem.servicebus.rejected").tags("region", "region-a").counter()
        .count());
  }

  /**
   * The worker can outlive close()'s wait (a blocking SDK call ends only at its try-timeout); what it
   * puts back in the queue when it finishes (copies that did not fit its batch) must still fail, or
   * their futures never complete and flush() hangs.
   */
  @Test
  void copiesTheWorkerPutsBackAfterCloseGaveUpWaitingForItFailAndFlushReturns() throws Exception {
    FakeNamespace small = new FakeNamespace("orders", 1, 256 * 1024, 1); // one message per batch
    small.gatesIgnoreInterrupts = true;
    ServiceBusRegionalSink s = new ServiceBusRegionalSink(A,
        new SyncNamespaceSender(small.syncClient()), 100, registry);
    s.closeWaitMillis = 100;
    java.util.concurrent.CountDownLatch sendGate = new java.util.concurrent.CountDownLatch(1);
    small.sendGate = sendGate;
    CompletableFuture<?> warmUp = s.send(spooled("warm-up", "n", "i:0"));
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .until(() -> small.sendsAtGate.get() == 1);
    List<CompletableFuture<?>> queued = List.of(s.send(spooled("m-0", "n", "i:0")),
        s.send(spooled("m-1", "n", "i:1")), s.send(spooled("m-2", "n", "i:2")));
    // the worker takes m-0..m-2 as one group, then waits to create their batch
    java.util.concurrent.CountDownLatch createGate = new java.util.concurrent.CountDownLatch(1);
    small.createGate = createGate;
    small.sendGate = null;
    sendGate.countDown();
    warmUp.get(10, TimeUnit.SECONDS);
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .until(() -> small.createsAtGate.get() == 1);

    s.close(); // gives up waiting for the worker, which is still creating the batch
    createGate.countDown(); // the batch holds m-0; m-1, m-2 go back to the queue

    for (int i = 0; i < queued.size(); i++) {
      org.awaitility.Awaitility.await("m-" + i + " completes").atMost(Duration.ofSeconds(10))
          .until(queued.get(i)::isDone);
    }
    CompletableFuture.runAsync(s::flush).get(10, TimeUnit.SECONDS);
    assertTrue(queued.get(1).isCompletedExceptionally(), "m-1 failed: the sink closed");
    assertTrue(queued.get(2).isCompletedExceptionally(), "m-2 failed: the sink closed");
  }

  /**
   * After the service refused a batch as a batch, the sink sends its messages one by one; a batch
   * (link) it then fails to create is the region's failure, never the message's: no copy is rejected
   * (that would drop it from a replayed spool), and every copy fails so that it is spooled, in order.
   */
  @Test
  void aBatchThatCannotBeCreatedAfterASplitFailsTheCopiesForTheRegionAndRejectsNone()
      throws Exception {
    ns.partitionedWithDuplicateDetection = true;
    java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);
    ns.sendGate = gate;
    CompletableFuture<?> warmUp = sink.send(spooled("warm-up", "n", "i:0"));
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .until(() -> ns.sendsAtGate.get() == 1);
    CompletableFuture<?> m0 = sink.send(spooled("m-0", "n", "i:0"));
    CompletableFuture<?> m1 = sink.send(spooled("m-1", "n", "i:1"));
    // the batch of m-0 and m-1 is created; the next one, after the service refused it, is not
    ns.createsBeforeFailure.set(1);
    ns.failCreate.set(new com.azure.messaging.servicebus.ServiceBusException(
        new com.azure.core.amqp.exception.AmqpException(false,
            com.azure.core.amqp.exception.AmqpErrorCondition.NOT_ALLOWED,
            "link attach refused: the entity 'orders' is being updated", null),
        com.azure.messaging.servicebus.ServiceBusErrorSource.SEND));
    ns.sendGate = null;
    gate.countDown();
    warmUp.get(10, TimeUnit.SECONDS);

    for (CompletableFuture<?> f : List.of(m0, m1)) {
      ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
          () -> f.get(10, TimeUnit.SECONDS));
      org.junit.jupiter.api.Assertions.assertFalse(e.getCause() instanceof MessageRejectedException,
          "a region failure, not a rejection: " + e.getCause());
    }
    assertEquals(1, ns.refused.size(), "the batch of two was refused, then split");
    assertEquals(0.0, registry.get("tandem.servicebus.rejected").tags("region", "region-a")
        .counter().count());
  }

  @Test
  void aSpooledInstantPropertyIsReplayedAsTheSameInstantInATypeTheSdkEncodes() throws Exception {
    sink.send(spooled("old-instant", "at", "I:2026-12-05T00:00:00Z")).get(10, TimeUnit.SECONDS);
    assertEquals(OffsetDateTime.of(2026, 12, 5, 0, 0, 0, 0, ZoneOffset.UTC),
        SdkBatches.received(ns.delivered.get(0)).getApplicationProperties().get("at"));
  }
}
