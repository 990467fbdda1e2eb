package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.ownership.HandoverReport;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The planned handover of a shard from this region, its owner, to another (not API): drain the
 * shard ({@link HandoverGates}), wait until the peer's changelog acknowledged every change of it,
 * and only then write the lease for the peer at epoch + 1 — zero duplicates, because every
 * completion is ahead of the new lease in the same changelog. Any step not done within the timeout
 * leaves the shard here at the same epoch. It waits (up to its timeout): never run it where a lease
 * renewal waits for it (issue 21).
 */
public final class Handover {

  private static final Logger log = LoggerFactory.getLogger(ShardOwnership.class);

  private final OwnershipContext ctx;
  private final LeaseView leases;
  private final HandoverGates gates;

  public Handover(OwnershipContext ctx, LeaseView leases, HandoverGates gates) {
    this.ctx = ctx;
    this.leases = leases;
    this.gates = gates;
  }

  /** Registered at the first handover of each outcome (as before the split: no zero series). */
  private Counter counter(String outcome) {
    return Counter.builder(ConsumerMeterNames.HANDOVERS).tag("region", ctx.self().name())
        .tag("outcome", outcome).description("planned handovers started by this region")
        .register(ctx.registry());
  }

  /**
   * Hands {@code shard} over to {@code to} (see the class doc); with {@code evacuation} the new lease
   * is marked as evacuated from this region ({@link Evacuations}).
   *
   * @throws IllegalArgumentException if {@code to} is this region or not one of the regions
   * @throws IllegalStateException if this region does not own {@code shard}, or a handover of it runs
   */
  public HandoverReport handOver(int shard, RegionId to, Duration timeout, boolean evacuation) {
    Objects.requireNonNull(to, "to");
    Objects.requireNonNull(timeout, "timeout");
    RegionId self = ctx.self();
    if (to.equals(self) || !ctx.regions().contains(to)) {
      throw new IllegalArgumentException("cannot hand shard " + shard + " over to " + to
          + " (regions " + ctx.regions() + ", this region " + self + ")");
    }
    long t0 = ctx.clock().nanoTime();
    long deadline = t0 + timeout.toNanos();
    ShardLease l = leases.lease(shard);
    if (!l.owner().equals(self)) {
      throw new IllegalStateException("shard " + shard + " is owned by " + l.owner() + ", not " + self);
    }
    gates.startDraining(shard);
    try {
      int inFlight = gates.awaitDrained(shard, deadline, ctx.clock()::nanoTime);
      if (inFlight > 0) {
        return aborted(shard, to, l, t0, inFlight + " batch(es) still in flight after " + timeout);
      }
      try {
        ctx.replication().barrier(shard, to)
            .get(Math.max(0, deadline - ctx.clock().nanoTime()), TimeUnit.NANOSECONDS);
      } catch (TimeoutException | ExecutionException e) {
        return aborted(shard, to, l, t0, to + " did not acknowledge this region's changes of"
            + " the shard within " + timeout + ": " + e);
      }
      ShardLease latest = leases.lease(shard);
      if (latest.epoch() != l.epoch() || !latest.owner().equals(self)) {
        return aborted(shard, to, l, t0, "the lease moved meanwhile: " + latest);
      }
      ShardLease next = ctx.store().mergeLease(Evacuations.mark(
          latest.takenOverBy(to, ctx.store().tickHlc()), evacuation ? self : null));
      leases.wrote(next);
      ctx.policy().released(shard);
      boolean acked;
      try {
        ctx.replication().barrier(shard, to)
            .get(Math.max(1, deadline - ctx.clock().nanoTime()), TimeUnit.NANOSECONDS);
        acked = true;
      } catch (TimeoutException | ExecutionException e) {
        acked = false;
      }
      HandoverReport r = new HandoverReport(shard, self, to, true, next.epoch(), acked,
          "handed over at epoch " + next.epoch() + " after " + to + " acknowledged every change",
          Duration.ofNanos(ctx.clock().nanoTime() - t0));
      counter("moved").increment();
      log.info("Tandem {}", r);
      return r;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return aborted(shard, to, l, t0, "interrupted");
    } finally {
      gates.stopDraining(shard);
    }
  }

  private HandoverReport aborted(int shard, RegionId to, ShardLease l, long t0, String why) {
    HandoverReport r = new HandoverReport(shard, ctx.self(), to, false, l.epoch(), false,
        "not handed over, the shard stays with " + ctx.self() + ": " + why,
        Duration.ofNanos(ctx.clock().nanoTime() - t0));
    counter("aborted").increment();
    log.warn("Tandem {}", r);
    return r;
  }
}
