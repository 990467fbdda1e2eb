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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Automatic failback on two real clusters: region A's consumers stop, region B takes A's shards over
 * (AUTOMATIC), and does NOT hand them back while A's consumers are down (A's replica stays up, but its
 * heartbeats stop with its poll loop). A new instance of region A starts; once it has been healthy for
 * {@code failbackAfter}, B hands the shards back with a planned handover during a steady stream:
 * the failback itself adds no duplicate and loses nothing.
 */
@TandemClusters
class FailbackTest {

  static final Duration FAILBACK_AFTER = Duration.ofSeconds(4);

  static TwoRegions regions;

  private static double failbacks(RegionNode n, String outcome) {
    return n.meters.find("tandem.consumer.failbacks").tag("outcome", outcome).counters().stream()
        .mapToDouble(c -> c.count()).sum();
  }

  @Test
  void aRecoveredRegionGetsItsShardsBackAutomaticallyWithoutDuplicates(@TempDir Path dir)
      throws Exception {
    String topic = Topics.fresh("orders-failback");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    java.util.function.Consumer<RegionNode.Options> opts = o -> {
      o.leaseTimeout = Duration.ofSeconds(2);
      o.margin = Duration.ofSeconds(1);
      o.window = 20;
      o.failbackAfter = FAILBACK_AFTER;
    };
    try (RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "fb", history, opts);
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      RegionNode a1 = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "fb", history, opts);
      RegionNode a2 = null;
      try {
        Publishing.publish(producer, topic, "fb", 0, 200, history);
        a1.start();
        b.start();
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 200);

        int crash = history.beginFault("region-a consumers stopped");
        a1.stopConsuming();
        await().atMost(Duration.ofSeconds(60)).until(() -> b.ownership.owns(0) && b.ownership.owns(2));
        Publishing.publish(producer, topic, "fb", 200, 400, history);
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 400);
        System.out.println("failback: A's replica heartbeats as seen by B after the takeover: "
            + b.log.lag(RegionNode.A));
        // A's process is up (its replica, its broker) but its consumers are not: no failback
        await().during(FAILBACK_AFTER.plusSeconds(3)).atMost(FAILBACK_AFTER.plusSeconds(10))
            .until(() -> b.ownership.owns(0) && b.ownership.owns(2)
                && failbacks(b, "moved") + failbacks(b, "aborted") == 0);
        history.endFault(crash);

        // region A comes back as a new instance (new local store, restored from the changelog)
        RegionNode back = new RegionNode(regions, RegionNode.A, "a2", dir, topic, "fb", history, opts);
        a2 = back;
        int failback = history.beginFault("failback (must add no duplicate)");
        // a steady stream, paced by its own processing, until A got both shards back and then some
        java.util.concurrent.atomic.AtomicInteger published = new java.util.concurrent.atomic.AtomicInteger(400);
        CompletableFuture<Void> stream = CompletableFuture.runAsync(() -> {
          try {
            int after = 0;
            while (after < 10) {
              int from = published.get();
              Publishing.publish(producer, topic, "fb", from, from + 20, history);
              published.addAndGet(20);
              await().atMost(Duration.ofSeconds(60))
                  .until(() -> history.distinctHandled() >= published.get());
              if (back.ownership.owns(0) && back.ownership.owns(2)) {
                after++;
              }
            }
          } catch (Exception e) {
            throw new CompletionException(e);
          }
        });
        back.start();
        await().atMost(Duration.ofSeconds(90)).until(() -> back.ownership.owns(0)
            && back.ownership.owns(2) && back.ownership.epoch(0) == 2 && back.ownership.epoch(2) == 2);
        stream.get(120, java.util.concurrent.TimeUnit.SECONDS);
        int total = published.get();
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == total);
        history.endFault(failback);

        History.Report report = history.check(Duration.ofSeconds(5).toNanos());
        long bound = b.ownership.reports().stream().mapToLong(t -> t.bound().orElseThrow()).sum();
        long afterCrash = 0;
        for (int i = 400; i < total; i++) {
          afterCrash += Math.max(0, history.runsOf("fb-" + i).size() - 1);
        }
        long aAtEpoch2 = history.runsAfter(0).stream()
            .filter(r -> r.region().equals("region-a") && r.epoch() == 2).count();
        System.out.printf("failback: messages=" + total + " duplicates=%d (crash window %s) bound=%d"
            + " failback duplicates=%d A@epoch2=%d takeover_ms=%s %s%n", report.duplicates(),
            report.duplicatesByWindow(), bound, afterCrash, aAtEpoch2,
            b.ownership.reports().stream().map(t -> t.took().toMillis()).toList(), report);
        b.ownership.reports().forEach(System.out::println);
        assertEquals(0, report.lost().size(), report.toString());
        assertEquals(2, b.ownership.reports().size(), "B took A's two shards over once each");
        assertTrue(report.duplicates() <= bound, report.duplicates() + " <= " + bound);
        assertEquals(0, afterCrash, "the failback added no duplicate");
        assertEquals(0, report.duplicatesOutsideFaults(), report.toString());
        assertEquals(2.0, failbacks(b, "moved"), "both shards failed back");
        assertTrue(aAtEpoch2 > 0, "region A processes its shards again, at epoch 2");
        assertTrue(back.ownership.reports().isEmpty(), "A got them back by handover, not takeover");
      } finally {
        a1.close();
        if (a2 != null) {
          a2.close();
        }
      }
    }
  }
}
