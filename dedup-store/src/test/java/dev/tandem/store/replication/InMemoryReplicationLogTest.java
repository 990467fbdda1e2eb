package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.ShardLease;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The in-memory replication log keeps the Kafka log's contract, step by step on a manual clock. */
class InMemoryReplicationLogTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  static final PayloadDigest D = PayloadDigest.of("p".getBytes(StandardCharsets.UTF_8));
  static final Duration LEASE = Duration.ofSeconds(30);

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_764_000_000_000L);
  final InMemoryReplicationLog.Network net = InMemoryReplicationLog.network(clock);
  IdempotencyStore a;
  IdempotencyStore b;
  InMemoryReplicationLog logA;
  InMemoryReplicationLog logB;

  @BeforeEach
  void open() {
    a = store(A, "a-1");
    b = store(B, "b-1");
    logA = net.join(a);
    logB = net.join(b);
    logA.assign(Set.of(0, 1));
    logB.assign(Set.of(0, 1));
  }

  IdempotencyStore store(RegionId region, String instance) {
    return IdempotencyStore.builder().region(region).instance(instance)
        .directory(dir.resolve(instance)).clock(clock).meterRegistry(new SimpleMeterRegistry())
        .build();
  }

  @AfterEach
  void close() {
    logA.close();
    logB.close();
    a.close();
    b.close();
  }

  @Test
  void aChangeIsAcknowledgedAtOnceButAppliedOnlyOnDelivery() {
    assertTrue(a.claim("x", 0, D, 0, LEASE) instanceof ClaimResult.Acquired);
    assertEquals(0, logA.unackedByPeers(0));
    assertTrue(logA.barrier(0, B).isDone());
    assertTrue(b.get("x", 0).isEmpty(), "not read by region-b's replica yet");
    assertEquals(1, logB.lag(A).recordsBehind());
    net.deliver();
    assertEquals(Phase.CLAIMED, b.get("x", 0).orElseThrow().phase());
    assertEquals(0, logB.lag(A).recordsBehind());
  }

  @Test
  void aHeldLinkFillsTheWindowAndReleasingItPassesTheBarrier() {
    net.hold(A);
    a.claim("x", 0, D, 0, LEASE);
    a.complete("x", 0, null);
    a.claim("y", 1, D, 0, LEASE);
    assertEquals(2, logA.unackedByPeers(0));
    assertEquals(1, logA.unackedByPeers(1));
    assertTrue(logA.peerReachable(), "a slow link is still reachable");
    CompletableFuture<Void> toB = logA.barrier(0, B);
    assertFalse(toB.isDone());
    assertTrue(logA.barrier(0, A).isDone(), "the own changelog acknowledged");
    net.deliver();
    assertTrue(b.get("x", 0).isEmpty());
    net.release(A);
    assertTrue(toB.isDone());
    assertEquals(0, logA.unackedByPeers(0));
    net.deliver();
    assertEquals(Phase.COMPLETED, b.get("x", 0).orElseThrow().phase());
  }

  @Test
  void aPartitionIsUnreachableBothWaysAndHealingReplaysTheSpool() {
    net.partition(B);
    assertFalse(logA.peerReachable());
    assertFalse(logB.peerReachable());
    b.mergeLease(ShardLease.of(0, 1, B, b.tickHlc()));
    CatchUpResult r = logA.catchUp(B, Set.of(0), Duration.ofSeconds(1));
    assertFalse(r.complete(), r.toString());
    assertTrue(logB.catchUp(B, Set.of(0), Duration.ofSeconds(1)).complete(), "own changelog");
    net.deliver();
    assertTrue(a.lease(0).isEmpty());
    net.heal(B);
    assertTrue(logA.peerReachable());
    net.deliver();
    assertEquals(1, a.lease(0).orElseThrow().epoch());
  }

  @Test
  void aCatchUpReadsThePeersChangelogDirectlyWhileTheLinkHoldsItsCopies() {
    net.hold(B);
    b.mergeLease(ShardLease.of(0, 1, B, b.tickHlc()));
    net.deliver();
    assertTrue(a.lease(0).isEmpty(), "region-a's changelog has no copy yet");
    CatchUpResult r = logA.catchUp(B, Set.of(0), Duration.ofSeconds(1));
    assertTrue(r.complete(), r.toString());
    assertEquals(1, r.recordsApplied());
    assertEquals(B, a.lease(0).orElseThrow().owner());
  }

  @Test
  void aDownBrokerFailsOwnBarriersAndCatchUpsAndBlocksTheRevoke() {
    net.down(A);
    a.claim("x", 0, D, 0, LEASE);
    assertFalse(logA.barrier(0, A).isDone());
    assertFalse(logA.catchUp(A, Set.of(0), Duration.ofSeconds(1)).complete());
    assertFalse(logB.catchUp(A, Set.of(0), Duration.ofSeconds(1)).complete());
    assertFalse(logB.peerReachable());
    assertThrows(IllegalStateException.class, () -> logA.revoke(Set.of(0)));
    assertEquals(Set.of(0, 1), logA.shards(), "stays assigned");
    net.up(A);
    assertTrue(logA.barrier(0, A).isDone());
    logA.revoke(Set.of(0));
    assertEquals(Set.of(1), logA.shards());
    assertTrue(a.get("x", 0).isEmpty(), "dropped");
  }

  @Test
  void onlyAssignedShardsAreAppliedAndAnAssignRestoresWhatWasRead() {
    logB.revoke(Set.of(1));
    a.claim("y", 1, D, 0, LEASE);
    net.deliver();
    assertFalse(logB.isRestored(1));
    logB.assign(Set.of(1));
    assertTrue(logB.isRestored(1));
    assertEquals(Phase.CLAIMED, b.get("y", 1).orElseThrow().phase(), "restored from the changelog");
  }

  @Test
  void aReplicaJoiningLaterRestoresWhatItsRegionsChangelogHolds(@TempDir Path other) {
    a.claim("x", 0, D, 0, LEASE);
    IdempotencyStore a2 = IdempotencyStore.builder().region(A).instance("a-2").directory(other)
        .clock(clock).meterRegistry(new SimpleMeterRegistry()).build();
    try (a2; InMemoryReplicationLog log2 = net.join(a2)) {
      log2.assign(Set.of(0));
      assertEquals(Phase.CLAIMED, a2.get("x", 0).orElseThrow().phase(),
          "a second instance of region-a sees the first one's writes once assigned");
    }
  }

  @Test
  void heartbeatsGiveTheLagAndOnlyFlowWhileTheLivenessChecksPass() {
    assertNull(logB.lag(A).timeLag());
    boolean[] alive = {true};
    logA.addLivenessCheck(() -> alive[0]);
    assertTrue(logA.heartbeat());
    clock.advance(Duration.ofMillis(300));
    net.deliver();
    ReplicationLag lag = logB.lag(A);
    assertEquals(Duration.ofMillis(300), lag.timeLag());
    assertEquals(Duration.ZERO, lag.sinceLastHeartbeat());
    assertEquals(1, lag.heartbeats());
    alive[0] = false;
    assertFalse(logA.heartbeat());
    clock.advance(Duration.ofSeconds(2));
    net.deliver();
    assertEquals(Duration.ofSeconds(2), logB.lag(A).sinceLastHeartbeat());
  }

  @Test
  void closeFailsTheWaitingBarriers() {
    net.hold(A);
    a.claim("x", 0, D, 0, LEASE);
    CompletableFuture<Void> f = logA.barrier(0, B);
    logA.close();
    assertTrue(f.isCompletedExceptionally());
    assertTrue(logA.barrier(0, B).isCompletedExceptionally());
  }
}
