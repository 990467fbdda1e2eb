package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.messaging.servicebus.ServiceBusClientBuilder;
import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.PublishResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Against two real Service Bus namespaces, when {@code TANDEM_SERVICEBUS_A}, {@code
 * TANDEM_SERVICEBUS_B} (connection strings) and {@code TANDEM_SERVICEBUS_QUEUE} (a queue without
 * sessions that exists in both) are set; skipped otherwise (no emulator runs on the build machine).
 * Covers the fan-out to both namespaces and a follower's recheck copy.
 */
class TandemServiceBusLiveTest {

  static String connectionA;
  static String connectionB;
  static String queue;

  @TempDir Path spool;
  @TempDir Path storeDir;

  @BeforeAll
  static void namespaces() {
    connectionA = System.getenv("TANDEM_SERVICEBUS_A");
    connectionB = System.getenv("TANDEM_SERVICEBUS_B");
    queue = System.getenv("TANDEM_SERVICEBUS_QUEUE");
    Assumptions.assumeTrue(connectionA != null && connectionB != null && queue != null,
        "TANDEM_SERVICEBUS_A, TANDEM_SERVICEBUS_B and TANDEM_SERVICEBUS_QUEUE are not all set: "
            + "the live Service Bus test needs two real namespaces and is skipped");
  }

  static ServiceBusClientBuilder client(String connectionString) {
    return new ServiceBusClientBuilder().connectionString(connectionString);
  }

  @Test
  void aMessageSentAndOneScheduledThenCancelledReachBothNamespacesWithOneId() {
    try (TandemServiceBusSender sender = TandemServiceBusSender.builder()
        .region(TestRegions.A, client(connectionA).sender().queueName(queue).buildClient())
        .region(TestRegions.B, client(connectionB).sender().queueName(queue).buildClient())
        .shardCount(8)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ALL))
        .build()) {
      PublishResult sent = sender.sendMessage(new ServiceBusMessage("tandem live test"));
      ScheduledMessage later = sender.scheduleMessage(new ServiceBusMessage("cancelled"),
          OffsetDateTime.now(ZoneOffset.UTC).plusMinutes(10));
      assertTrue(later.allKnown(), later.toString());
      sender.cancelScheduledMessage(later);

      for (String connection : new String[] {connectionA, connectionB}) {
        try (ServiceBusReceiverClient receiver =
            client(connection).receiver().queueName(queue).buildClient()) {
          ServiceBusReceivedMessage found = null;
          for (ServiceBusReceivedMessage m : receiver.receiveMessages(50, Duration.ofSeconds(20))) {
            receiver.complete(m);
            if (sent.id().equals(m.getMessageId())) {
              found = m;
            }
          }
          assertNotNull(found, "message " + sent.id() + " not received");
          ServiceBusReceivedMessage copy = found;
          assertEquals(sent.envelope(),
              EnvelopeCodec.read(n -> (String) copy.getApplicationProperties().get(n)));
        }
      }
    }
  }

  /**
   * A follower region's wrapper (its fence refuses every shard) on namespace A's queue: the copy is
   * parked as a recheck copy under a new MessageId with the same tandem-id, the original completed;
   * the recheck copy arrives after the delay and is parked again (round 2), never run.
   */
  @Test
  void aFollowersCopyComesBackAsARecheckCopyUnderANewMessageId() {
    String id;
    try (TandemServiceBusSender sender = TandemServiceBusSender.builder()
        .region(TestRegions.A, client(connectionA).sender().queueName(queue).buildClient())
        .region(TestRegions.B, client(connectionB).sender().queueName(queue).buildClient())
        .shardCount(8)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ALL))
        .build()) {
      id = sender.sendMessage(new ServiceBusMessage("tandem live recheck")).id();
    }
    AtomicInteger runs = new AtomicInteger();
    try (IdempotencyStore store = IdempotencyStore.builder().region(TestRegions.A)
            .instance("live-1").directory(storeDir).build();
        var recheckSender = client(connectionA).sender().queueName(queue).buildClient();
        ServiceBusReceiverClient receiver =
            client(connectionA).receiver().queueName(queue).buildClient()) {
      TandemServiceBusProcessor follower = TandemServiceBusProcessor.builder()
          .processor(OnceProcessor.builder().store(store)
              .deadLetterSink(TandemServiceBusProcessor.settlementDeadLetterSink())
              .fence((shard, epoch) -> false))
          .shardCount(8)
          .recheckSender(recheckSender)
          .recheckDelay(Duration.ofSeconds(2))
          .followerHold(Duration.ofMillis(200))
          .build();
      String original = null;
      ServiceBusReceivedMessage copy = null;
      long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
      while (copy == null && System.nanoTime() < deadline) {
        for (ServiceBusReceivedMessage m : receiver.receiveMessages(20, Duration.ofSeconds(10))) {
          boolean ours = id.equals(m.getApplicationProperties().get(TandemHeaders.ID));
          if (ours && original != null && !original.equals(m.getMessageId())) {
            copy = m;
          } else if (ours) {
            original = m.getMessageId();
          }
          if (ours) {
            follower.process(receiver, m, ctx -> runs.incrementAndGet());
          } else {
            receiver.complete(m); // another test's leftover
          }
        }
      }
      assertNotNull(copy, "the recheck copy of " + id + " came back");
      assertEquals(id, original, "the original's MessageId is the Tandem id");
      assertTrue(!copy.getMessageId().equals(id), "a new MessageId");
      assertEquals(1, ((Number) copy.getApplicationProperties()
          .get(TandemServiceBusProcessor.RECHECK_PROPERTY)).intValue());
      assertEquals("tandem live recheck", copy.getBody().toString());
      assertEquals(0, runs.get(), "a follower never runs the handler");
    }
  }
}
