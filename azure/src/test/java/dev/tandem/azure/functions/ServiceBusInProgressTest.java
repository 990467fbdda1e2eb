package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.core.util.BinaryData;
import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.azure.servicebus.FakeServiceBus;
import dev.tandem.azure.servicebus.TandemServiceBusProcessor;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemIds;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15 item 1: an owner invocation that crashes (the worker process dies: no settlement, its
 * claim's renewals stop) leaves a live claim; Service Bus redelivers the message when its lock
 * expires. The redelivered copy must wait for the claim's lease without spending delivery attempts,
 * and be processed once the claim expired — never be abandoned into the DLQ by MaxDeliveryCount.
 * Service Bus is {@link FakeServiceBus} (delivery count incremented on abandon and lock expiry,
 * dead-lettered past MaxDeliveryCount), with the SDK's own message encoding and received messages;
 * the store is the real RocksDB one.
 */
class ServiceBusInProgressTest {

  static final int SHARDS = 4;
  static final int MAX_DELIVERY_COUNT = 10;
  static final Duration LOCK = Duration.ofMillis(500);
  /** Well above the lock: the redelivery must find the crashed claim still live, even under load. */
  static final Duration CLAIM_LEASE = Duration.ofSeconds(3);

  /** The worker process dies inside the function: nothing after it runs, nothing is settled. */
  static final class HostCrash extends Error {
    private static final long serialVersionUID = 1L;

    HostCrash() {
      super("the worker process died");
    }
  }

  @TempDir Path dir;
  IdempotencyStore store;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final FakeServiceBus namespace = new FakeServiceBus();
  final List<String> runs = new CopyOnWriteArrayList<>();
  final AtomicBoolean crashNext = new AtomicBoolean(true);

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(TestRegions.A).instance("fn-1")
        .directory(dir).maxAttempts(5).build();
  }

  @AfterEach
  void close() {
    store.close();
  }

  OnceProcessor.Builder processor() {
    return OnceProcessor.builder().store(store)
        .deadLetterSink(TandemServiceBusProcessor.settlementDeadLetterSink())
        .claimLease(CLAIM_LEASE).meterRegistry(meters);
  }

  /** A function's processor: its dead letters must be stored by the sink (none expected here). */
  OnceProcessor.Builder functionProcessor() {
    return processor().deadLetterSink(letter -> {
      sunk.add(letter);
      return java.util.concurrent.CompletableFuture.completedFuture(null);
    });
  }

  final List<dev.tandem.consumer.DeadLetter> sunk = new CopyOnWriteArrayList<>();

  MessageHandler crashOnce() {
    return ctx -> {
      runs.add(ctx.id());
      if (crashNext.compareAndSet(true, false)) {
        throw new HostCrash(); // after the side effect, before the completion
      }
    };
  }

  static ServiceBusMessage published(String id) {
    byte[] body = ("order " + id).getBytes(StandardCharsets.UTF_8);
    Envelope e = Envelope.forPayload(id, body, Shards.forKey(id, SHARDS),
        System.currentTimeMillis());
    ServiceBusMessage m = new ServiceBusMessage(BinaryData.fromBytes(body)).setMessageId(id);
    EnvelopeCodec.write(e, m.getApplicationProperties()::put);
    return m;
  }

  /** A receiver's loop: takes what the entity delivers until {@code done} or the time is up. */
  static void pump(FakeServiceBus.Entity entity, Consumer<FakeServiceBus.Delivery> invoke,
      BooleanSupplier done, Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    while (!done.getAsBoolean() && System.nanoTime() < deadline) {
      var d = entity.receive();
      if (d.isPresent()) {
        invoke.accept(d.get());
      } else {
        java.util.concurrent.locks.LockSupport.parkNanos(10_000_000L); // an idle receive's wait
      }
    }
  }

  /** What the Functions host does with one delivery (autoCompleteMessages): complete or abandon. */
  static void invoke(FakeServiceBus.Delivery d, Runnable function) {
    try {
      function.run();
    } catch (HostCrash crash) {
      return; // the worker died: no settlement, the lock expires
    } catch (RuntimeException failed) {
      d.abandon();
      return;
    }
    d.complete();
  }

  /** A processor client's callback: the wrapper settles; a crash leaves the message unsettled. */
  static void processorInvoke(Runnable callback) {
    try {
      callback.run();
    } catch (HostCrash crash) {
      // the process died: no settlement, the lock expires
    }
  }

  @Test
  void aCrashedInvocationsMessageIsProcessedByTheProcessorWrapperNotDeadLettered() {
    FakeServiceBus.Entity queue = namespace.queue("orders", MAX_DELIVERY_COUNT, LOCK);
    ServiceBusSenderClient sender = namespace.sender("orders");
    TandemServiceBusProcessor once = TandemServiceBusProcessor.builder().processor(processor())
        .shardCount(SHARDS).recheckSender(sender).recheckDelay(Duration.ofMillis(200))
        .meterRegistry(meters).build();
    String id = TandemIds.newId();
    sender.sendMessage(published(id));
    var handler = once.processMessage(crashOnce());

    pump(queue, d -> processorInvoke(() -> handler.accept(d.context())),
        () -> runs.size() >= 2 || !queue.deadLetters.isEmpty(), Duration.ofSeconds(20));

    assertEquals(List.of(), queue.deadLetters, "nothing dead-lettered by Service Bus");
    assertEquals(List.of(id, id), runs, "the crashed run, then one run after its claim expired");
    assertEquals(0, queue.abandons.get(), "no abandon while the claim was live");
    // the crash's lock expiry; a 500 ms lock may also expire under a loaded machine's pause, so
    // not exactly one, but far from MaxDeliveryCount (the failure this test is about spent all 10)
    assertTrue(queue.lockExpiries.get() >= 1 && queue.lockExpiries.get() <= 3,
        "the crash cost a delivery attempt, the wait for its claim none: "
        + queue.lockExpiries.get() + " lock expiries");
    assertEquals(1.0, meters.get("tandem.servicebus.settled").tag("outcome", "in-progress-recheck")
        .counter().count(), "the redelivered copy was parked once, for the claim's lease");
    assertEquals(1.0, meters.get("tandem.consumer.reclaimed.expired").counter().count(),
        "the re-run after the crash is reported (the one possible duplicate)");
    pump(queue, d -> processorInvoke(() -> handler.accept(d.context())), () -> queue.size() == 0,
        Duration.ofSeconds(10));
    assertEquals(0, queue.size(), "every copy settled");
    assertEquals(2, runs.size());
  }

  @Test
  void aCrashedInvocationsMessageIsProcessedByTheFunctionNotDeadLettered() {
    FakeServiceBus.Entity queue = namespace.queue("orders", MAX_DELIVERY_COUNT, LOCK);
    ServiceBusSenderClient sender = namespace.sender("orders");
    TandemFunctions functions = TandemFunctions.builder().processor(functionProcessor())
        .shardCount(SHARDS).recheckSender(sender).recheckDelay(Duration.ofMillis(200))
        .meterRegistry(meters).build();
    String id = TandemIds.newId();
    sender.sendMessage(published(id));
    MessageHandler handler = crashOnce();

    pump(queue, d -> invoke(d, () -> functions.once(ServiceBusTriggerMessage.of(
            d.message().getBody().toBytes(), d.applicationProperties(),
            (int) d.message().getDeliveryCount()), handler)),
        () -> runs.size() >= 2 || !queue.deadLetters.isEmpty(), Duration.ofSeconds(20));

    assertEquals(List.of(), queue.deadLetters, "nothing dead-lettered by Service Bus");
    assertEquals(List.of(), sunk, "nothing in the DeadLetterSink either");
    assertEquals(List.of(id, id), runs, "the crashed run, then one run after its claim expired");
    assertEquals(0, queue.abandons.get(), "no abandon while the claim was live");
    // the crash's lock expiry; a 500 ms lock may also expire under a loaded machine's pause, so
    // not exactly one, but far from MaxDeliveryCount (the failure this test is about spent all 10)
    assertTrue(queue.lockExpiries.get() >= 1 && queue.lockExpiries.get() <= 3,
        "the crash cost a delivery attempt, the wait for its claim none: "
        + queue.lockExpiries.get() + " lock expiries");
    assertEquals(1.0, meters.get("tandem.servicebus.rechecks").tag("outcome", "scheduled")
        .counter().count(), "the redelivered copy was parked once, for the claim's lease");
    assertEquals(1.0, meters.get("tandem.functions.servicebus.parked").tag("reason", "in-progress")
        .counter().count(), "counted as an in-progress park, not a follower's");
    assertEquals(0.0, meters.get("tandem.functions.servicebus.parked").tag("reason", "follower")
        .counter().count());
  }

  @Test
  void theFakeCountsAbandonsAndLockExpiriesAndDeadLettersPastMaxDeliveryCount() {
    FakeServiceBus.Entity queue = namespace.queue("q", 3, Duration.ofMillis(500));
    ServiceBusSenderClient sender = namespace.sender("q");
    String id = TandemIds.newId();
    sender.sendMessage(published(id));
    var first = queue.receive().orElseThrow();
    assertEquals(1, first.message().getDeliveryCount(), "DeliveryCount starts at 1");
    assertEquals(id, first.message().getMessageId());
    first.abandon();
    var second = queue.receive().orElseThrow();
    assertEquals(2, second.message().getDeliveryCount(), "an abandon counts");
    assertTrue(queue.receive().isEmpty(), "locked");
    pump(queue, d -> { }, () -> queue.deliveries.get() >= 3, Duration.ofSeconds(5));
    assertEquals(1, queue.lockExpiries.get(), "the lock of the second delivery expired");
    assertThrowsLockLost(second);
    pump(queue, d -> { }, () -> !queue.deadLetters.isEmpty(), Duration.ofSeconds(5));
    assertEquals("MaxDeliveryCountExceeded", queue.deadLetters.get(0).reason());
    assertEquals(3, queue.deadLetters.get(0).deliveryCount());
    assertEquals(0, queue.size());
  }

  static void assertThrowsLockLost(FakeServiceBus.Delivery d) {
    var e = org.junit.jupiter.api.Assertions.assertThrows(
        com.azure.messaging.servicebus.ServiceBusException.class, d::complete);
    assertEquals(com.azure.messaging.servicebus.ServiceBusFailureReason.MESSAGE_LOCK_LOST,
        e.getReason());
  }

  @Test
  void triggerTimesAreReadFromTheFormsTheWorkerBindsAndKeptByTheOtherWithMethods() {
    java.time.OffsetDateTime t = java.time.OffsetDateTime.parse("2026-12-05T00:10:00Z");
    ServiceBusTriggerMessage m = ServiceBusTriggerMessage.of(new byte[0], java.util.Map.of(), 1)
        .withTimes("2026-12-05T00:10:00Z", t.toInstant().plusSeconds(60))
        .withSessionId("s-1").withSystemProperties("c", "text/plain", "subject");
    assertEquals(t, m.enqueuedTime());
    assertEquals(t.plusSeconds(60), m.expiresAt());
    assertEquals(t, ServiceBusTriggerMessage.of(new byte[0], java.util.Map.of(), 1)
        .withTimes("2026-12-05T00:10:00", null).enqueuedTime(), "a zone-less UTC text");
    assertEquals(null, ServiceBusTriggerMessage.of(new byte[0], java.util.Map.of(), 1)
        .withTimes("yesterday", null).enqueuedTime(), "unreadable is left out");
  }
}
