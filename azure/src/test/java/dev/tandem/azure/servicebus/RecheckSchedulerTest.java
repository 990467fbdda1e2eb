package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mockito.ArgumentCaptor;

/** The recheck copy both wrappers share, from the SDK's real message types (sender mocked). */
class RecheckSchedulerTest {

  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final ServiceBusSenderClient sender = mock(ServiceBusSenderClient.class);
  final RecheckScheduler recheck =
      RecheckScheduler.create(sender, Duration.ofSeconds(3), meters, "test");

  @Test
  void aReceivedCopyOfACopyGetsTheNextRoundAndANewMessageIdAndKeepsTheRest() {
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenReturn(5L);
    String id = TandemIds.newId();
    String previousCopyId = TandemIds.newId();
    ServiceBusReceivedMessage received = ReceivedMessages.of(
        "order".getBytes(StandardCharsets.UTF_8), previousCopyId, "s-1",
        Map.of(TandemHeaders.ID, id, RecheckScheduler.RECHECK_PROPERTY, 4L), 1);

    assertEquals(5L, recheck.schedule(received));

    ArgumentCaptor<ServiceBusMessage> copy = ArgumentCaptor.forClass(ServiceBusMessage.class);
    verify(sender).scheduleMessage(copy.capture(), any(OffsetDateTime.class));
    ServiceBusMessage c = copy.getValue();
    assertNotEquals(previousCopyId, c.getMessageId());
    assertNotEquals(id, c.getMessageId());
    assertEquals(id, c.getApplicationProperties().get(TandemHeaders.ID));
    assertEquals(5, c.getApplicationProperties().get(RecheckScheduler.RECHECK_PROPERTY));
    assertEquals("s-1", c.getSessionId());
    assertEquals(5.0, meters.get("tandem.servicebus.recheck.round").summary().max());
    assertEquals(1.0, meters.get("tandem.servicebus.rechecks").tag("outcome", "scheduled")
        .counter().count());
  }

  @Test
  void partsWithoutATandemIdAreNeverParked() {
    IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
        () -> recheck.schedule(new byte[0], Map.of("customer", "c-7"), null, null, null, null));
    assertEquals(true, thrown.getMessage().contains(TandemHeaders.ID));
    verify(sender, never()).scheduleMessage(any(ServiceBusMessage.class),
        any(OffsetDateTime.class));
  }

  @Test
  void theRoundIsReadFromAnyNumberOrTextAndUnreadableCountsAsZero() {
    assertEquals(0, RecheckScheduler.round(null));
    assertEquals(2, RecheckScheduler.round(2));
    assertEquals(2, RecheckScheduler.round(2.0d));
    assertEquals(3, RecheckScheduler.round(" 3 "));
    assertEquals(0, RecheckScheduler.round("many"));
    assertEquals(0, RecheckScheduler.round(-4));
  }

  @Test
  void aCopyCarriesTheEarliestOriginAndWhatRemainsOfTheOriginalsTimeToLive() {
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenReturn(9L);
    FakeServiceBus namespace = new FakeServiceBus();
    FakeServiceBus.Entity queue = namespace.queue("orders", 10, Duration.ofSeconds(30));
    String id = TandemIds.newId();
    long publishedAt = System.currentTimeMillis() - 60_000; // published a minute before its enqueue
    ServiceBusMessage original = new ServiceBusMessage("order")
        .setMessageId(id).setTimeToLive(Duration.ofMinutes(10));
    original.getApplicationProperties().put(TandemHeaders.ID, id);
    original.getApplicationProperties().put(TandemHeaders.PUBLISHED_AT, String.valueOf(publishedAt));
    namespace.sender("orders").sendMessage(original);
    ServiceBusReceivedMessage received = queue.receive().orElseThrow().message();

    recheck.schedule(received, Duration.ofSeconds(3), "orders");

    ArgumentCaptor<ServiceBusMessage> copy = ArgumentCaptor.forClass(ServiceBusMessage.class);
    ArgumentCaptor<OffsetDateTime> at = ArgumentCaptor.forClass(OffsetDateTime.class);
    verify(sender).scheduleMessage(copy.capture(), at.capture());
    assertEquals(publishedAt, copy.getValue().getApplicationProperties()
        .get(RecheckScheduler.ORIGIN_PROPERTY), "the earlier of publish and enqueue");
    Duration ttl = copy.getValue().getTimeToLive();
    Duration expected = Duration.between(at.getValue(), received.getExpiresAt());
    assertEquals(expected, ttl, "the copy expires when the original would have");
    assertTrue(ttl.compareTo(Duration.ofMinutes(10)) < 0, "not restarted: " + ttl);
  }

  @Test
  void aCopyOfASubscriptionsMessageIsNeverSentToItsTopic() {
    when(sender.getEntityPath()).thenReturn("orders");
    ServiceBusReceivedMessage received = ReceivedMessages.of(new byte[0], TandemIds.newId(), null,
        Map.of(TandemHeaders.ID, TandemIds.newId()), 1);

    assertThrows(RecheckScheduler.Misrouted.class,
        () -> recheck.schedule(received, Duration.ZERO, "orders/subscriptions/billing"));
    assertThrows(RecheckScheduler.Misrouted.class,
        () -> recheck.schedule(received, Duration.ZERO, "ORDERS/Subscriptions/billing"));
    verify(sender, never()).scheduleMessage(any(ServiceBusMessage.class),
        any(OffsetDateTime.class));
    assertEquals(2.0, meters.get("tandem.servicebus.rechecks").tag("outcome", "misrouted")
        .counter().count());
  }

  @Test
  void aCopyOfAMessageWithoutItsOwnTimeToLiveIsSentWithoutOne() {
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenReturn(3L);
    FakeServiceBus namespace = new FakeServiceBus();
    FakeServiceBus.Entity queue = namespace.queue("orders", 10, Duration.ofSeconds(30));
    String id = TandemIds.newId();
    ServiceBusMessage original = new ServiceBusMessage("order").setMessageId(id);
    original.getApplicationProperties().put(TandemHeaders.ID, id);
    namespace.sender("orders").sendMessage(original);

    recheck.schedule(queue.receive().orElseThrow().message());

    ArgumentCaptor<ServiceBusMessage> copy = ArgumentCaptor.forClass(ServiceBusMessage.class);
    verify(sender).scheduleMessage(copy.capture(), any(OffsetDateTime.class));
    assertEquals(null, copy.getValue().getTimeToLive(), "the entity's default applies");
  }

  @Test
  void aTriggersExpiryOfYear9999IsSentWithoutATimeToLiveNotRefusedByTheWire() {
    // Functions binds ExpiresAtUtc for every message; one without its own TTL carries the entity
    // default, TimeSpan.MaxValue: "9999-12-31T23:59:59.9999999". proton-j's Message.setTtl refuses
    // more than 2^32-1 ms (an AMQP uint), so such a copy must go without a TTL of its own.
    FakeServiceBus namespace = new FakeServiceBus();
    FakeServiceBus.Entity queue = namespace.queue("orders", 10, Duration.ofSeconds(30));
    RecheckScheduler viaWire = RecheckScheduler.create(namespace.sender("orders"),
        Duration.ofSeconds(3), meters, "test");
    String id = TandemIds.newId();
    OffsetDateTime never = java.time.LocalDateTime.parse("9999-12-31T23:59:59.9999999")
        .atOffset(java.time.ZoneOffset.UTC);
    OffsetDateTime in60Days = OffsetDateTime.now(java.time.ZoneOffset.UTC).plusDays(60);

    viaWire.schedule(new byte[0], Map.of(TandemHeaders.ID, id), null, null, null, null,
        Duration.ZERO, null, never);
    viaWire.schedule(new byte[0], Map.of(TandemHeaders.ID, id), null, null, null, null,
        Duration.ZERO, null, in60Days);

    assertEquals(2, queue.size(), "both copies on the broker: " + queue.propertiesInEntity());
    assertEquals(2.0, meters.get("tandem.servicebus.rechecks").tag("outcome", "scheduled")
        .counter().count());
  }
}
