package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.testkit.TestRegions;
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

  static final RegionId A = TestRegions.A;
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

  static com.azure.messaging.servicebus.ServiceBusException serviceError(
      com.azure.core.amqp.exception.AmqpErrorCondition condition, String text) {
    return new com.azure.messaging.servicebus.ServiceBusException(
        new com.azure.core.amqp.exception.AmqpException(false, condition, text, null),
        com.azure.messaging.servicebus.ServiceBusErrorSource.SEND);
  }

  /**
   * amqp:not-allowed is the service's whole InvalidOperationException, and argument errors also come
   * on link attach: a refusal about the entity's state or tier, not the message, is the region's
   * failure (on replay, a rejection would delete every spooled copy of the region). Plain and
   * scheduled copies alike.
   */
  @Test
  void aRefusalAboutTheEntityRatherThanTheMessageIsARegionFailureAndRejectsNothing() {
    var notAllowed = com.azure.core.amqp.exception.AmqpErrorCondition.NOT_ALLOWED;
    var argument = com.azure.core.amqp.exception.AmqpErrorCondition.ARGUMENT_ERROR;
    var outOfRange = com.azure.core.amqp.exception.AmqpErrorCondition.ARGUMENT_OUT_OF_RANGE_ERROR;
    List<com.azure.messaging.servicebus.ServiceBusException> refusals = List.of(
        serviceError(notAllowed, "The operation is not allowed because the entity 'orders' is "
            + "being deleted. TrackingId:fake"),
        serviceError(notAllowed, "Scheduling is not supported for the messaging entity in its "
            + "current state. TrackingId:fake"),
        serviceError(argument, "Attach failed: invalid link source 'orders/$management'. "
            + "TrackingId:fake"),
        serviceError(outOfRange, "The link credit value is out of range. TrackingId:fake"));
    int i = 0;
    for (var refusal : refusals) {
      ns.sendFailure = refusal;
      for (OutboundMessage m : List.of(spooled("m-" + i, "n", "i:1"),
          spooledScheduled("s-" + i, "n", "i:1"))) {
        ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(
            ExecutionException.class, () -> sink.send(m).get(10, TimeUnit.SECONDS));
        org.junit.jupiter.api.Assertions.assertFalse(e.getCause() instanceof MessageRejectedException,
            m.id() + " failed for the region, not rejected: " + e.getCause());
      }
      i++;
    }
    assertEquals(0.0, registry.get("tandem.servicebus.rejected").tags("region", "region-a")
        .counter().count());
  }

  /**
   * What the SDK's scheduleMessageInternal makes of a local encoding error (onErrorMap → mapError):
   * ServiceBusException(cause, SEND), reason GENERAL_ERROR. The sink looks under it: an encoding error
   * is the message's; any other GENERAL_ERROR (here a timeout) stays the region's.
   */
  @Test
  void anEncodingErrorTheSdkWrapsOnTheSchedulePathIsARejectionAndOtherGeneralErrorsAreNot() {
    var send = com.azure.messaging.servicebus.ServiceBusErrorSource.SEND;
    ns.sendFailure = new com.azure.messaging.servicebus.ServiceBusException(
        new IllegalArgumentException("No encoding is known for map entry value of type: x"), send);
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> sink.send(spooledScheduled("s-0", "n", "i:1")).get(10, TimeUnit.SECONDS));
    assertInstanceOf(MessageRejectedException.class, e.getCause());

    ns.sendFailure = new com.azure.messaging.servicebus.ServiceBusException(
        new IllegalStateException("Timeout on blocking read", new java.util.concurrent
            .TimeoutException()), send);
    e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> sink.send(spooledScheduled("s-1", "n", "i:1")).get(10, TimeUnit.SECONDS));
    org.junit.jupiter.api.Assertions.assertFalse(e.getCause() instanceof MessageRejectedException,
        "a region failure: " + e.getCause());
  }

  /** The service's refusals known to be about the message itself stay rejections. */
  @Test
  void theServicesRefusalsOfTheMessageItselfAreRejections() {
    var notAllowed = com.azure.core.amqp.exception.AmqpErrorCondition.NOT_ALLOWED;
    List<com.azure.messaging.servicebus.ServiceBusException> refusals = List.of(
        serviceError(notAllowed, "The SessionId was not set on a message, and it cannot be sent to "
            + "the entity. Entities that have session support enabled can only receive messages "
            + "that have the SessionId set to a valid value. TrackingId:fake"),
        serviceError(com.azure.core.amqp.exception.AmqpErrorCondition.ARGUMENT_OUT_OF_RANGE_ERROR,
            "The PartitionKey of the message must be the same as its SessionId. TrackingId:fake"));
    int i = 0;
    for (var refusal : refusals) {
      ns.sendFailure = refusal;
      String id = "m-" + i++;
      ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
          () -> sink.send(spooled(id, "n", "i:1")).get(10, TimeUnit.SECONDS));
      assertInstanceOf(MessageRejectedException.class, e.getCause(), id);
    }
  }

  /**
   * The partitioned entity's refusal of a batch is recognised by its text alone: the AMQP condition
   * the Java SDK reports for it is not documented (here amqp:not-implemented).
   */
  @Test
  void aBatchRefusalOfAPartitionedEntityIsRecognisedByItsTextWhateverItsCondition()
      throws Exception {
    ns.partitionedWithDuplicateDetection = true;
    ns.refusalCondition = com.azure.core.amqp.exception.AmqpErrorCondition.NOT_IMPLEMENTED;
    java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);
    ns.sendGate = gate;
    CompletableFuture<?> warmUp = sink.send(spooled("warm-up", "n", "i:0"));
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .until(() -> ns.sendsAtGate.get() == 1);
    CompletableFuture<?> m0 = sink.send(spooled("m-0", "n", "i:0"));
    CompletableFuture<?> m1 = sink.send(spooled("m-1", "n", "i:1"));
    ns.sendGate = null;
    gate.countDown();
    warmUp.get(10, TimeUnit.SECONDS);
    m0.get(10, TimeUnit.SECONDS);
    m1.get(10, TimeUnit.SECONDS);
    assertEquals(List.of("warm-up", "m-0", "m-1"), ns.deliveredIds());
    assertEquals(1, ns.refused.size(), "refused once, then one message at a time");
    CompletableFuture<?> m2 = sink.send(spooled("m-2", "n", "i:2"));
    CompletableFuture<?> m3 = sink.send(spooled("m-3", "n", "i:3"));
    m2.get(10, TimeUnit.SECONDS);
    m3.get(10, TimeUnit.SECONDS);
    assertEquals(1, ns.refused.size(), "learned: sends singly");
  }

  @Test
  void aSpooledInstantPropertyIsReplayedAsTheSameInstantInATypeTheSdkEncodes() throws Exception {
    sink.send(spooled("old-instant", "at", "I:2026-12-05T00:00:00Z")).get(10, TimeUnit.SECONDS);
    assertEquals(OffsetDateTime.of(2026, 12, 5, 0, 0, 0, 0, ZoneOffset.UTC),
        SdkBatches.received(ns.delivered.get(0)).getApplicationProperties().get("at"));
  }
}
