package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.azure.messaging.servicebus.models.CreateMessageBatchOptions;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemIds;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 item 6, last clause: a schedule whose answer was lost (the service scheduled it, the
 * sender saw a timeout) is replayed under the same MessageId; the sender learns only the replay's
 * sequence number, and a cancel by it alone leaves the first copy to be enqueued at its time.
 */
class ServiceBusScheduleCancelTest {

  static final RegionId REGION = TestRegions.A;
  final FakeServiceBus namespace = new FakeServiceBus();
  final FakeServiceBus.Entity queue = namespace.queue("orders", 10, Duration.ofSeconds(30));
  final ServiceBusSenderClient client = namespace.sender("orders");
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final AtomicInteger attempts = new AtomicInteger();
  ServiceBusRegionalSink sink;

  /** The namespace schedules every attempt; the first attempt's answer is lost on the way back. */
  final NamespaceSender losesFirstAnswer = new NamespaceSender() {
    @Override
    public String entityPath() {
      return "orders";
    }

    @Override
    public String namespace() {
      return "fake.servicebus.windows.net";
    }

    @Override
    public ServiceBusMessageBatch createMessageBatch() {
      throw new UnsupportedOperationException();
    }

    @Override
    public ServiceBusMessageBatch createMessageBatch(CreateMessageBatchOptions options) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void sendMessages(ServiceBusMessageBatch batch) {
      throw new UnsupportedOperationException();
    }

    @Override
    public long scheduleMessage(ServiceBusMessage message, OffsetDateTime enqueueAt) {
      long seq = client.scheduleMessage(message, enqueueAt);
      if (attempts.incrementAndGet() == 1) {
        throw new IllegalStateException("timeout: the answer to the schedule was lost");
      }
      return seq;
    }

    @Override
    public void cancelScheduledMessage(long sequenceNumber) {
      client.cancelScheduledMessage(sequenceNumber);
    }

    @Override
    public void close() {}
  };

  @AfterEach
  void close() {
    if (sink != null) {
      sink.close();
    }
  }

  OutboundMessage scheduled(String id) {
    ServiceBusMessage m = new ServiceBusMessage("reminder").setMessageId(id);
    return ServiceBusMessageMapping.toOutbound("orders", m, 4,
        OffsetDateTime.now(ZoneOffset.UTC).plusMinutes(10));
  }

  /** Schedules {@code id}, loses the first answer, replays (as the publisher's spool does). */
  long scheduleWithALostAnswer(String id) throws Exception {
    OutboundMessage copy = scheduled(id);
    Exception lost = assertThrows(Exception.class, () -> sink.send(copy).get(10, TimeUnit.SECONDS));
    assertEquals(1, attempts.get(), "the first attempt reached the namespace: " + lost);
    // the replay; a send queued right behind the failure is failed with it (the sink fails what
    // queued behind a region failure, for the spool), so replay until the namespace answers
    long seq = -1;
    for (int i = 0; i < 20 && seq < 0; i++) {
      try {
        seq = sink.send(copy).get(10, TimeUnit.SECONDS).position();
      } catch (java.util.concurrent.ExecutionException queuedBehindTheFailure) {
        Thread.onSpinWait();
      }
    }
    assertEquals(2, attempts.get(), "the replay reached the namespace");
    assertEquals(2, queue.scheduledCount(), "both attempts are scheduled on the service");
    return seq;
  }

  @Test
  void cancelFindsTheCopyOfAScheduleWhoseAnswerWasLost() throws Exception {
    sink = new ServiceBusRegionalSink(REGION, losesFirstAnswer, 10, registry);
    sink.scheduledCopies(ScheduledCopies.peeking(queue.peekReceiver()));
    String id = TandemIds.newId();
    long seq = scheduleWithALostAnswer(id);

    sink.cancel(seq, id).get(10, TimeUnit.SECONDS);

    assertEquals(0, queue.scheduledCount(), "every scheduled copy of " + id + " cancelled");
    assertEquals(2, queue.cancelled.get());
  }

  @Test
  void withoutAPeekReceiverTheRemainingCopyIsReported() throws Exception {
    sink = new ServiceBusRegionalSink(REGION, losesFirstAnswer, 10, registry);
    String id = TandemIds.newId();
    long seq = scheduleWithALostAnswer(id);

    sink.cancel(seq, id).get(10, TimeUnit.SECONDS);

    assertEquals(1, queue.scheduledCount(), "the lost attempt's copy cannot be found");
    assertEquals(1.0, registry.get("tandem.servicebus.cancelled").tag("outcome", "unknown-copy")
        .counter().count(), "and is reported");
  }

  @Test
  void cancelLeavesOtherMessagesScheduled() throws Exception {
    sink = new ServiceBusRegionalSink(REGION, losesFirstAnswer, 10, registry);
    sink.scheduledCopies(ScheduledCopies.peeking(queue.peekReceiver()));
    String id = TandemIds.newId();
    long seq = scheduleWithALostAnswer(id);
    String other = TandemIds.newId();
    sink.send(scheduled(other)).get(10, TimeUnit.SECONDS);

    sink.cancel(seq, id).get(10, TimeUnit.SECONDS);

    assertEquals(1, queue.scheduledCount(), "only " + other + " is left");
  }

  @Test
  void theSendersCancelPeeksEachRegionsQueueWhenConfigured(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path spool) {
    FakeServiceBus other = new FakeServiceBus();
    FakeServiceBus.Entity queueB = other.queue("orders", 10, Duration.ofSeconds(30));
    RegionId b = TestRegions.B;
    try (TandemServiceBusSender sender = TandemServiceBusSender.builder()
        .region(REGION, client).region(b, other.sender("orders"))
        .scheduledMessagesPeek(REGION, queue.peekReceiver())
        .scheduledMessagesPeek(b, queueB.peekReceiver())
        .shardCount(4).meterRegistry(registry).closeClients(false)
        .publisher(p -> p.spoolDirectory(spool)).build()) {
      ServiceBusMessage m = new ServiceBusMessage("reminder");
      ScheduledMessage s = sender.scheduleMessage(m,
          OffsetDateTime.now(ZoneOffset.UTC).plusMinutes(10));
      // what a lost-answer attempt left in A: the same MessageId, a sequence number never reported
      client.scheduleMessage(new ServiceBusMessage("reminder").setMessageId(s.id()),
          OffsetDateTime.now(ZoneOffset.UTC).plusMinutes(10));
      assertEquals(2, queue.scheduledCount());

      sender.cancelScheduledMessage(s);

      assertEquals(0, queue.scheduledCount(), "both copies in A cancelled");
      assertEquals(0, queueB.scheduledCount(), "B's copy cancelled");
    }
  }
}
