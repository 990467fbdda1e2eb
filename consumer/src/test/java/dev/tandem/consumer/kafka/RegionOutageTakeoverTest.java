package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Region A's broker stops (its consumers stay alive): their heartbeats stop because no fetch
 * succeeds, region B takes A's shards over without reading A's changelog, and reports a bound with the
 * window term. Own clusters: this class breaks a region.
 */
@TandemClusters(shared = false)
class RegionOutageTakeoverTest {

  static TwoRegions regions;

  @Test
  void ownerBrokerStoppedFollowerTakesOverWithinTheReportedBound(@TempDir Path dir) throws Exception {
    String topic = "orders-outage";
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    int n = 400;
    int window = 20;
    AtomicInteger aRuns = new AtomicInteger();
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "out", history, o -> {
          o.leaseTimeout = Duration.ofSeconds(2);
          o.margin = Duration.ofSeconds(1);
          o.window = window;
          o.handler = (rec, ctx) -> {
            history.handled(ctx.id(), "region-a", "a1", ctx.epoch());
            aRuns.incrementAndGet();
          };
        });
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "out", history, o -> {
          o.leaseTimeout = Duration.ofSeconds(2);
          o.margin = Duration.ofSeconds(1);
          o.window = window;
        });
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      Publishing.publish(producer, topic, "out", 0, n, history);
      a.start();
      b.start();
      await().atMost(Duration.ofSeconds(60)).until(() -> aRuns.get() >= 40);
      int fault = history.beginFault("region-a broker stopped");
      long stoppedAt = System.nanoTime();
      regions.a().stopBroker();
      try {
        await().atMost(Duration.ofSeconds(90)).until(() -> b.ownership.reports().size() == 2);
        long takeoverMillis = (System.nanoTime() - stoppedAt) / 1_000_000;
        await().atMost(Duration.ofSeconds(90)).until(() -> history.distinctHandled() == n);
        List<TakeoverReport> reports = b.ownership.reports();
        long bound = 0;
        for (TakeoverReport r : reports) {
          assertFalse(r.ownerChangelog().complete(), "A's broker is down: " + r);
          assertTrue(r.bound().isPresent(), "A's last heartbeat had the peer reachable: " + r);
          assertEquals(window, r.windowAdded(), "W from A's last heartbeat is added");
          bound += r.bound().getAsLong();
        }
        History.Report report = history.check(Duration.ofSeconds(10).toNanos());
        System.out.printf("broker-stopped: messages=%d duplicates=%d bound=%d takeover=%dms reports=%s%n",
            n, report.duplicates(), bound, takeoverMillis, reports);
        assertEquals(0, report.lost().size());
        assertTrue(report.duplicates() <= bound, "duplicates " + report.duplicates() + " <= bound " + bound);
        assertEquals(0, report.duplicatesOutsideFaults());
      } finally {
        regions.a().startBroker();
        history.endFault(fault);
      }
      // the recovered region rejoins as a follower: it re-reads the changelogs before processing and
      // finds its shards taken over, so it runs nothing of the new stream
      int before = aRuns.get();
      Publishing.publish(producer, topic, "out", n, n + 200, history);
      await().atMost(Duration.ofSeconds(120)).until(() -> history.distinctHandled() == n + 200);
      // region A learned of the new epochs (from region B's changelog, read at its revalidation)
      await().atMost(Duration.ofSeconds(60)).until(() -> !a.ownership.owns(0) && !a.ownership.owns(2));
      assertEquals(1L, a.ownership.epoch(0));
      assertEquals(1L, a.ownership.epoch(2));
      assertEquals(before, aRuns.get(), "region A processed nothing after it came back");
      assertEquals(0, a.ownership.reports().size());
      assertEquals(2, b.ownership.reports().size());
    }
  }
}
