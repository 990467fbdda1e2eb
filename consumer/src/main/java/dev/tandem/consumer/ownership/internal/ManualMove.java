package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.ownership.MoveReport;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.CatchUpResult;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An operator's move of a shard to this region (not API): MANUAL policy, or any policy in an
 * emergency. Writes the new epoch FIRST, so this region's claims supersede the old owner's from then
 * on, waits for the old owner region's changelog to acknowledge it, then reads the changelogs and
 * reports the bound like a {@link Takeover} — which holds only when the old owner acknowledged.
 */
public final class ManualMove {

  private static final Logger log = LoggerFactory.getLogger(ShardOwnership.class);

  private final OwnershipContext ctx;
  private final LeaseView leases;
  private final ReplicationWindow window;
  private final Takeover takeover;
  private final Counter acknowledged;
  private final Counter unacknowledged;

  public ManualMove(OwnershipContext ctx, LeaseView leases, ReplicationWindow window,
      Takeover takeover) {
    this.ctx = ctx;
    this.leases = leases;
    this.window = window;
    this.takeover = takeover;
    this.acknowledged = counter("acknowledged");
    this.unacknowledged = counter("unacknowledged");
  }

  private Counter counter(String outcome) {
    return Counter.builder(ConsumerMeterNames.MANUAL_MOVES).tag("region", ctx.self().name())
        .tag("outcome", outcome).description("operator moves of a shard to this region")
        .register(ctx.registry());
  }

  /**
   * Moves {@code shard} here; with {@code evacuation} the lease is marked as evacuated from the old
   * owner ({@link Evacuations}).
   *
   * @throws IllegalStateException if this region already owns {@code shard}
   */
  public MoveReport move(int shard, Duration timeout, boolean evacuation) {
    Objects.requireNonNull(timeout, "timeout");
    RegionId self = ctx.self();
    long t0 = ctx.clock().nanoTime();
    ShardLease old = leases.lease(shard);
    if (old.owner().equals(self)) {
      throw new IllegalStateException("shard " + shard + " is already owned by " + self);
    }
    // cut off from the old owner now, it is cut off from us too: under a policy that lifts the window
    // it may have run on with it lifted, so an acknowledgement that arrives later bounds nothing
    boolean reachableAtMove = ctx.replication().peerReachable();
    ShardLease next = ctx.store().mergeLease(Evacuations.mark(
        old.takenOverBy(self, ctx.store().tickHlc()), evacuation ? old.owner() : null));
    leases.wrote(next);
    takeover.forget(shard);
    boolean acked;
    String ackFailure = null;
    try {
      ctx.replication().barrier(shard, old.owner()).get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      acked = true;
    } catch (TimeoutException | ExecutionException e) {
      acked = false;
      ackFailure = e.toString();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      acked = false;
      ackFailure = "interrupted";
    }
    Set<Integer> one = Set.of(shard);
    CatchUpResult own = ctx.replication().catchUp(self, one, ctx.catchUpTimeout());
    CatchUpResult theirs = ctx.replication().catchUp(old.owner(), one, ctx.catchUpTimeout());
    long claimed = takeover.claimedNotCompleted(shard);
    // until the old owner applies the new lease it may claim at most its window W ahead of us
    long w = old.heartbeatHlc() != 0 && old.window() > 0 ? old.window() : window.size();
    String unknown = acked ? null : old.owner() + " did not acknowledge epoch " + next.epoch()
        + " within " + timeout + " (" + ackFailure + "); it may process the shard until it reads"
        + " the new lease, so duplicates are detected by the store, not bounded";
    if (unknown == null && !reachableAtMove && ctx.policy().liftsWindowWhenPeerUnreachable()) {
      unknown = old.owner() + " was unreachable when the move was written, so it may have run with"
          + " its window lifted until it acknowledged epoch " + next.epoch()
          + "; duplicates are detected by the store, not bounded";
    }
    // acknowledged: the old owner read the new epoch and stops, so the number holds
    TakeoverReport t = new TakeoverReport(shard, old.owner(), self, next.epoch(),
        "operator move", claimed, acked ? w : 0, unknown, false, own, theirs,
        Duration.ofNanos(ctx.clock().nanoTime() - t0));
    takeover.record(t);
    (acked ? acknowledged : unacknowledged).increment();
    if (!acked) {
      window.presumePeerGone(); // the operator moved it away from a region it cannot reach
    }
    MoveReport m = new MoveReport(t, acked, t.bound().isPresent()
        ? "the old owner " + old.owner() + " acknowledged epoch " + next.epoch()
            + "; duplicates <= " + t.bound().getAsLong()
        : unknown);
    log.warn("Tandem move of shard {} to {}: {}; {}", shard, self, m.detail(), t);
    return m;
  }
}
