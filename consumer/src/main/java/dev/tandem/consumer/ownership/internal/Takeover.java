package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardObservation;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverDecision;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.store.Phase;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.CatchUpResult;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Takeover and its bound (not API): a follower watches each shard's lease on its own monotonic clock
 * ({@link #observe}), the policy decides, and a takeover reads this region's changelog to the end
 * and the old owner region's where its broker answers, writes epoch + 1 and reports the duplicate
 * bound — claimed-not-completed, plus the old owner's window W when its changelog could not be read
 * (then the bound holds only if the old owner stopped), or unknown when its window was lifted.
 * Keeps every {@link TakeoverReport} of this instance (operator moves add theirs through {@link
 * #record}).
 */
public final class Takeover {

  private static final Logger log = LoggerFactory.getLogger(ShardOwnership.class);

  private final OwnershipContext ctx;
  private final LeaseView leases;
  private final ReplicationWindow window;
  private final Map<Integer, Watch> watches = new ConcurrentHashMap<>();
  private final List<TakeoverReport> reports = new CopyOnWriteArrayList<>();
  private final Counter takeovers;
  private final DistributionSummary bounds;
  private final DistributionSummary conditionalBounds;
  private final Counter unknownBounds;

  /** What a follower last saw of a shard's lease, on its own monotonic clock. */
  private static final class Watch {
    long epoch;
    long heartbeatHlc;
    long position;
    long changedAtNanos;
    long progressAtNanos;
  }

  public Takeover(OwnershipContext ctx, LeaseView leases, ReplicationWindow window) {
    this.ctx = ctx;
    this.leases = leases;
    this.window = window;
    String region = ctx.self().name();
    takeovers = Counter.builder(ConsumerMeterNames.TAKEOVERS).tag("region", region)
        .tag("policy", ctx.policy().name()).description("shards taken over by this region")
        .register(ctx.registry());
    bounds = DistributionSummary.builder(ConsumerMeterNames.DUPLICATE_BOUND).tag("region", region)
        .description("duplicate bound reported at each takeover, where it holds")
        .register(ctx.registry());
    conditionalBounds = DistributionSummary.builder(ConsumerMeterNames.DUPLICATE_BOUND_CONDITIONAL)
        .tag("region", region)
        .description("duplicate bound of takeovers whose old owner's changelog could not be read:"
            + " holds only if the old owner stopped; duplicates beyond it are detected")
        .register(ctx.registry());
    unknownBounds = Counter.builder(ConsumerMeterNames.DUPLICATE_BOUND_UNKNOWN)
        .tag("region", region)
        .description("takeovers whose duplicate bound is unknown (window lifted)")
        .register(ctx.registry());
  }

  /**
   * A follower's periodic look at {@code shard}: tracks the lease on this machine's monotonic clock,
   * asks the policy, and takes the shard over if it says so.
   */
  public Optional<TakeoverReport> observe(int shard, Duration heldFor) {
    ShardLease l = leases.lease(shard);
    if (l.owner().equals(ctx.self())) {
      return Optional.empty();
    }
    long now = ctx.clock().nanoTime();
    Watch w = watches.computeIfAbsent(shard, s -> {
      Watch n = new Watch();
      n.epoch = l.epoch();
      n.heartbeatHlc = l.heartbeatHlc();
      n.position = l.position();
      n.changedAtNanos = now;
      n.progressAtNanos = now;
      return n;
    });
    synchronized (w) {
      if (w.epoch != l.epoch() || w.heartbeatHlc != l.heartbeatHlc()) {
        w.epoch = l.epoch();
        w.heartbeatHlc = l.heartbeatHlc();
        w.changedAtNanos = now;
      }
      if (w.position != l.position()) {
        w.position = l.position();
        w.progressAtNanos = now;
      }
      ShardObservation o = new ShardObservation(shard, l, ctx.self(),
          Duration.ofNanos(now - w.changedAtNanos), heldFor,
          Duration.ofNanos(now - w.progressAtNanos));
      Optional<TakeoverDecision> why = ctx.policy().shouldTakeOver(o);
      if (why.isEmpty()) {
        return Optional.empty();
      }
      Optional<TakeoverReport> r = takeOver(shard, why.get().reason(), l, why.get().basis(), true);
      if (r.isEmpty()) {
        // cancelled: measure silence afresh from now
        w.changedAtNanos = ctx.clock().nanoTime();
        w.progressAtNanos = w.changedAtNanos;
      }
      return r;
    }
  }

  /**
   * Takes {@code shard} over unconditionally (an operator's or a witness's decision).
   *
   * @throws IllegalStateException if this region owns {@code shard}, or the catch-up shows it does
   */
  public TakeoverReport takeOver(int shard, String reason) {
    return takeOver(shard, reason, leases.lease(shard), TakeoverDecision.Basis.GRANTED, false)
        .orElseThrow();
  }

  /**
   * A policy's takeover, re-checked after the catch-ups: cancelled (empty) when this region's own
   * changelog cannot be read (the silence may be ours: our broker was down, so the owner's
   * heartbeats could not reach us), when another epoch appeared, or when what the decision rested on
   * changed (a newer heartbeat for SILENCE, a new position for NO_PROGRESS).
   */
  private Optional<TakeoverReport> takeOver(int shard, String reason, ShardLease observed,
      TakeoverDecision.Basis basis, boolean byPolicy) {
    RegionId self = ctx.self();
    OwnershipPolicy policy = ctx.policy();
    long t0 = ctx.clock().nanoTime();
    ShardLease old = leases.lease(shard);
    if (old.owner().equals(self)) {
      throw new IllegalStateException("shard " + shard + " is already owned by " + self);
    }
    Set<Integer> one = Set.of(shard);
    CatchUpResult own = ctx.replication().catchUp(self, one, ctx.catchUpTimeout());
    if (!own.complete() && basis != TakeoverDecision.Basis.GRANTED) {
      log.warn("Tandem {} does not take shard {} over ({}): its own changelog could not be read: {}",
          self, shard, reason, own);
      return Optional.empty();
    }
    CatchUpResult theirs = ctx.replication().catchUp(old.owner(), one, ctx.catchUpTimeout());
    // the catch-ups may have brought a newer lease (the owner's last heartbeats): take over that one
    ShardLease latest = leases.lease(shard);
    if (latest.owner().equals(self)) {
      // a handover or failback to this region that its replica had not applied yet: nothing to take
      // over (a GRANTED decision is not re-checked below, and would write epoch + 1 from itself)
      log.info("Tandem {} does not take shard {} over ({}): the caught-up lease names it already: {}",
          self, shard, reason, latest);
      if (!byPolicy) {
        throw new IllegalStateException("shard " + shard + " is already owned by " + self);
      }
      return Optional.empty();
    }
    boolean changed = switch (basis) {
      case SILENCE -> latest.epoch() != observed.epoch()
          || latest.heartbeatHlc() != observed.heartbeatHlc();
      case NO_PROGRESS -> latest.epoch() != observed.epoch()
          || latest.position() != observed.position();
      case GRANTED -> false;
    };
    if (changed) {
      log.warn("Tandem {} cancels the takeover of shard {} ({}): the lease moved meanwhile: {}", self,
          shard, reason, latest);
      return Optional.empty();
    }
    ShardLease next = ctx.store().mergeLease(latest.takenOverBy(self, ctx.store().tickHlc()));
    leases.wrote(next);
    long claimed = claimedNotCompleted(shard);
    long windowAdded = 0;
    String unknown = null;
    if (!theirs.complete()) {
      boolean lifted = policy.liftsWindowWhenPeerUnreachable()
          || ReplicationWindow.WINDOW_LIFTED.equals(
              latest.attributes().get(ReplicationWindow.WINDOW_ATTRIBUTE));
      if (latest.heartbeatHlc() != 0 && !latest.peerReachable() && lifted) {
        unknown = "the old owner's changelog could not be read (" + theirs.reason()
            + ") and its last heartbeat said the peer was unreachable, so its window was lifted";
      } else {
        // W from the owner's last heartbeat; before any heartbeat, this deployment's W
        windowAdded = latest.heartbeatHlc() != 0 ? latest.window() : window.size();
      }
      window.presumePeerGone();
    }
    // the old owner's changelog could not be read: a dead owner and one alive behind a partition
    // look the same from here (its "peer unreachable" heartbeat is in its spool), so the number holds
    // only if it stopped — unless the policy's decision proves it did (a witness grant)
    boolean conditional = !theirs.complete() && unknown == null
        && !(byPolicy && policy.takeoverProvesOwnerStopped());
    TakeoverReport report = new TakeoverReport(shard, latest.owner(), self, next.epoch(), reason,
        claimed, windowAdded, unknown, conditional, own, theirs,
        Duration.ofNanos(ctx.clock().nanoTime() - t0));
    record(report);
    watches.remove(shard);
    log.warn("Tandem {}", report);
    return Optional.of(report);
  }

  /** Claims of {@code shard} this replica holds without a completion: what may run again. */
  public long claimedNotCompleted(int shard) {
    long[] claimed = {0};
    ctx.store().forEach(shard, r -> {
      if (r.phase() == Phase.CLAIMED) {
        claimed[0]++;
      }
    });
    return claimed[0];
  }

  /** Keeps a takeover's report (a policy's, or an operator's move) and counts its bound. */
  public void record(TakeoverReport r) {
    reports.add(r);
    takeovers.increment();
    switch (r.boundKind()) {
      case HOLDS -> bounds.record(r.bound().getAsLong());
      case HOLDS_IF_OLD_OWNER_STOPPED -> conditionalBounds.record(r.bound().getAsLong());
      case UNKNOWN -> unknownBounds.increment();
    }
  }

  /** Forgets what this instance watched of {@code shard}. */
  public void forget(int shard) {
    watches.remove(shard);
  }

  /** Every takeover this instance made, in order. */
  public List<TakeoverReport> reports() {
    return new ArrayList<>(reports);
  }
}
