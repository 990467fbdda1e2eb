package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.HandoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Planned handover on two real KRaft clusters during a steady stream: region A hands its shards 0
 * and 2 to region B (drain, barrier, epoch + 1), then B hands them back (failback). Nothing is lost,
 * nothing runs twice, and each new owner really processes the shards under the new epoch.
 */
@TandemClusters
class PlannedHandoverTest {

  static TwoRegions regions;

  private static CompletableFuture<Void> stream(TandemKafkaProducer<String, byte[]> producer,
      String topic, int from, int to, History history) {
    return CompletableFuture.runAsync(() -> {
      try {
        for (int i = from; i < to; i += 20) {
          Publishing.publish(producer, topic, "ho", i, Math.min(to, i + 20), history);
        }
      } catch (Exception e) {
        throw new CompletionException(e);
      }
    });
  }

  private static long runsAt(History history, int upTo, String region, long epoch) {
    long n = 0;
    for (int i = 0; i < upTo; i++) {
      n += history.runsOf("ho-" + i).stream()
          .filter(r -> r.region().equals(region) && r.epoch() == epoch).count();
    }
    return n;
  }

  private static void handOverBoth(RegionNode from, RegionId to, long expectedEpoch) {
    for (int shard : new int[] {0, 2}) {
      HandoverReport r = from.ownership.handOver(shard, to, Duration.ofSeconds(20));
      System.out.println("handover: " + r);
      assertTrue(r.moved(), r.toString());
      assertEquals(expectedEpoch, r.newEpoch(), r.toString());
      assertTrue(!from.ownership.owns(shard), "the old owner gave the shard up at once");
    }
  }

  @Test
  void handOverAndFailBackDuringAStreamWithoutDuplicatesOrLoss(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-handover");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    int total = 1400;
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "ho", history, o -> { });
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "ho", history, o -> { });
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      Publishing.publish(producer, topic, "ho", 0, 200, history);
      a.start();
      b.start();
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 100);
      assertTrue(a.ownership.owns(0) && a.ownership.owns(2), "A owns shards 0 and 2 initially");

      // A -> B while messages keep arriving
      CompletableFuture<Void> first = stream(producer, topic, 200, 800, history);
      await().atMost(Duration.ofSeconds(30)).until(() -> history.distinctHandled() >= 250);
      long t0 = System.nanoTime();
      handOverBoth(a, RegionNode.B, 1);
      await().atMost(Duration.ofSeconds(30)).until(() -> b.ownership.owns(0) && b.ownership.owns(2));
      long moveMillis = (System.nanoTime() - t0) / 1_000_000;
      first.get();
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 800);
      long bAtEpoch1 = runsAt(history, 800, "region-b", 1);
      assertTrue(bAtEpoch1 > 0, "B processed A's former shards under epoch 1");

      // failback B -> A, again mid-stream
      CompletableFuture<Void> second = stream(producer, topic, 800, total, history);
      await().atMost(Duration.ofSeconds(30)).until(() -> history.distinctHandled() >= 850);
      long t1 = System.nanoTime();
      handOverBoth(b, RegionNode.A, 2);
      await().atMost(Duration.ofSeconds(30)).until(() -> a.ownership.owns(0) && a.ownership.owns(2));
      long backMillis = (System.nanoTime() - t1) / 1_000_000;
      second.get();
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == total);
      long aAtEpoch2 = runsAt(history, total, "region-a", 2);
      assertTrue(aAtEpoch2 > 0, "A processed its shards again under epoch 2");

      History.Report report = history.check(Duration.ofSeconds(5).toNanos());
      System.out.printf("planned handover: messages=%d duplicates=%d lost=%d handover=%dms "
          + "failback=%dms B@epoch1=%d A@epoch2=%d %s%n", total, report.duplicates(),
          report.lost().size(), moveMillis, backMillis, bAtEpoch1, aAtEpoch2, report);
      assertEquals(0, report.lost().size(), report.toString());
      assertEquals(0, report.duplicates(), report.toString());
      assertEquals(0, b.ownership.reports().size() + a.ownership.reports().size(),
          "no takeover: only planned handovers moved the shards");
      assertEquals(2.0, a.meters.find("tandem.consumer.handovers").tag("outcome", "moved")
          .counter().count());
    }
  }
}
