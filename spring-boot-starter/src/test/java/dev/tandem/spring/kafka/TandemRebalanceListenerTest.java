package dev.tandem.spring.kafka;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.mockito.Mockito.doThrow;
import static org.mockito.Mockito.inOrder;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.verifyNoMoreInteractions;

import java.util.List;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.springframework.kafka.listener.ConsumerAwareRebalanceListener;

/** {@link TandemRebalanceListener}: the application's listener still called, then the support told. */
class TandemRebalanceListenerTest {

  private final TandemListenerSupport support = mock(TandemListenerSupport.class);
  private final Consumer<?, ?> consumer = mock(Consumer.class);
  private final List<TopicPartition> parts = List.of(new TopicPartition("t", 3));

  @Test
  void aPlainApplicationListenerIsCalledAndTheGivenUpPartitionsReachTheSupport() {
    ConsumerRebalanceListener app = mock(ConsumerRebalanceListener.class);
    TandemRebalanceListener l = new TandemRebalanceListener(support, app);
    l.onPartitionsAssigned(consumer, parts);
    verify(app).onPartitionsAssigned(parts);
    l.onPartitionsRevokedBeforeCommit(consumer, parts);
    verify(app).onPartitionsRevoked(parts);
    verify(support, never()).givenUp(parts); // still this container's until its commit is done
    l.onPartitionsRevokedAfterCommit(consumer, parts);
    verify(support).givenUp(parts);
    l.onPartitionsLost(consumer, parts);
    verify(app).onPartitionsLost(parts);
    // after-commit has no plain counterpart: the plain listener got nothing more (review s9-r R6)
    verifyNoMoreInteractions(app);
  }

  @Test
  void aConsumerAwareApplicationListenerGetsItsOwnOnPartitionsLostFirst() {
    ConsumerAwareRebalanceListener app = mock(ConsumerAwareRebalanceListener.class);
    TandemRebalanceListener l = new TandemRebalanceListener(support, app);
    l.onPartitionsLost(consumer, parts);
    var order = inOrder(app, support);
    order.verify(app).onPartitionsLost(consumer, parts);
    order.verify(support).givenUp(parts);
    verify(app, never()).onPartitionsLost(parts); // not also the plain variant
  }

  @Test
  void aThrowingApplicationListenerStillLetsThePartitionsBeGivenUp() {
    // review s9-r R4: the support is told in a finally, so the held records stop counting
    ConsumerAwareRebalanceListener aware = mock(ConsumerAwareRebalanceListener.class);
    RuntimeException boom = new IllegalStateException("application listener failed");
    doThrow(boom).when(aware).onPartitionsRevokedAfterCommit(consumer, parts);
    doThrow(boom).when(aware).onPartitionsLost(consumer, parts);
    TandemRebalanceListener l = new TandemRebalanceListener(support, aware);
    assertThrows(IllegalStateException.class, () -> l.onPartitionsRevokedAfterCommit(consumer, parts));
    verify(support).givenUp(parts);
    assertThrows(IllegalStateException.class, () -> l.onPartitionsLost(consumer, parts));
    verify(support, org.mockito.Mockito.times(2)).givenUp(parts);

    ConsumerRebalanceListener plain = mock(ConsumerRebalanceListener.class);
    doThrow(boom).when(plain).onPartitionsLost(parts);
    TandemListenerSupport support2 = mock(TandemListenerSupport.class);
    TandemRebalanceListener l2 = new TandemRebalanceListener(support2, plain);
    assertThrows(IllegalStateException.class, () -> l2.onPartitionsLost(consumer, parts));
    verify(support2).givenUp(parts);
  }

  @Test
  void aConsumerAwareApplicationListenerGetsItsOwnCallbacksFirst() {
    ConsumerAwareRebalanceListener app = mock(ConsumerAwareRebalanceListener.class);
    TandemRebalanceListener l = new TandemRebalanceListener(support, app);
    l.onPartitionsRevokedBeforeCommit(consumer, parts);
    verify(app).onPartitionsRevokedBeforeCommit(consumer, parts);
    l.onPartitionsRevokedAfterCommit(consumer, parts);
    var order = inOrder(app, support);
    order.verify(app).onPartitionsRevokedAfterCommit(consumer, parts);
    order.verify(support).givenUp(parts);
    l.onPartitionsAssigned(consumer, parts);
    verify(app).onPartitionsAssigned(consumer, parts);
  }

  @Test
  void withoutAnApplicationListenerOnlyTheSupportIsTold() {
    TandemRebalanceListener l = new TandemRebalanceListener(support, null);
    l.onPartitionsRevokedBeforeCommit(consumer, parts);
    l.onPartitionsAssigned(consumer, parts);
    l.onPartitionsLost(consumer, parts);
    verify(support).givenUp(parts);
  }
}
