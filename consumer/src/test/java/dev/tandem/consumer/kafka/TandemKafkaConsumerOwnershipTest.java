package dev.tandem.consumer.kafka;

import static dev.tandem.consumer.kafka.HandoffGateTest.record;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.ManualClock;
import dev.tandem.store.Phase;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.InMemoryReplicationLog;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link TandemKafkaConsumer}'s ownership paths, fast: each region's topic is a Kafka {@code
 * MockConsumer} (HandoffGateTest's log-like one), the regions' stores replicate over an {@link
 * InMemoryReplicationLog} network that the test delivers, and time is one {@link ManualClock}. No
 * seam was needed: the builder already takes the {@code Consumer} and the clock. The poll loop runs
 * on its own thread as in production, so the test waits on conditions (Awaitility), never sleeps.
 * The real-cluster tests (TwoRegions suites) stay the end-to-end proof.
 *
 * <p>Shards: {@code sorted([a, b])[shard % 2]}: region-a owns partition 0.
 */
class TandemKafkaConsumerOwnershipTest extends MockRegionsFixture {

  /**
   * The owner claims a poll's records, runs them, completes them, and commits their offset only
   * once the own region's changelog acknowledged the claims and completions: while its changelog
   * broker is down, a new record's handler does not run and its offset is not committed.
   */
  @Test
  void theOwnerCommitsABatchOnlyAfterItsChangesAreDurableInItsOwnChangelog() {
    Node a = node(A, "a-1", false);
    startWithP0(a);
    publish(0, a);
    publish(1, a);
    publish(2, a);
    await().atMost(WAIT).until(() -> a.committed(P0) == 3);
    assertEquals(List.of("id-0", "id-1", "id-2"), a.runs());
    assertEquals(Phase.COMPLETED, a.phase("id-2"));

    net.down(A);
    publish(3, a);
    await().atMost(WAIT).until(() -> a.phase("id-3") == Phase.CLAIMED);
    await().during(Duration.ofMillis(500)).atMost(WAIT)
        .until(() -> a.runs().size() == 3 && a.committed(P0) == 3); // claimed, not yet durable
    net.up(A);
    await().atMost(WAIT).until(() -> a.committed(P0) == 4);
    assertEquals(List.of("id-0", "id-1", "id-2", "id-3"), a.runs(), "each ran once");
  }

  /**
   * A follower holds the copy of a shard it does not own (partition paused, nothing committed,
   * never the handler) until the owner's completion replicates to it; then it acknowledges it.
   */
  @Test
  void aFollowerHoldsACopyUntilTheOwnersCompletionIsAppliedThenAcknowledgesIt() {
    Node a = node(A, "a-1", false);
    Node b = node(B, "b-1", false);
    startWithP0(b);
    publish(0, b); // region-b's copy arrives first
    await().atMost(WAIT).until(() -> b.kafka().paused().contains(P0));
    assertEquals(-1, b.committed(P0));

    startWithP0(a);
    publish(0, a);
    await().atMost(WAIT).until(() -> a.runs().size() == 1);
    await().during(Duration.ofMillis(300)).atMost(WAIT)
        .until(() -> b.committed(P0) == -1); // completed in region-a, not delivered to region-b
    awaitDelivering(() -> b.committed(P0) == 1);
    assertEquals(List.of(), b.runs(), "the follower never ran the handler");
    assertEquals(List.of("id-0"), a.runs());
    assertEquals(1.0, b.meters().get("tandem.consumer.follower.acknowledged").counter().count());
    assertEquals(1L, b.meters().get("tandem.consumer.follower.hold").timer().count());
    await().atMost(WAIT).until(() -> !b.kafka().paused().contains(P0));
  }

  /**
   * The owner region fell silent (its broker down): once L + margin passed on the follower's clock,
   * the follower takes the shard over at epoch + 1 and runs the copy it held, once.
   */
  @Test
  void aFollowerTakesOverAfterTheOwnersSilenceAndRunsWhatItHeld() {
    Node a = node(A, "a-1", false);
    Node b = node(B, "b-1", false);
    a.ownership().pollLoop().heartbeat(0, 0); // region-a owned shard 0, then its region went down
    net.deliver();
    net.down(A);
    startWithP0(b);
    publish(0, b);
    await().atMost(WAIT).until(() -> b.kafka().paused().contains(P0));
    clock.advance(Duration.ofSeconds(5));
    await().during(Duration.ofMillis(300)).atMost(WAIT).until(() -> b.runs().isEmpty());

    clock.advance(L.plus(MARGIN)); // silent for 14 s on region-b's clock since its first look
    await().atMost(WAIT).until(() -> b.committed(P0) == 1);
    assertEquals(List.of("id-0"), b.runs());
    ShardLease lease = b.store().lease(0).orElseThrow();
    assertEquals(B, lease.owner());
    assertEquals(1, lease.epoch());
    TakeoverReport r = b.ownership().reports().get(0);
    assertEquals(TakeoverReport.BoundKind.HOLDS_IF_OLD_OWNER_STOPPED, r.boundKind(), r.toString());
    assertEquals(List.of(), a.runs());
  }

  /**
   * A rebalance asked for while a batch runs is served at the next poll: the batch finishes, its
   * offset is committed behind the own changelog's acknowledgement before the partition is given
   * up, and the shard is dropped only after its changes are in the changelog. The next instance
   * of the region restores the shard from the changelog and, reading the records again, runs none
   * of them twice.
   */
  @Test
  void aRebalanceDuringABatchCommitsItBeforeGivingThePartitionUpAndNothingRunsTwice()
      throws Exception {
    Node a1 = node(A, "a-1", true);
    a1.gate().blockOn = "id-1";
    startWithP0(a1);
    publish(0, a1);
    publish(1, a1);
    publish(2, a1);
    assertTrue(a1.gate().entered.await(20, TimeUnit.SECONDS), "the batch is in its handler");
    HandoffGateTest.rebalance(a1.kafka(), List.of()); // served at the next poll
    a1.gate().release.countDown();
    await().atMost(WAIT).until(() -> a1.kafka().assignment().isEmpty());
    assertEquals(List.of("id-0", "id-1", "id-2"), a1.runs());
    assertEquals(3, a1.committed(P0), "committed before the partition was given up");
    assertEquals(Set.of(), a1.log().shards(), "the shard was dropped after its flush");

    Node a2 = node(A, "a-2", true); // the next holder in region-a, reading from offset 0 again
    startWithP0(a2);
    publish(0, a2);
    publish(1, a2);
    publish(2, a2);
    await().atMost(WAIT).until(() -> a2.committed(P0) == 3);
    assertEquals(List.of(), a2.runs(), "restored from the changelog: nothing runs twice");
    assertEquals(Phase.COMPLETED, a2.phase("id-1"));
  }
  /**
   * The replication window in the loop: while region-b has not acknowledged region-a's changes (a
   * slow link, still reachable), the owner admits only what fits in W (each message is a claim and
   * a completion; lease renewals count too) and pauses the shard; once the peer acknowledges, the
   * rest runs (the pause lasts pollTimeout on the loop's clock, moved here by the test).
   */
  @Test
  void theOwnerPausesTheShardWhileWChangesAwaitThePeerAndResumesWhenItAcknowledges() {
    int w = 10;
    Node a = node(A, "a-1", false, w);
    node(B, "b-1", false); // region-b's replica: the peer whose acknowledgement W counts
    net.hold(A);
    startWithP0(a);
    for (long o = 0; o < 12; o++) {
      publish(o, a);
    }
    await().atMost(WAIT).until(() -> !a.runs().isEmpty());
    // at most W/2 messages (2 changes each) before the peer acknowledged anything
    await().during(Duration.ofMillis(500)).atMost(WAIT)
        .until(() -> a.runs().size() <= w / 2 && a.log().unackedByPeers(0) > 0);
    net.release(A);
    await().atMost(WAIT).until(() -> {
      clock.advance(Duration.ofMillis(20));
      return a.committed(P0) == 12;
    });
    List<String> all = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      all.add("id-" + i);
    }
    assertEquals(all, a.runs(), "each once, in order");
  }
}
