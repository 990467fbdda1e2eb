package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, defect 3: a rebalance inside one region while that region's own changelog lane does not
 * acknowledge. Two instances of region A process a stream (sharded replication log: each restores the
 * shards Kafka assigns it); their changelog copies into region A are held (not acknowledged), so
 * their claims and completions are not in the changelog; a third instance joins, the partitions move,
 * then the copies are released. The instances that receive a partition must not run again what the
 * previous holder ran: zero duplicates, zero lost.
 */
@TandemClusters
class RebalanceHandoffTest {

  static TwoRegions regions;

  private static CompletableFuture<Void> stream(TandemKafkaProducer<String, byte[]> producer,
      String topic, int from, int to, History history) {
    return CompletableFuture.runAsync(() -> {
      try {
        for (int i = from; i < to; i += 10) {
          Publishing.publish(producer, topic, "rb", i, Math.min(to, i + 10), history);
          Thread.sleep(50); // a steady stream, not a burst (pacing, not synchronisation)
        }
      } catch (Exception e) {
        throw new CompletionException(e);
      }
    });
  }

  @Test
  void partitionsMovingWhileTheOwnChangelogLaneIsHeldRunNothingTwice(@TempDir Path dir)
      throws Exception {
    String topic = Topics.fresh("orders-rebalance");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    int total = 600;
    List<HeldSink> lanes = new ArrayList<>();
    java.util.function.Function<String, RegionNode> node = name -> new RegionNode(regions,
        RegionNode.A, name, dir, topic, "rb", history, o -> {
          o.ownership = false; // one region: every shard is processed here under epoch 0
          o.allShards = false; // each instance restores the shards Kafka assigns it
          o.commitTimeout = Duration.ofSeconds(3);
          o.revokeTimeout = Duration.ofSeconds(3);
          o.ownChangelogSink = sink -> {
            HeldSink h = new HeldSink(sink);
            synchronized (lanes) {
              lanes.add(h);
            }
            return h;
          };
        });
    try (RegionNode a1 = node.apply("a1");
        RegionNode a2 = node.apply("a2");
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      a1.start();
      a2.start();
      long began = System.nanoTime();
      CompletableFuture<Void> first = stream(producer, topic, 0, total / 2, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 100);
      int fault = history.beginFault("region-a changelog acks held, a3 joins");
      lanes.forEach(HeldSink::hold);
      // the batches running at the hold complete into the held lane; the next batches' claims wait
      // in it too (handlers run only once their claims are durable): unacknowledged changes pile up
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        synchronized (lanes) {
          return lanes.stream().mapToInt(HeldSink::heldCopies).sum() >= 20;
        }
      });
      try (RegionNode a3 = node.apply("a3")) {
        a3.start();
        // the partitions move to a3 and between a1/a2 while the lane is held
        await().atMost(Duration.ofSeconds(30)).until(() -> !a3.log.shards().isEmpty());
        // the rest of the stream arrives while the lane is still held
        first.get();
        Publishing.publish(producer, topic, "rb", total / 2, total, history);
        int atJoin = history.distinctHandled();
        try {
          await().atMost(Duration.ofSeconds(8)).until(() -> history.distinctHandled() >= atJoin + 40);
        } catch (ConditionTimeoutException e) {
          // the receivers may rightly wait for the held state; released below either way
        }
        lanes.forEach(HeldSink::release);
        try {
          await().atMost(Duration.ofSeconds(40)).until(() -> history.distinctHandled() == total);
        } catch (ConditionTimeoutException e) {
          // reported below with the ids that never ran
        }
        history.endFault(fault);
        History.Report report = history.check(0);
        java.util.Map<String, Long> byInstance = new java.util.TreeMap<>();
        history.runsAfter(began).forEach(r -> byInstance.merge(r.instance(), 1L, Long::sum));
        System.out.printf("rebalance with held lane: %s runs by instance %s, a3 shards %s%n", report,
            byInstance, a3.log.shards());
        assertEquals(0, report.lost().size(), "lost: " + report.lost());
        assertEquals(0, report.duplicates(), "duplicates: " + report);
        assertTrue(byInstance.getOrDefault("a3", 0L) > 0, "a3 received partitions and processed");
        // the case under test happened: partitions were given up with unacknowledged changes, and
        // no receiver gave up waiting for their markers
        double given = 0;
        double expired = 0;
        for (RegionNode n : List.of(a1, a2, a3)) {
          given += n.meters.find("tandem.consumer.handoffs").tag("side", "given").counters().stream()
              .mapToDouble(c -> c.count()).sum();
          expired += n.meters.find("tandem.consumer.handoffs").tag("side", "expired").counters()
              .stream().mapToDouble(c -> c.count()).sum();
        }
        assertTrue(given > 0, "partitions were handed off unflushed");
        assertEquals(0.0, expired, "every hand-off marker arrived");
      }
    }
  }
}
