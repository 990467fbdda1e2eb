package dev.tandem.spring.kafka;

import static org.mockito.Mockito.inOrder;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;

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
