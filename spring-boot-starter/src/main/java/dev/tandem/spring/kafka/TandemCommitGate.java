package dev.tandem.spring.kafka;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.TopicPartition;
import org.springframework.kafka.core.ConsumerPostProcessor;

/**
 * The barrier-gated commit of {@code TandemKafkaConsumer} for Spring's containers: a consumer
 * post-processor whose consumers, before any {@code commitSync} / {@code commitAsync}, wait until
 * this region's changelog has acknowledged every change made so far in the shards (partitions)
 * being committed. Whatever commits — the container after a record or a batch, on a revoke, or the
 * error handler before it seeks — no offset passes a completion that is not durable yet. A commit
 * whose wait fails (the own changelog does not answer within {@code tandem.commit.timeout.ms})
 * throws instead of committing; the next commit covers its offsets.
 */
final class TandemCommitGate<K, V> implements ConsumerPostProcessor<K, V> {

  private final TandemListenerSupport support;
  private final java.util.function.Consumer<Set<Integer>> awaitDurable;

  TandemCommitGate(TandemListenerSupport support) {
    this(support, support::awaitDurable);
  }

  /** For tests: {@code awaitDurable} stands for {@link TandemListenerSupport#awaitDurable}. */
  TandemCommitGate(TandemListenerSupport support,
      java.util.function.Consumer<Set<Integer>> awaitDurable) {
    this.support = support;
    this.awaitDurable = awaitDurable;
  }

  TandemListenerSupport support() {
    return support;
  }

  @Override
  @SuppressWarnings("unchecked")
  public Consumer<K, V> apply(Consumer<K, V> consumer) {
    return (Consumer<K, V>) Proxy.newProxyInstance(Consumer.class.getClassLoader(),
        new Class<?>[] {Consumer.class}, (proxy, method, args) -> {
          // commitSync / commitAsync only: committed(...) reads the group's offsets (Spring calls
          // it on assignment) and must not wait for, or fail on, the changelog
          String name = method.getName();
          if (name.equals("commitSync") || name.equals("commitAsync")) {
            Set<Integer> shards = new TreeSet<>();
            if (args != null && args.length > 0 && args[0] instanceof Map<?, ?> offsets) {
              for (Object tp : offsets.keySet()) {
                shards.add(((TopicPartition) tp).partition());
              }
            } else {
              addAll(shards, consumer.assignment()); // commits every consumed position
            }
            awaitDurable.accept(shards);
          }
          try {
            return method.invoke(consumer, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  private static void addAll(Set<Integer> shards, Collection<TopicPartition> tps) {
    for (TopicPartition tp : tps) {
      shards.add(tp.partition());
    }
  }
}
