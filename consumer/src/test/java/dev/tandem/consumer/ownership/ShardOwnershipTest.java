package dev.tandem.consumer.ownership;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.consumer.witness.WitnessGrant;
import dev.tandem.core.ManualClock;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.InMemoryReplicationLog;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ShardOwnership} of two regions over an {@link InMemoryReplicationLog} network and one
 * {@link ManualClock}: takeover and its bound, the window, heartbeats, planned handover, manual move,
 * failback, revalidation and the three policies, step by step, with no cluster and no sleep. The
 * real-cluster tests (FailbackTest, OwnerLivenessTest in consumer.kafka, the TwoRegions suites) stay
 * the end-to-end proof; these pin the rules, and the interleavings a cluster reaches only by chance:
 * a heartbeat at the very instant of expiry, one still on its way when the follower decides, a
 * handover racing a takeover, a lagging old owner's stale lease after epoch + 1.
 *
 * <p>Shards: {@code sorted([a, b])[shard % 2]}, so region-a is the initial owner of 0 and 2.
 */
class ShardOwnershipTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  static final Duration L = Duration.ofSeconds(6);
  static final Duration MARGIN = Duration.ofSeconds(3);
  static final Duration SILENCE = L.plus(MARGIN);
  static final Duration STUCK = Duration.ofSeconds(60);
  static final Duration NANO = Duration.ofNanos(1);
  static final int W = 5;
  static final PayloadDigest DIGEST = PayloadDigest.of("p".getBytes(StandardCharsets.UTF_8));

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_764_000_000_000L);
  final InMemoryReplicationLog.Network net = InMemoryReplicationLog.network(clock);
  final List<AutoCloseable> open = new ArrayList<>();

  /** One region: its store, its replica on the network, its ownership. */
  record Region(RegionId id, IdempotencyStore store, InMemoryReplicationLog log,
      ShardOwnership own, SimpleMeterRegistry meters) {

    ClaimResult claim(String id, int shard) {
      return store.claim(id, shard, DIGEST, own.epoch(shard), Duration.ofMinutes(5));
    }

    double count(String meter, String... tags) {
      var c = meters.find(meter).tags(tags).counter();
      return c == null ? 0 : c.count();
    }
  }

  Region region(RegionId id, OwnershipPolicy policy) {
    return region(id, policy, b -> b);
  }

  Region region(RegionId id, OwnershipPolicy policy, UnaryOperator<ShardOwnership.Builder> config) {
    IdempotencyStore store = IdempotencyStore.builder().region(id).instance(id.name() + "-1")
        .directory(dir.resolve(id.name())).clock(clock).meterRegistry(new SimpleMeterRegistry())
        .build();
    InMemoryReplicationLog log = net.join(store);
    log.assign(Set.of(0, 1, 2, 3));
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    ShardOwnership own = config.apply(ShardOwnership.builder().region(id).regions(List.of(A, B))
        .store(store).replicationLog(log).policy(policy).window(W)
        .catchUpTimeout(Duration.ofSeconds(1)).revalidateAfter(L).clock(clock)
        .meterRegistry(meters)).build();
    open.add(store);
    open.add(log);
    if (policy instanceof AutoCloseable c) {
      open.add(c);
    }
    return new Region(id, store, log, own, meters);
  }

  @AfterEach
  void close() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  static OwnershipPolicy automatic() {
    return OwnershipPolicy.automatic(L, MARGIN, STUCK);
  }

  /** AUTOMATIC's decisions, but the window holds while the peer is unreachable (as WITNESS's). */
  static OwnershipPolicy automaticKeepingWindow() {
    OwnershipPolicy auto = automatic();
    return new OwnershipPolicy() {
      @Override
      public Optional<TakeoverDecision> shouldTakeOver(ShardObservation o) {
        return auto.shouldTakeOver(o);
      }

      @Override
      public boolean liftsWindowWhenPeerUnreachable() {
        return false;
      }

      @Override
      public String name() {
        return "AUTOMATIC-KEEPING-WINDOW";
      }
    };
  }

  /** region-a heartbeats shard 0, region-b reads it and starts watching the shard. */
  void ownerHeartbeatSeenByFollower(Region a, Region b) {
    a.own().pollLoop().heartbeat(0, 1);
    net.deliver();
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO));
  }

  // ------------------------------------------------------------------ takeover and its bound

  @Test
  void aFollowerTakesOverOnlyAfterLeasePlusMarginOfSilenceAndReportsTheBound() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    for (String id : List.of("x1", "x2", "x3")) {
      assertInstanceOf(ClaimResult.Acquired.class, a.claim(id, 0));
    }
    a.store().complete("x1", 0, null);

    clock.advance(SILENCE);
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO), "exactly L + margin: not yet");
    clock.advance(NANO);
    TakeoverReport r = b.own().pollLoop().observe(0, Duration.ZERO).orElseThrow();

    assertEquals(A, r.from());
    assertEquals(B, r.to());
    assertEquals(1, r.newEpoch());
    assertTrue(r.ownerChangelog().complete(), r.toString());
    assertEquals(2, r.claimedWithoutCompleted(), "x2 and x3 may run again: " + r);
    assertEquals(0, r.windowAdded(), "the old owner's changelog was read: no window added");
    assertEquals(TakeoverReport.BoundKind.HOLDS, r.boundKind());
    assertEquals(OptionalLong.of(2), r.bound());
    assertEquals(1.0, b.count("tandem.consumer.takeovers"));
    assertEquals(2.0, b.meters().get("tandem.consumer.duplicate.bound").summary().totalAmount());
    assertTrue(b.own().owns(0));
    assertEquals(List.of(r), b.own().reports());

    assertTrue(a.own().owns(0), "region-a has not read the new lease yet");
    net.deliver();
    assertFalse(a.own().owns(0));
    assertFalse(a.own().fence().holds(0, 0), "the old epoch is fenced");
    assertFalse(b.own().fence().holds(0, 0));
    assertTrue(b.own().fence().holds(0, 1));
  }

  @Test
  void aHeartbeatArrivingAtTheVeryInstantOfExpiryRestartsTheSilence() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    clock.advance(SILENCE);
    a.own().pollLoop().heartbeat(0, 2);
    net.deliver();
    clock.advance(NANO);
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO),
        "the heartbeat applied at the expiry instant is seen before the decision: silence restarts");
    clock.advance(SILENCE.minus(NANO));
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO));
    clock.advance(NANO);
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO), "exactly L + margin again");
    clock.advance(NANO);
    assertTrue(b.own().pollLoop().observe(0, Duration.ZERO).isPresent());
  }

  @Test
  void aTakeoverIsCancelledWhenTheCatchUpFindsAHeartbeatTheFollowerHadNotReceived() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    net.hold(A); // region-a's copies to region-b lag
    clock.advance(SILENCE);
    a.own().pollLoop().heartbeat(0, 2); // in region-a's changelog, not yet in region-b's
    clock.advance(NANO);

    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO),
        "the catch-up of region-a's changelog found the newer heartbeat: cancelled");
    ShardLease seen = b.store().lease(0).orElseThrow();
    assertEquals(A, seen.owner());
    assertEquals(0, seen.epoch());
    assertEquals(2, seen.position(), "the catch-up applied the heartbeat");
    assertEquals(0.0, b.count("tandem.consumer.takeovers"));
    clock.advance(SILENCE);
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO),
        "silence is measured afresh from the cancelled decision");
  }

  @Test
  void anUnreadableOldOwnerAddsItsWindowAndTheBoundHoldsOnlyIfItStopped() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    a.claim("x1", 0);
    a.claim("x2", 0);
    net.deliver();
    net.down(A); // region-a's broker is gone (a crash looks the same from region-b)
    clock.advance(SILENCE.plus(NANO));

    TakeoverReport r = b.own().pollLoop().observe(0, Duration.ZERO).orElseThrow();
    assertFalse(r.ownerChangelog().complete());
    assertEquals(2, r.claimedWithoutCompleted());
    assertEquals(W, r.windowAdded(), "W from region-a's last heartbeat");
    assertEquals(TakeoverReport.BoundKind.HOLDS_IF_OLD_OWNER_STOPPED, r.boundKind(),
        "AUTOMATIC cannot tell a crash from a partition: " + r);
    assertEquals(OptionalLong.of(2 + W), r.bound());
    assertEquals(7.0, b.meters().get("tandem.consumer.duplicate.bound.conditional").summary()
        .totalAmount());
    assertEquals(0L, b.meters().get("tandem.consumer.duplicate.bound").summary().count());
  }

  @Test
  void theBoundIsUnknownWhenTheOldOwnersLastHeartbeatSaidItsWindowWasLifted() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    net.partition(A);
    a.own().pollLoop().heartbeat(0, 3); // AUTOMATIC lifts the window: the lease says so
    ShardLease lifted = a.store().lease(0).orElseThrow();
    assertFalse(lifted.peerReachable());
    assertEquals("lifted", lifted.attributes().get(ShardOwnership.WINDOW_ATTRIBUTE));
    net.heal(A);
    net.deliver();
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO), "region-b saw that heartbeat");
    net.down(A);
    clock.advance(SILENCE.plus(NANO));

    TakeoverReport r = b.own().pollLoop().observe(0, Duration.ZERO).orElseThrow();
    assertEquals(TakeoverReport.BoundKind.UNKNOWN, r.boundKind(), r.toString());
    assertEquals(OptionalLong.empty(), r.bound());
    assertEquals(1.0, b.count("tandem.consumer.duplicate.bound.unknown"));
  }

  @Test
  void anOwnerHeartbeatingWithoutProgressIsTakenOverWhileTheFollowerHoldsAMessage() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b); // position 1 from now on
    for (int s = 5; s <= 60; s += 5) {
      clock.advance(Duration.ofSeconds(5));
      a.own().pollLoop().heartbeat(0, 1);
      net.deliver();
      assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ofSeconds(s)), "at " + s + " s");
    }
    // 65 s: the position moved in region-a's changelog, but the copy is still on its way
    clock.advance(Duration.ofSeconds(5));
    net.hold(A);
    a.own().pollLoop().heartbeat(0, 2);
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ofSeconds(65)),
        "the catch-up found progress: cancelled");
    net.release(A);
    for (int s = 70; s <= 140; s += 5) {
      clock.advance(Duration.ofSeconds(5));
      a.own().pollLoop().heartbeat(0, 2);
      net.deliver();
      Optional<TakeoverReport> r = b.own().pollLoop().observe(0, Duration.ofSeconds(s));
      if (r.isPresent()) {
        assertTrue(r.get().reason().contains("without progress"), r.get().reason());
        assertTrue(s >= 130, "stalled for more than 60 s since the progress found at 65 s; at " + s);
        return;
      }
    }
    throw new AssertionError("no takeover of an owner that made no progress for 65 s");
  }

  // ------------------------------------------------------------------ window and heartbeats

  @Test
  void theOwnerPausesAShardOnceWChangesAwaitThePeerAndHeartbeatsSayWhere() {
    Region a = region(A, automatic());
    region(B, automatic());
    net.hold(A);
    assertEquals(W, a.own().pollLoop().windowRoom(0));
    a.claim("x1", 0);
    a.store().complete("x1", 0, null);
    a.claim("x2", 0);
    assertEquals(W - 3, a.own().pollLoop().windowRoom(0));
    a.claim("x3", 0);
    a.store().complete("x3", 0, null);
    assertEquals(0, a.own().pollLoop().windowRoom(0));
    assertTrue(a.own().pollLoop().windowFull(0));
    assertEquals(W, a.own().pollLoop().windowRoom(2), "per shard");

    a.own().pollLoop().heartbeat(0, 42);
    ShardLease l = a.store().lease(0).orElseThrow();
    assertEquals(42, l.position());
    assertEquals(W, l.window());
    assertEquals(5, l.unacked());
    assertTrue(l.peerReachable(), "a slow peer is reachable");
    a.own().pollLoop().heartbeat(1, 42);
    assertTrue(a.store().lease(1).isEmpty(), "region-a does not heartbeat region-b's shard");

    net.release(A);
    assertEquals(W, a.own().pollLoop().windowRoom(0));
    assertFalse(a.own().pollLoop().windowFull(0));
  }

  @Test
  void aPartitionLiftsTheWindowUnderAutomaticOnlyIfThePolicySaysSo() {
    Region lifting = region(A, automatic());
    region(B, automatic());
    net.partition(A);
    for (int i = 0; i < W + 2; i++) {
      lifting.claim("x" + i, 0);
    }
    assertEquals(Long.MAX_VALUE, lifting.own().pollLoop().windowRoom(0), "AUTOMATIC: availability first");
    net.heal(A);
    assertEquals(W, lifting.own().pollLoop().windowRoom(0), "the spool replayed; the window holds again");
  }

  @Test
  void aPolicyThatKeepsTheWindowStallsAPartitionedShardAfterWChanges() {
    Region a = region(A, automaticKeepingWindow());
    region(B, automatic());
    net.partition(A);
    for (int i = 0; i < W; i++) {
      a.claim("x" + i, 0);
    }
    assertTrue(a.own().pollLoop().windowFull(0));
    a.own().pollLoop().heartbeat(0, 1);
    assertFalse(a.store().lease(0).orElseThrow().attributes().containsKey("window"));
  }

  @Test
  void aRegionThatTookOverFromAnUnreadablePeerLiftsItsWindowUntilThePeerIsBack() {
    Region a = region(A, automatic());
    Region b = region(B, automaticKeepingWindow());
    ownerHeartbeatSeenByFollower(a, b);
    net.down(A);
    for (int i = 0; i < W; i++) {
      b.claim("y" + i, 1); // region-b's own shard; the copies for region-a wait
    }
    assertEquals(0, b.own().pollLoop().windowRoom(1), "the window holds: the peer may be alive");
    clock.advance(SILENCE.plus(NANO));
    assertTrue(b.own().pollLoop().observe(0, Duration.ZERO).isPresent());
    assertEquals(Long.MAX_VALUE, b.own().pollLoop().windowRoom(1),
        "the peer is presumed gone: the survivor does not stall until it returns");
    net.up(A);
    assertEquals(W, b.own().pollLoop().windowRoom(1), "the peer is back, its spool replayed");
    net.partition(A);
    for (int i = 0; i < W; i++) {
      b.claim("z" + i, 1);
    }
    assertEquals(0, b.own().pollLoop().windowRoom(1), "no longer presumed gone: the window holds again");
  }

  // ------------------------------------------------------------------ planned handover

  @Test
  void aPlannedHandoverDrainsWaitsForThePeersAcknowledgementThenWritesEpochPlusOne()
      throws Exception {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    assertTrue(a.own().pollLoop().beginWork(0));
    a.claim("x1", 0);
    net.hold(A);
    CompletableFuture<HandoverReport> h =
        CompletableFuture.supplyAsync(() -> a.own().handOver(0, B, Duration.ofSeconds(30)));
    await().atMost(Duration.ofSeconds(10)).until(() -> !a.own().owns(0));
    assertFalse(a.own().pollLoop().beginWork(0), "no new batch while the shard drains");
    assertFalse(a.own().fence().holds(0, 0), "nor a claim of the batch's last messages");
    assertThrows(IllegalStateException.class, () -> a.own().handOver(0, B, Duration.ofSeconds(1)));

    a.store().complete("x1", 0, null); // the batch in flight finishes
    a.own().pollLoop().endWork(0);
    assertEquals(0, a.store().lease(0).orElseThrow().epoch(),
        "region-b has not acknowledged x1's completion: the lease stays");
    assertFalse(h.isDone());

    net.release(A);
    HandoverReport r = h.get(10, TimeUnit.SECONDS);
    assertTrue(r.moved(), r.detail());
    assertEquals(1, r.newEpoch());
    assertTrue(r.leaseAcknowledged());
    assertEquals(1.0, a.count("tandem.consumer.handovers", "outcome", "moved"));

    net.deliver(B);
    assertTrue(b.own().owns(0));
    assertEquals(Phase.COMPLETED, b.store().get("x1", 0).orElseThrow().phase(),
        "the completion is ahead of the lease in the changelog: nothing runs twice");
    assertFalse(a.own().owns(0));
  }

  @Test
  void aHandoverThePeerDoesNotAcknowledgeInTimeLeavesTheShardWhereItWas() {
    Region a = region(A, automatic());
    region(B, automatic());
    a.own().pollLoop().heartbeat(0, 1);
    net.hold(A);
    a.claim("x1", 0);
    HandoverReport r = a.own().handOver(0, B, Duration.ofMillis(1));
    assertFalse(r.moved());
    assertTrue(r.detail().contains("did not acknowledge"), r.detail());
    assertEquals(0, r.newEpoch());
    assertEquals(A, a.store().lease(0).orElseThrow().owner());
    assertTrue(a.own().owns(0), "processing resumes");
    assertTrue(a.own().pollLoop().beginWork(0));
    a.own().pollLoop().endWork(0);
    assertEquals(1.0, a.count("tandem.consumer.handovers", "outcome", "aborted"));
  }

  @Test
  void aHandoverWhoseBatchDoesNotFinishInTimeIsAborted() throws Exception {
    Region a = region(A, automatic());
    region(B, automatic());
    assertTrue(a.own().pollLoop().beginWork(0));
    CompletableFuture<HandoverReport> h =
        CompletableFuture.supplyAsync(() -> a.own().handOver(0, B, Duration.ofMillis(50)));
    await().atMost(Duration.ofSeconds(10)).until(() -> !a.own().owns(0));
    clock.advance(Duration.ofSeconds(1));
    HandoverReport r = h.get(10, TimeUnit.SECONDS);
    assertFalse(r.moved());
    assertTrue(r.detail().contains("still in flight"), r.detail());
    a.own().pollLoop().endWork(0);
    assertTrue(a.own().owns(0));
  }

  /**
   * A handover racing a silence takeover by the same peer (the owner drained, so it stopped
   * heartbeating the shard): when the takeover's lease reaches the owner before the peer's
   * acknowledgement, the handover sees the lease moved and aborts; no epoch 2 is ever written.
   */
  @Test
  void aHandoverThatSeesATakeoverBeforeTheAcknowledgementAborts() throws Exception {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    net.hold(A);
    a.claim("x1", 0);
    CompletableFuture<HandoverReport> h =
        CompletableFuture.supplyAsync(() -> a.own().handOver(0, B, Duration.ofSeconds(30)));
    await().atMost(Duration.ofSeconds(10)).until(() -> !a.own().owns(0));
    clock.advance(SILENCE.plus(NANO));
    TakeoverReport t = b.own().pollLoop().observe(0, Duration.ZERO).orElseThrow();
    assertEquals(1, t.newEpoch());
    assertEquals(1, t.claimedWithoutCompleted(), "x1, read from region-a's changelog");
    net.deliver(A);
    net.release(A);

    HandoverReport r = h.get(10, TimeUnit.SECONDS);
    assertFalse(r.moved(), r.detail());
    assertTrue(r.detail().contains("lease moved"), r.detail());
    net.deliver();
    for (Region x : List.of(a, b)) {
      ShardLease l = x.store().lease(0).orElseThrow();
      assertEquals(1, l.epoch(), x.id() + ": " + l);
      assertEquals(B, l.owner());
    }
  }

  /** The other order: the acknowledgement first; both write epoch 1 for region-b, and converge. */
  @Test
  void aHandoverAndATakeoverByTheSamePeerWriteTheSameEpochAndConverge() throws Exception {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    net.hold(A);
    a.claim("x1", 0);
    CompletableFuture<HandoverReport> h =
        CompletableFuture.supplyAsync(() -> a.own().handOver(0, B, Duration.ofSeconds(30)));
    await().atMost(Duration.ofSeconds(10)).until(() -> !a.own().owns(0));
    clock.advance(SILENCE.plus(NANO));
    assertTrue(b.own().pollLoop().observe(0, Duration.ZERO).isPresent());
    net.release(A); // region-a has not read region-b's lease yet

    HandoverReport r = h.get(10, TimeUnit.SECONDS);
    assertTrue(r.moved(), r.detail());
    assertEquals(1, r.newEpoch());
    net.deliver();
    assertEquals(a.store().lease(0), b.store().lease(0), "the replicas converge");
    assertEquals(B, b.store().lease(0).orElseThrow().owner());
    assertEquals(1, b.store().lease(0).orElseThrow().epoch());
    assertTrue(b.own().owns(0));
    assertFalse(a.own().owns(0));
  }

  // ------------------------------------------------------------------ stale views, revalidation

  /**
   * The old owner lost its broker, region-b took over at epoch 1; the old owner's process lived on
   * with a stale view. Its heartbeat at epoch 0 never wins over epoch 1, and its revalidation after
   * the silence learns the takeover before it processes.
   */
  @Test
  void aLaggingOldOwnersStaleLeaseNeverWinsOverEpochPlusOne() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    net.down(A);
    clock.advance(SILENCE.plus(NANO));
    assertEquals(1, b.own().pollLoop().observe(0, Duration.ZERO).orElseThrow().newEpoch());

    assertTrue(a.own().owns(0), "region-a's view is stale");
    assertFalse(a.own().pollLoop().revalidate(Set.of(0)), "its own changelog cannot be read: do not process");
    net.up(A);
    a.own().pollLoop().heartbeat(0, 99); // a renewal written on the stale view, before any re-read
    net.deliver();
    ShardLease atB = b.store().lease(0).orElseThrow();
    assertEquals(B, atB.owner(), "the stale epoch-0 heartbeat lost: " + atB);
    assertEquals(1, atB.epoch());
    assertFalse(a.own().owns(0));
    assertFalse(a.own().fence().holds(0, 0));
  }

  @Test
  void revalidationLearnsATakeoverStillOnItsWayInTheOwnChangelog() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    ownerHeartbeatSeenByFollower(a, b);
    net.down(A);
    clock.advance(SILENCE.plus(NANO));
    b.own().pollLoop().observe(0, Duration.ZERO).orElseThrow();
    net.up(A); // region-b's lease is in region-a's changelog now, not yet read
    assertTrue(a.own().owns(0));
    assertTrue(a.own().pollLoop().revalidate(Set.of(0)));
    assertFalse(a.own().owns(0), "the re-read brought epoch 1");
    assertTrue(a.own().pollLoop().revalidate(Set.of()), "nothing owned: nothing to check");
  }

  /**
   * OwnerLiveness on top: after its broker came back, the owner's renewal round re-reads first
   * (revalidateAfter passed) and so renews only the shard it still owns.
   */
  @Test
  void anOwnersFirstRenewalAfterASilenceDoesNotRenewAShardTakenOverMeanwhile() {
    Region a = region(A, automatic());
    Region b = region(B, automatic());
    AtomicBoolean brokerUp = new AtomicBoolean(true);
    OwnerLiveness liveness = OwnerLiveness.builder(a.own())
        .probe(BrokerProbe.of("kafka", t -> brokerUp.get())).clock(clock)
        .meterRegistry(a.meters()).build();
    assertEquals(Set.of(0, 2), liveness.renew(Set.of(0, 2), s -> 1L).renewed());
    net.deliver();
    b.own().pollLoop().observe(0, Duration.ZERO);
    brokerUp.set(false);
    net.down(A);
    clock.advance(SILENCE.plus(NANO));
    assertEquals(RenewalOutcome.Kind.BROKER_SILENT, liveness.renew(Set.of(0, 2), s -> 1L).kind());
    b.own().pollLoop().observe(0, Duration.ZERO).orElseThrow();
    brokerUp.set(true);
    net.up(A);
    assertFalse(liveness.valid());

    RenewalOutcome r = liveness.renew(Set.of(0, 2), s -> 2L);
    assertEquals(RenewalOutcome.Kind.RENEWED, r.kind(), r.toString());
    assertEquals(Set.of(2), r.renewed(), "shard 0 went to region-b meanwhile");
    assertEquals(B, a.store().lease(0).orElseThrow().owner());
  }

  // ------------------------------------------------------------------ manual move, MANUAL policy

  @Test
  void underManualNothingMovesHoweverLongTheSilenceUntilAnOperatorsFencedMove() {
    Region a = region(A, OwnershipPolicy.manual());
    Region b = region(B, OwnershipPolicy.manual());
    ownerHeartbeatSeenByFollower(a, b);
    a.claim("x1", 0);
    net.deliver();
    clock.advance(Duration.ofHours(1));
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ofHours(1)));

    MoveReport m = b.own().move(0, Duration.ofSeconds(5));
    assertTrue(m.oldOwnerAcknowledged(), m.detail());
    assertEquals(1, m.takeover().newEpoch());
    assertEquals(OptionalLong.of(1 + W), m.bound(),
        "x1, plus the W region-a may claim until it reads the new epoch");
    assertEquals(1.0, b.count("tandem.consumer.manual.moves", "outcome", "acknowledged"));
    net.deliver();
    assertFalse(a.own().owns(0), "fenced");
    assertThrows(IllegalStateException.class, () -> b.own().move(0, Duration.ofSeconds(1)));
  }

  @Test
  void aMoveAwayFromAnUnreachableOwnerHasNoBoundAndLiftsTheWindow() {
    Region a = region(A, OwnershipPolicy.manual());
    Region b = region(B, automaticKeepingWindow());
    ownerHeartbeatSeenByFollower(a, b);
    net.partition(A);
    MoveReport m = b.own().move(0, Duration.ofMillis(1));
    assertFalse(m.oldOwnerAcknowledged());
    assertEquals(OptionalLong.empty(), m.bound());
    assertTrue(m.detail().contains("did not acknowledge"), m.detail());
    assertEquals(1.0, b.count("tandem.consumer.manual.moves", "outcome", "unacknowledged"));
    for (int i = 0; i < W; i++) {
      b.claim("y" + i, 0);
    }
    assertEquals(Long.MAX_VALUE, b.own().pollLoop().windowRoom(0), "the old owner is presumed gone");
  }

  // ------------------------------------------------------------------ failback

  Region failbackRegion(Duration catchUpTimeout, Duration maxSilence) {
    Region b = region(B, automatic(), o -> o.failbackAfter(Duration.ofSeconds(3))
        .failbackMaxSilence(maxSilence).catchUpTimeout(catchUpTimeout));
    b.store().mergeLease(ShardLease.of(0, 1, B, b.store().tickHlc())); // took shard 0 over
    return b;
  }

  /** region-a's replica heartbeats (its loop runs) and region-b reads it; one second passes. */
  void secondOfHealthyPeer(Region a) {
    a.log().heartbeat();
    net.deliver();
  }

  @Test
  void aTakenOverShardGoesHomeOnceTheHomeRegionHasBeenHealthyForFailbackAfter() {
    Region a = region(A, automatic());
    Region b = failbackRegion(Duration.ofSeconds(1), Duration.ofSeconds(1));
    AtomicBoolean loopRuns = new AtomicBoolean(true);
    a.log().addLivenessCheck(loopRuns::get);
    net.deliver();
    assertEquals(Optional.empty(), b.own().pollLoop().failBackIfDue(0), "no heartbeat of region-a yet");

    for (int s = 0; s < 2; s++) {
      secondOfHealthyPeer(a);
      assertEquals(Optional.empty(), b.own().pollLoop().failBackIfDue(0), "healthy for " + s + " s");
      clock.advance(Duration.ofSeconds(1));
    }
    loopRuns.set(false); // region-a's consumers stop; its process stays up: no heartbeats
    for (int s = 0; s < 6; s++) {
      secondOfHealthyPeer(a);
      assertEquals(Optional.empty(), b.own().pollLoop().failBackIfDue(0));
      clock.advance(Duration.ofSeconds(1));
    }
    loopRuns.set(true);
    for (int s = 0; s < 3; s++) {
      secondOfHealthyPeer(a);
      assertEquals(Optional.empty(), b.own().pollLoop().failBackIfDue(0), "healthy again for " + s + " s");
      clock.advance(Duration.ofSeconds(1));
    }
    secondOfHealthyPeer(a);
    HandoverReport r = b.own().pollLoop().failBackIfDue(0).orElseThrow();
    assertTrue(r.moved(), r.detail());
    assertEquals(2, r.newEpoch());
    assertEquals(A, r.to());
    assertEquals(1.0, b.count("tandem.consumer.failbacks", "outcome", "moved"));
    net.deliver();
    assertTrue(a.own().owns(0));
    assertEquals(Optional.empty(), b.own().pollLoop().failBackIfDue(0), "nothing more to fail back");
  }

  @Test
  void aFailedFailbackIsRetriedOnlyAfterFailbackAfterAgain() {
    Region a = region(A, automatic());
    Region b = failbackRegion(Duration.ofMillis(1), Duration.ofSeconds(5));
    for (int s = 0; s < 3; s++) {
      secondOfHealthyPeer(a);
      assertEquals(Optional.empty(), b.own().pollLoop().failBackIfDue(0), "healthy for " + s + " s");
      clock.advance(Duration.ofSeconds(1));
    }
    net.hold(B); // region-b's change of shard 0 cannot reach region-a
    b.claim("y1", 0);
    secondOfHealthyPeer(a);
    HandoverReport failed = b.own().pollLoop().failBackIfDue(0).orElseThrow();
    assertFalse(failed.moved(), failed.detail());
    assertEquals(1.0, b.count("tandem.consumer.failbacks", "outcome", "aborted"));
    assertEquals(Optional.empty(), b.own().pollLoop().failBackIfDue(0), "not retried at once");
    net.release(B);
    clock.advance(Duration.ofSeconds(3));
    secondOfHealthyPeer(a);
    assertTrue(b.own().pollLoop().failBackIfDue(0).orElseThrow().moved());
  }

  /**
   * Issue 21: renewal never waits behind a failback. Region-b owns shard 0 (taken over; home
   * region-a, healthy, so a failback is due) and shard 1 (its own). The failback's planned handover
   * of shard 0 waits for a batch of shard 0 still in flight — up to catchUpTimeout, here 30 s, far
   * beyond L + margin. Meanwhile region-b's renewal rounds run every second on the caller's thread
   * (the poll loop, the Spring ticker): shard 1's lease must keep being renewed, so region-a, which
   * watches shard 1, never takes it over.
   */
  @Test
  void aSlowFailbackOfOneShardDoesNotStopTheRenewalOfTheRegionsOtherShards() throws Exception {
    Region a = region(A, automatic());
    Region b = region(B, automatic(), o -> o.failbackAfter(Duration.ofSeconds(3))
        .failbackMaxSilence(Duration.ofSeconds(5)).catchUpTimeout(Duration.ofSeconds(30)));
    b.store().mergeLease(ShardLease.of(0, 1, B, b.store().tickHlc())); // took shard 0 over
    OwnerLiveness liveness = OwnerLiveness.builder(b.own())
        .probe(BrokerProbe.of("kafka", t -> true)).clock(clock).meterRegistry(b.meters()).build();
    java.util.concurrent.ExecutorService pollThread =
        java.util.concurrent.Executors.newSingleThreadExecutor();
    try {
      assertEquals(Set.of(0, 1), liveness.renew(Set.of(0, 1), s -> 1L).renewed());
      net.deliver();
      assertEquals(Optional.empty(), a.own().pollLoop().observe(1, Duration.ZERO), "region-a watches shard 1");
      for (int s = 0; s < 3; s++) { // region-a healthy (not yet for failbackAfter): rounds renew
        secondOfHealthyPeer(a);
        assertEquals(Optional.empty(), liveness.renew(Set.of(0, 1), x -> 1L).failback());
        clock.advance(Duration.ofSeconds(1));
      }
      secondOfHealthyPeer(a); // healthy for failbackAfter now: the next round fails shard 0 back
      assertTrue(b.own().pollLoop().beginWork(0), "a batch of shard 0 runs and does not finish soon");

      // the round that starts the failback, then one round a second, as the caller's thread runs them
      List<java.util.concurrent.Future<RenewalOutcome>> rounds = new ArrayList<>();
      rounds.add(pollThread.submit(() -> liveness.renew(Set.of(0, 1), s -> 2L)));
      await().atMost(Duration.ofSeconds(10)).until(() -> !b.own().owns(0)); // draining shard 0
      net.deliver();
      assertEquals(Optional.empty(), a.own().pollLoop().observe(1, Duration.ZERO));
      for (int second = 1; second <= 12; second++) {
        clock.advance(Duration.ofSeconds(1));
        rounds.add(pollThread.submit(() -> liveness.renew(Set.of(0, 1), s -> 2L)));
        try {
          rounds.get(rounds.size() - 1).get(1, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException stillWaiting) {
          // the caller's thread has not come back to run this round: seen in the assertion below
        }
        net.deliver();
        Optional<TakeoverReport> t = a.own().pollLoop().observe(1, Duration.ZERO);
        assertEquals(Optional.empty(), t, "region-b's shard 1 lapsed " + second + " s into the"
            + " failback of shard 0 (rounds returned: "
            + rounds.stream().filter(java.util.concurrent.Future::isDone).count() + " of "
            + rounds.size() + ")");
      }
      assertEquals(B, a.store().lease(1).orElseThrow().owner());

      b.own().pollLoop().endWork(0); // the batch ends: the failback hands shard 0 over
      // the failback's thread counts the move once its handover returns, just after region-a
      // acknowledged the new lease: wait for both
      await().atMost(Duration.ofSeconds(10)).until(() -> {
        net.deliver();
        return a.own().owns(0) && b.count("tandem.consumer.failbacks", "outcome", "moved") > 0;
      });
      assertEquals(1.0, b.count("tandem.consumer.failbacks", "outcome", "moved"));
      assertTrue(a.own().owns(0));
    } finally {
      b.own().pollLoop().endWork(0);
      clock.advance(Duration.ofSeconds(60)); // a handover still waiting gives up: its thread ends
      pollThread.shutdownNow();
      pollThread.awaitTermination(10, TimeUnit.SECONDS);
    }
  }

  // ------------------------------------------------------------------ WITNESS

  /** A witness on the manual clock: grants a shard to another region only after lease + margin. */
  static final class MemoryWitness implements TakeoverWitness {
    final ManualClock clock;
    final Duration lease;
    final Duration margin;
    final Map<Integer, Object[]> held = new HashMap<>(); // holder, epoch, renewedAtNanos

    MemoryWitness(ManualClock clock, Duration lease, Duration margin) {
      this.clock = clock;
      this.lease = lease;
      this.margin = margin;
    }

    @Override
    public synchronized WitnessGrant acquire(int shard, RegionId candidate, long epoch) {
      long now = clock.nanoTime();
      Object[] h = held.get(shard);
      if (h == null || h[0].equals(candidate)
          || now - (long) h[2] > lease.plus(margin).toNanos()) {
        long e = h == null ? epoch : Math.max(epoch, (long) h[1]);
        held.put(shard, new Object[] {candidate, e, now});
        return WitnessGrant.granted(candidate, e, now + lease.minus(margin).toNanos());
      }
      return WitnessGrant.refused((RegionId) h[0], (long) h[1]);
    }

    synchronized long renewedAt(int shard) {
      Object[] h = held.get(shard);
      return h == null ? Long.MIN_VALUE : (long) h[2];
    }

    @Override
    public synchronized void release(int shard, RegionId holder) {
      Object[] h = held.get(shard);
      if (h != null && h[0].equals(holder)) {
        held.remove(shard);
      }
    }

    @Override
    public Duration leaseDuration() {
      return lease;
    }

    @Override
    public void close() {}
  }

  /**
   * WITNESS: an owner partitioned from its peer but reaching the witness keeps its shard (no
   * duplicates from the partition) and keeps its window; once it stops renewing, the witness grants
   * the next epoch and the bound holds although the old owner's changelog cannot be read.
   */
  @Test
  void underWitnessAPartitionedOwnerKeepsItsShardUntilItStopsAndThenTheBoundHolds() {
    Duration lease = Duration.ofSeconds(8);
    MemoryWitness witness = new MemoryWitness(clock, lease, Duration.ofSeconds(2));
    WitnessPolicy pa = WitnessPolicy.builder(witness).renewEvery(Duration.ofMillis(20))
        .nanoTime(clock::nanoTime).build();
    WitnessPolicy pb = WitnessPolicy.builder(witness).renewEvery(Duration.ofMillis(20))
        .nanoTime(clock::nanoTime).build();
    Region a = region(A, pa);
    Region b = region(B, pb);
    assertFalse(a.own().owns(0), "no grant yet");
    clock.advance(Duration.ofSeconds(1)); // WitnessPolicy reads an alive-at of 0 as "never"
    a.own().pollLoop().heartbeat(0, 1); // ownerAlive: the renewer asks the witness
    await().atMost(Duration.ofSeconds(10)).until(() -> pa.holds(0));
    assertTrue(a.own().owns(0));
    net.deliver();
    b.own().pollLoop().observe(0, Duration.ZERO);

    net.partition(A);
    for (int i = 0; i < 3; i++) { // region-a's loop runs and reaches the witness: it renews
      clock.advance(Duration.ofSeconds(4));
      long now = clock.nanoTime();
      a.own().pollLoop().ownerAlive(0);
      await().atMost(Duration.ofSeconds(10)).until(() -> witness.renewedAt(0) == now);
    }
    assertEquals(Optional.empty(), b.own().pollLoop().observe(0, Duration.ZERO),
        "silent 12 s at region-b, but the witness keeps the shard with region-a");
    assertEquals(1.0, b.count("tandem.consumer.witness.requests", "kind", "claim",
        "outcome", "refused"));
    for (int i = 0; i < W; i++) {
      a.claim("x" + i, 0);
    }
    assertTrue(a.own().pollLoop().windowFull(0), "WITNESS keeps the window while the peer is unreachable");

    clock.advance(lease.plus(Duration.ofSeconds(1))); // region-a stopped: no ownerAlive
    assertFalse(pa.holds(0));
    assertFalse(a.own().owns(0), "its grant ran out: it stops before the witness grants the peer");
    clock.advance(Duration.ofSeconds(10));
    TakeoverReport r = b.own().pollLoop().observe(0, Duration.ZERO).orElseThrow();
    assertEquals(1, r.newEpoch());
    assertFalse(r.ownerChangelog().complete());
    assertEquals(W, r.windowAdded());
    assertEquals(TakeoverReport.BoundKind.HOLDS, r.boundKind(),
        "the grant proves region-a stopped, and it kept its window: " + r);
    assertTrue(b.own().owns(0));
  }
  /**
   * A witness-granted takeover is not re-checked against the lease it read (GRANTED), so when its
   * catch-up shows the shard was meanwhile handed over to this very region (a planned handover or
   * failback whose lease this replica had not applied yet, the old owner having released its
   * witness lease), it must not take the shard over from itself: no epoch + 1 on top of the
   * handover's, no takeover report "from region-b to region-b", no bound counted.
   */
  @Test
  void aGrantedTakeoverThatFindsTheShardHandedToItselfDoesNotTakeItOverFromItself() {
    Duration lease = Duration.ofSeconds(8);
    MemoryWitness witness = new MemoryWitness(clock, lease, Duration.ofSeconds(2));
    WitnessPolicy pa = WitnessPolicy.builder(witness).renewEvery(Duration.ofMillis(20))
        .nanoTime(clock::nanoTime).build();
    WitnessPolicy pb = WitnessPolicy.builder(witness).renewEvery(Duration.ofMillis(20))
        .nanoTime(clock::nanoTime).build();
    Region a = region(A, pa);
    Region b = region(B, pb);
    clock.advance(Duration.ofSeconds(1));
    a.own().pollLoop().heartbeat(0, 1);
    await().atMost(Duration.ofSeconds(10)).until(() -> pa.holds(0));
    net.deliver();
    b.own().pollLoop().observe(0, Duration.ZERO);

    HandoverReport h = a.own().handOver(0, B, Duration.ofSeconds(10));
    assertTrue(h.moved(), h.detail());
    assertEquals(1, h.newEpoch());
    // region-b's changelog holds the handover (acknowledged), its replica has not read it yet
    clock.advance(lease.plus(NANO));
    Optional<TakeoverReport> r = b.own().pollLoop().observe(0, Duration.ZERO);

    assertEquals(Optional.empty(), r, "the catch-up shows shard 0 is region-b's already");
    ShardLease l = b.store().lease(0).orElseThrow();
    assertEquals(B, l.owner());
    assertEquals(1, l.epoch(), "the handover's epoch, not one more: " + l);
    assertEquals(0.0, b.count("tandem.consumer.takeovers"));
    assertTrue(b.own().owns(0), "region-b processes it under the witness grant it just got");
  }
}
