package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.ClaimResult;
import dev.tandem.testkit.ChildJvm;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A consumer SIGKILLed in the middle of a handler (a child JVM), and a rebalance inside one region:
 * the Kafka partitions move to the surviving instance, which restores the shards from the changelog
 * before claiming.
 */
@TandemClusters
class KilledConsumerTest {

  /** A changelog and id prefix no other class of this JVM uses (shared regions). */
  static final String RB_PREFIX = Topics.fresh("rb");

  static TwoRegions regions;

  @Test
  void killedMidHandlerIsHandledAgainOnlyAfterTheLeaseByOneConsumer(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-kill");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    int n = 200;
    Duration lease = Duration.ofSeconds(6);
    try (TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      Publishing.publish(producer, topic, "kill", 0, n, history);
    }
    String hungId;
    long killedAt;
    try (ChildJvm child = ChildJvm.start(KilledConsumerMain.class, regions.a().bootstrapServers(),
        regions.b().bootstrapServers(), topic, "kill", dir.toString(), "c1", "30",
        Long.toString(lease.toMillis()))) {
      String line = child.awaitLine(l -> l.startsWith("hanging "), Duration.ofSeconds(120));
      hungId = line.substring("hanging ".length()).trim();
      child.kill();
      killedAt = System.nanoTime();
      for (String l : child.output()) {
        if (l.startsWith("handled ")) {
          String[] f = l.split(" ");
          history.handled(f[1], "region-a", "c1", Long.parseLong(f[2]));
        }
      }
    }
    int fault = history.beginFault("c1 killed mid-handler");
    // what a2's handler is told about ids it runs after an expired claim (the re-run report)
    Map<String, ClaimResult.PreviousClaim> toldExpired = new java.util.concurrent.ConcurrentHashMap<>();
    try (RegionNode a2 = new RegionNode(regions, RegionNode.A, "a2", dir, topic, "kill", history, o -> {
      o.ownership = false;
      o.allShards = false;
      o.claimLease = lease;
      o.handler = (rec, ctx) -> {
        ctx.previousClaim().filter(p -> p.reason() == ClaimResult.PreviousClaim.Reason.LEASE_EXPIRED)
            .ifPresent(p -> toldExpired.put(ctx.id(), p));
        history.handled(ctx.id(), "region-a", "a2", ctx.epoch());
      };
    })) {
      a2.start();
      await().atMost(Duration.ofSeconds(120)).until(() -> history.distinctHandled() == n);
      history.endFault(fault);
      List<History.Run> runs = history.runsOf(hungId);
      assertEquals(2, runs.size(), "the hung message ran in c1, then once more: " + runs);
      assertEquals("c1", runs.get(0).instance());
      assertEquals("a2", runs.get(1).instance(), "handled again by one consumer");
      long againAfterMillis = (runs.get(1).atNanos() - killedAt) / 1_000_000;
      assertTrue(againAfterMillis >= lease.toMillis(),
          "handled again only after the lease (" + lease + ") expired: " + againAfterMillis + " ms");
      History.Report report = history.check(0);
      Map<String, Integer> multi = new TreeMap<>();
      for (int i = 0; i < n; i++) {
        int c = history.runsOf("kill-" + i).size();
        if (c > 1) {
          multi.put("kill-" + i, c);
        }
      }
      System.out.printf("killed-mid-handler: messages=%d duplicates=%d (ids %s) "
          + "handled-again-after=%dms lease=%s%n", n, report.duplicates(), multi, againAfterMillis, lease);
      assertEquals(0, report.lost().size());
      assertEquals(Map.of(hungId, 2), multi, "only the message whose handler was killed ran twice");
      // the duplicate is reported, not silent: the handler saw attempt 2 after c1's expired claim,
      // and a2 counted it (the other claims of c1's last batch are reported too: conservative)
      ClaimResult.PreviousClaim told = toldExpired.get(hungId);
      assertTrue(told != null, "the re-run's handler was told: " + toldExpired);
      assertEquals("region-a/c1", told.owner().toString());
      double reclaimed = a2.meters.get("tandem.consumer.reclaimed.expired").counter().count();
      assertTrue(reclaimed >= 1 && reclaimed == toldExpired.size(),
          "reclaimed.expired " + reclaimed + " counts every re-run reported " + toldExpired.keySet());
      System.out.printf("killed-mid-handler: reported re-runs=%d (ids %s)%n", (long) reclaimed,
          toldExpired.keySet());
    }
  }

  @Test
  void rebalanceInsideARegionDuringAStreamCreatesNoDuplicate(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-rebalance");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    java.util.function.Consumer<RegionNode.Options> perInstance = o -> o.allShards = false;
    try (TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"));
        RegionNode b1 = new RegionNode(regions, RegionNode.B, "b1", dir, topic, RB_PREFIX, history, perInstance);
        RegionNode a3 = new RegionNode(regions, RegionNode.A, "a3", dir, topic, RB_PREFIX, history, perInstance)) {
      RegionNode a1 = new RegionNode(regions, RegionNode.A, "a1", dir, topic, RB_PREFIX, history, perInstance);
      try {
        b1.start();
        a1.start();
        Publishing.publish(producer, topic, RB_PREFIX, 0, 500, history);
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 150);
        a3.start(); // an instance added: region A's partitions are split between a1 and a3
        Publishing.publish(producer, topic, RB_PREFIX, 500, 1000, history);
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 700);
      } finally {
        a1.close(); // an instance removed: its partitions go to a3, after its changelog is flushed
      }
      Publishing.publish(producer, topic, RB_PREFIX, 1000, 1500, history);
      await().atMost(Duration.ofSeconds(120)).until(() -> history.distinctHandled() == 1500);
      History.Report report = history.check(0);
      Map<String, Integer> byInstance = new TreeMap<>();
      for (int i = 0; i < 1500; i++) {
        for (History.Run r : history.runsOf(RB_PREFIX + "-" + i)) {
          byInstance.merge(r.instance(), 1, Integer::sum);
        }
      }
      System.out.println("rebalance: " + report + " byInstance=" + byInstance);
      assertEquals(0, report.lost().size());
      assertEquals(0, report.duplicates(), "a normal rebalance creates no duplicate");
      assertTrue(byInstance.getOrDefault("a3", 0) > 0, "the added instance took part: " + byInstance);
      assertEquals(0, b1.ownership.reports().size() + a3.ownership.reports().size(), "no takeover");
    }
  }
}
