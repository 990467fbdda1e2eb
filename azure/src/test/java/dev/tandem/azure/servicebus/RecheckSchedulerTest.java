package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
}
