package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.MoveReport;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MANUAL policy on two real KRaft clusters: region A's consumers stop; region B never takes A's
 * shards over on its own, however long the silence. An operator then moves them: with A's broker up
 * the move is acknowledged and bounded; with A's broker stopped the report says plainly that the
 * duplicates are detected, not bounded. Own clusters: this class stops a broker.
 */
@TandemClusters(shared = false)
class ManualPolicyTest {

  static TwoRegions regions;

  @Test
  void silenceNeverMovesAShardAndAnOperatorMoveReportsItsBound(@TempDir Path dir) throws Exception {
    String topic = "orders-manual";
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    // AUTOMATIC with these durations would take over after 3 s of silence
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "man", history, o -> {
          o.policy = OwnershipPolicy.manual();
          o.leaseTimeout = Duration.ofSeconds(2);
          o.window = 20;
        });
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "man", history, o -> {
          o.policy = OwnershipPolicy.manual();
          o.leaseTimeout = Duration.ofSeconds(2);
          o.window = 20;
        });
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      Publishing.publish(producer, topic, "man", 0, 200, history);
      a.start();
      b.start();
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 200);

      a.stopConsuming(); // A's poll loop ends: no heartbeat, no processing; its store stays up
      int fault = history.beginFault("region-a consumers stopped, operator moves");
      Publishing.publish(producer, topic, "man", 200, 400, history);
      // silent for 9 s = three times AUTOMATIC's L + margin: B must still not own A's shards
      await().during(Duration.ofSeconds(9)).atMost(Duration.ofSeconds(12)).until(() ->
          b.ownership.reports().isEmpty() && !b.ownership.owns(0) && !b.ownership.owns(2));
      assertTrue(history.distinctHandled() < 400, "A's shards wait for an operator");

      // operator move with A's region reachable: acknowledged, bounded
      MoveReport m0 = b.ownership.move(0, Duration.ofSeconds(10));
      System.out.println("move (A reachable): " + m0);
      assertTrue(m0.oldOwnerAcknowledged(), m0.toString());
      assertTrue(m0.bound().isPresent(), m0.toString());
      assertEquals(1L, m0.takeover().newEpoch());
      assertEquals(20, m0.takeover().windowAdded(), "A's W from its last heartbeat");
      assertTrue(b.ownership.owns(0));

      // operator move with A's broker stopped: written first, not acknowledged, said plainly
      regions.a().stopBroker();
      MoveReport m2;
      try {
        m2 = b.ownership.move(2, Duration.ofSeconds(3));
        System.out.println("move (A unreachable): " + m2);
        assertFalse(m2.oldOwnerAcknowledged(), m2.toString());
        assertTrue(m2.bound().isEmpty(), m2.toString());
        assertTrue(m2.detail().contains("detected by the store, not bounded"), m2.detail());
        assertTrue(b.ownership.owns(2), "the new epoch is written before the acknowledgement");
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 400);
      } finally {
        regions.a().startBroker();
        history.endFault(fault);
      }
      // A's replica learns both moves once its broker is back
      await().atMost(Duration.ofSeconds(60)).until(() -> a.ownership.epoch(0) == 1
          && a.ownership.epoch(2) == 1);
      assertFalse(a.ownership.owns(0) || a.ownership.owns(2));

      History.Report report = history.check(Duration.ofSeconds(5).toNanos());
      long bound = m0.bound().getAsLong();
      System.out.printf("manual: messages=400 duplicates=%d bound(shard 0)=%d bound(shard 2)=unknown"
          + " %s%n", report.duplicates(), bound, report);
      assertEquals(0, report.lost().size(), report.toString());
      assertTrue(report.duplicates() <= bound, report.duplicates() + " <= " + bound);
      assertEquals(0, report.duplicatesOutsideFaults());
      assertEquals(1.0, b.meters.find("tandem.consumer.duplicate.bound.unknown").counter().count());
    }
  }
}
