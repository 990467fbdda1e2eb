package dev.tandem.spring.kafka;

import java.util.Collection;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.common.TopicPartition;
import org.springframework.kafka.listener.ConsumerAwareRebalanceListener;

/**
 * The rebalance listener of a Tandem listener container: tells {@link TandemListenerSupport} which
 * partitions its container gave up (revoked or lost), so their held records stop counting as held
 * here — as {@code TandemKafkaConsumer}'s hold forgets a revoked partition. Without it the shard's
 * hold time kept growing for a record this application no longer reads, and the ticker weighs that
 * time for a takeover of the owner's shard. The application's own rebalance listener (if any) is
 * called first, unchanged; the partitions are given up even if it throws (its exception then
 * propagates to Spring as before). Not API.
 */
final class TandemRebalanceListener implements ConsumerAwareRebalanceListener {

  private final TandemListenerSupport support;
  /** The application's listener, or null. */
  private final ConsumerRebalanceListener delegate;

  TandemRebalanceListener(TandemListenerSupport support, ConsumerRebalanceListener delegate) {
    this.support = support;
    this.delegate = delegate;
  }

  @Override
  public void onPartitionsRevokedBeforeCommit(Consumer<?, ?> consumer,
      Collection<TopicPartition> partitions) {
    if (delegate instanceof ConsumerAwareRebalanceListener d) {
      d.onPartitionsRevokedBeforeCommit(consumer, partitions);
    } else if (delegate != null) {
      delegate.onPartitionsRevoked(partitions);
    }
  }

  @Override
  public void onPartitionsRevokedAfterCommit(Consumer<?, ?> consumer,
      Collection<TopicPartition> partitions) {
    try {
      if (delegate instanceof ConsumerAwareRebalanceListener d) {
        d.onPartitionsRevokedAfterCommit(consumer, partitions);
      }
    } finally {
      support.givenUp(partitions); // even if the application's listener throws
    }
  }

  @Override
  public void onPartitionsLost(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
    try {
      if (delegate instanceof ConsumerAwareRebalanceListener d) {
        d.onPartitionsLost(consumer, partitions);
      } else if (delegate != null) {
        delegate.onPartitionsLost(partitions);
      }
    } finally {
      support.givenUp(partitions); // even if the application's listener throws
    }
  }

  @Override
  public void onPartitionsAssigned(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
    if (delegate instanceof ConsumerAwareRebalanceListener d) {
      d.onPartitionsAssigned(consumer, partitions);
    } else if (delegate != null) {
      delegate.onPartitionsAssigned(partitions);
    }
  }
}
