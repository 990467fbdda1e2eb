package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.messaging.servicebus.ServiceBusClientBuilder;
import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.PublishResult;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Against two real Service Bus namespaces, when {@code TANDEM_SERVICEBUS_A}, {@code
 * TANDEM_SERVICEBUS_B} (connection strings) and {@code TANDEM_SERVICEBUS_QUEUE} (a queue without
 * sessions that exists in both) are set; skipped otherwise (no emulator runs on the build machine).
 */
class TandemServiceBusLiveTest {

  static String connectionA;
  static String connectionB;
  static String queue;

  @TempDir Path spool;

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
        .region(RegionId.of("region-a"), client(connectionA).sender().queueName(queue).buildClient())
        .region(RegionId.of("region-b"), client(connectionB).sender().queueName(queue).buildClient())
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
}
