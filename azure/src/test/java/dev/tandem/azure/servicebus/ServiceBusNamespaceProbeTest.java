package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import com.azure.core.amqp.exception.AmqpErrorCondition;
import com.azure.core.amqp.exception.AmqpException;
import com.azure.messaging.servicebus.ServiceBusErrorSource;
import com.azure.messaging.servicebus.ServiceBusException;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * The namespace probe through the SDK clients (mocked at the cloud boundary): an answer, the SDK's
 * error, and a request that hangs (the SDK retries up to its tryTimeout) bounded by the round's
 * timeout without stacking a second request behind it.
 */
class ServiceBusNamespaceProbeTest {

  /**
   * The SDK's sender builds a batch from the open send link's cached size (ReactorSender.getLinkSize
   * returns it once the link is active): no request reaches the namespace, so a namespace that is
   * down answers as long as the link stays open. Only once the SDK has closed the link does the
   * next batch try to open it again, and that fails. The probe says it is no round trip.
   */
  @Test
  void theSenderProbeAnswersFromItsOpenLinkAndNoticesAnOutageOnlyOnceTheLinkDrops() {
    AtomicBoolean namespaceDown = new AtomicBoolean();
    AtomicBoolean linkOpen = new AtomicBoolean(true);
    ServiceBusSenderClient sender = mock(ServiceBusSenderClient.class);
    when(sender.getFullyQualifiedNamespace()).thenReturn("ns-a.servicebus.windows.net");
    when(sender.getEntityPath()).thenReturn("orders");
    when(sender.createMessageBatch()).thenAnswer(i -> {
      if (!linkOpen.get() && namespaceDown.get()) { // opening the link needs the namespace
        throw new ServiceBusException(new AmqpException(true,
            AmqpErrorCondition.SERVER_BUSY_ERROR, "namespace unreachable", null),
            ServiceBusErrorSource.SEND);
      }
      linkOpen.set(true);
      return null; // the batch is built from the cached link size: nothing sent
    });
    ServiceBusNamespaceProbe p = ServiceBusNamespaceProbe.of(sender);
    assertEquals("servicebus:ns-a.servicebus.windows.net/orders", p.name());
    assertFalse(p.roundTrip());
    assertTrue(p.answers(Duration.ofSeconds(5)));
    namespaceDown.set(true);
    assertTrue(p.answers(Duration.ofSeconds(5)), "the link is still open: no request, an answer");
    linkOpen.set(false); // the SDK closed the link (e.g. the connection's idle timeout)
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> p.answers(Duration.ofSeconds(5)));
    assertTrue(e.getMessage().contains("unreachable"), e.getMessage());
  }

  /** The receiver's peek is a request: a down namespace gives no answer within the timeout. */
  @Test
  void theReceiverProbeIsARoundTripThatADownNamespaceDoesNotAnswer() {
    FakeNamespace ns = new FakeNamespace("orders", 10, 1024, 1);
    ServiceBusNamespaceProbe p = ServiceBusNamespaceProbe.of(ns.receiverClient());
    assertEquals("servicebus:fake.servicebus.windows.net/orders", p.name());
    assertTrue(p.roundTrip());
    assertTrue(p.answers(Duration.ofSeconds(5)));
    ns.down.set(true);
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> p.answers(Duration.ofMillis(200)));
    assertTrue(e.getMessage().contains("no answer within"), e.getMessage());
    ns.down.set(false);
    Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> {
      try {
        return p.answers(Duration.ofSeconds(5));
      } catch (IllegalStateException previousStillRunning) {
        return false;
      }
    });
  }

  @Test
  void aHangingPeekIsBoundedByTheTimeoutAndNotStacked() {
    ServiceBusReceiverClient receiver = mock(ServiceBusReceiverClient.class);
    when(receiver.getFullyQualifiedNamespace()).thenReturn("ns-a.servicebus.windows.net");
    when(receiver.getEntityPath()).thenReturn("orders");
    CountDownLatch release = new CountDownLatch(1);
    when(receiver.peekMessage()).thenAnswer(i -> {
      release.await(30, TimeUnit.SECONDS);
      return null;
    });
    ServiceBusNamespaceProbe p = ServiceBusNamespaceProbe.of(receiver);
    assertEquals("servicebus:ns-a.servicebus.windows.net/orders", p.name());
    long t0 = System.nanoTime();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> p.answers(Duration.ofMillis(200)));
    assertTrue(e.getMessage().contains("no answer within"), e.getMessage());
    assertTrue(Duration.ofNanos(System.nanoTime() - t0).compareTo(Duration.ofSeconds(5)) < 0,
        "bounded by the timeout, not the SDK's tryTimeout");
    e = assertThrows(IllegalStateException.class, () -> p.answers(Duration.ofMillis(200)));
    assertTrue(e.getMessage().contains("has not returned"), e.getMessage());
    verify(receiver, times(1)).peekMessage();
    release.countDown();
    Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> {
      try {
        return p.answers(Duration.ofSeconds(5));
      } catch (IllegalStateException stillRunning) {
        return false;
      }
    });
  }
}
