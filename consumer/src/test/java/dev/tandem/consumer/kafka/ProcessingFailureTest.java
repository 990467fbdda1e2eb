package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreException;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, defect 4: a failure while processing records (here the store's {@code claimAll} throws
 * once) must leave them uncommitted and redelivered. The failure hits region B right after it took
 * region A's shards over, while it processes the records it held as a follower: A's consumers are
 * stopped, so nobody else would ever process them.
 */
@TandemClusters
class ProcessingFailureTest {

  static TwoRegions regions;

  /** Delegates to {@code store}; the first {@code claimAll} touching {@code shards} throws. */
  static IdempotencyStore failingOnceOn(IdempotencyStore store, Set<Integer> shards,
      AtomicInteger thrown) {
    return (IdempotencyStore) Proxy.newProxyInstance(IdempotencyStore.class.getClassLoader(),
        new Class<?>[] {IdempotencyStore.class}, (proxy, m, args) -> {
          if (m.getName().equals("claimAll") && thrown.get() == 0) {
            @SuppressWarnings("unchecked")
            List<ClaimRequest> reqs = (List<ClaimRequest>) args[0];
            if (reqs.stream().anyMatch(r -> shards.contains(r.shard()))
                && thrown.compareAndSet(0, 1)) {
              throw new StoreException("injected: claimAll failed once");
            }
          }
          try {
            return m.invoke(store, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  @Test
  void aClaimFailureAfterTakeoverLosesNoHeldRecord(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-fail");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    AtomicInteger thrown = new AtomicInteger();
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "pf", history, o -> {
          o.leaseTimeout = Duration.ofSeconds(2);
          o.margin = Duration.ofSeconds(1);
        });
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "pf", history, o -> {
          o.leaseTimeout = Duration.ofSeconds(2);
          o.margin = Duration.ofSeconds(1);
          // region A owns shards 0 and 2: B claims in them only after its takeover
          o.consumerStore = s -> failingOnceOn(s, Set.of(0, 2), thrown);
        });
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      a.start();
      b.start();
      Publishing.publish(producer, topic, "pf", 0, 100, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 100);
      assertTrue(a.ownership.owns(0) && a.ownership.owns(2), "A owns shards 0 and 2");
      a.stopConsuming();
      int fault = history.beginFault("region-a consumers stopped");
      // B holds these copies of A's shards as a follower until it takes the shards over
      Publishing.publish(producer, topic, "pf", 100, 300, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> b.ownership.reports().size() == 2);
      try {
        await().atMost(Duration.ofSeconds(40)).until(() -> history.distinctHandled() == 300);
      } catch (ConditionTimeoutException e) {
        // reported below with the ids that never ran
      }
      history.endFault(fault);
      History.Report report = history.check(Duration.ofSeconds(5).toNanos());
      System.out.println("processing failure after takeover: " + report + " failures="
          + b.counter("tandem.consumer.processing.failures"));
      assertEquals(1, thrown.get(), "the injected claimAll failure happened");
      assertEquals(0, report.lost().size(), "lost: " + report.lost());
      assertEquals(1.0, b.meters.find("tandem.consumer.processing.failures").tag("reason", "store")
          .counter().count(), "the failure is counted");
    }
  }
}
