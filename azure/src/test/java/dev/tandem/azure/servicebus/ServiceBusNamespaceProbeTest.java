package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * The namespace probe through the SDK clients (mocked at the cloud boundary): an answer, the SDK's
 * error, and a request that hangs (the SDK retries up to its tryTimeout) bounded by the round's
 * timeout without stacking a second request behind it.
 */
class ServiceBusNamespaceProbeTest {

  @Test
  void theSenderProbeAsksForABatchAndReportsTheSdksError() {
    FakeNamespace ns = new FakeNamespace("orders", 10, 1024, 1);
    ServiceBusNamespaceProbe p = ServiceBusNamespaceProbe.of(ns.syncClient());
    assertEquals("servicebus:fake.servicebus.windows.net/orders", p.name());
    assertTrue(p.answers(Duration.ofSeconds(5)));
    ns.down.set(true);
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> p.answers(Duration.ofSeconds(5)));
    assertTrue(e.getMessage().contains("unreachable"), e.getMessage());
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
