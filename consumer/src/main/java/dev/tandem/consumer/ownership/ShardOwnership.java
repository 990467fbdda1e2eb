package dev.tandem.consumer.ownership;

import dev.tandem.consumer.ShardFence;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.CatchUpResult;
import dev.tandem.store.replication.ReplicationLag;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which region owns each shard, held as {@link ShardLease} records in the replicated store
 * ({@code docs/design.md#processing-once-across-regions}).
 *
 * <ul>
 *   <li>Initial owner: {@code sorted(regions)[shard % n]} at epoch 0 — both regions agree without
 *       talking, and work spreads over regions. No record exists until the first heartbeat.
 *   <li>{@link #heartbeat}: the owner's poll loop renews its lease (position, W, changes the peer has
 *       not acknowledged, whether the peer is reachable) — only after a successful fetch from its own
 *       broker, which the caller guarantees.
 *   <li>{@link #observe}: a follower measures, on its own monotonic clock, how long the lease has not
 *       changed; the {@link OwnershipPolicy} decides whether to take over.
 *   <li>{@link #takeOver}: reads the own changelog to the end and the old owner region's where its
 *       broker answers, writes epoch + 1, and reports the duplicate bound.
 *   <li>{@link #fence()}: an owner that sees a higher epoch (or another owner) stops at once.
 * </ul>
 *
 * <p>Thread-safe; intended to be driven by one poll loop per instance, whose background lease renewer
 * may call {@link #heartbeat} and {@link #ownerAlive} from another thread (a lease write is a merge
 * under the store's lock, and a renewal of an older epoch never wins over a takeover or handover).
 */
public final class ShardOwnership {

  private static final Logger log = LoggerFactory.getLogger(ShardOwnership.class);

  private final RegionId self;
  private final List<RegionId> regions;
  private final IdempotencyStore store;
  private final ReplicationLog replication;
  private final OwnershipPolicy policy;
  private final int window;
  private final Duration catchUpTimeout;
  private final Duration revalidateAfter;
  private final Duration failbackAfter;
  private final Duration failbackMaxSilence;
  private final TandemClock clock;
  /** Per region: since when (monotonic) its replica's heartbeats have been fresh; absent if not. */
  private final Map<RegionId, Long> healthySince = new ConcurrentHashMap<>();
  /** Per shard: when a failback was last tried (monotonic), so a failed one is not retried at once. */
  private final Map<Integer, Long> failbackTried = new ConcurrentHashMap<>();
  /** Per shard: the epoch whose failback an evacuation held (logged and counted once per epoch). */
  private final Map<Integer, Long> failbackHeld = new ConcurrentHashMap<>();
  private final Map<Integer, Watch> watches = new ConcurrentHashMap<>();
  private final Map<Integer, AtomicLong> epochs = new ConcurrentHashMap<>();
  private final Map<Integer, AtomicLong> owned = new ConcurrentHashMap<>();
  private final List<TakeoverReport> reports = new CopyOnWriteArrayList<>();
  private final MeterRegistry registry;
  private final Counter takeovers;
  private final DistributionSummary bounds;
  private final DistributionSummary conditionalBounds;
  private final Counter unknownBounds;
  private final Counter manualMoves;
  private final Counter failbacks;
  private final Counter failbacksAborted;
  private final Counter failbacksHeld;
  private final Counter manualMovesUnacked;
  /**
   * Set when this region took a shard over from a peer whose changelog it could not read (or an
   * operator moved one away from an unreachable peer): the peer is presumed gone, so this region lifts
   * the window of every shard it owns while the peer stays unreachable, under every policy. Cleared as
   * soon as the peer is reachable again. Under WITNESS the takeover was granted only after the peer
   * stopped renewing that shard's witness lease; availability in a region crash is bought with a
   * double-fault gap (see {@link WitnessPolicy}): duplicates beyond a later bound are then detected.
   */
  private volatile boolean peerPresumedGone;
  /** Lease attribute an owner sets in its heartbeats while it runs a shard with its window lifted. */
  static final String WINDOW_ATTRIBUTE = "window";
  static final String WINDOW_LIFTED = "lifted";
  /**
   * Lease attribute of a shard an operator evacuated (value: the evacuated region's name), written
   * by an evacuation's handover and kept by the new owner's renewals: automatic failback leaves such
   * a shard where it is until a return moves it back ({@code docs/design.md#remote-ownership-requests}).
   */
  public static final String EVACUATED_FROM_ATTRIBUTE = "evacuated.from";
  /** Per shard: whether a planned handover is draining it, and how many batches run on it now. */
  private final Map<Integer, Gate> gates = new ConcurrentHashMap<>();

  /** What a follower last saw of a shard's lease, on its own monotonic clock. */
  private static final class Watch {
    long epoch;
    long heartbeatHlc;
    long position;
    long changedAtNanos;
    long progressAtNanos;
  }

  /**
   * The handover gate of one shard. Invariant: while {@code draining}, {@link #beginWork} admits no
   * new batch, so once {@code inFlight} reaches 0 nothing of this region runs on the shard.
   */
  private static final class Gate {
    boolean draining;
    int inFlight;
  }

  private ShardOwnership(Builder b) {
    this.self = b.self;
    this.regions = b.regions.stream().sorted().distinct().toList();
    if (!regions.contains(self)) {
      throw new IllegalArgumentException("regions " + regions + " must include this region " + self);
    }
    this.store = b.store;
    this.replication = b.replication;
    this.policy = b.policy;
    this.window = b.window;
    this.catchUpTimeout = b.catchUpTimeout;
    this.revalidateAfter = b.revalidateAfter;
    this.failbackAfter = b.failbackAfter;
    this.failbackMaxSilence = b.failbackMaxSilence;
    this.clock = b.clock;
    this.registry = b.registry;
    policy.attach(self, registry, this::lease);
    String region = self.name();
    manualMoves = Counter.builder("tandem.consumer.manual.moves").tag("region", region)
        .tag("outcome", "acknowledged").description("operator moves of a shard to this region")
        .register(registry);
    failbacks = Counter.builder("tandem.consumer.failbacks").tag("region", region)
        .tag("outcome", "moved").description("shards handed back to their recovered home region")
        .register(registry);
    failbacksAborted = Counter.builder("tandem.consumer.failbacks").tag("region", region)
        .tag("outcome", "aborted").description("shards handed back to their recovered home region")
        .register(registry);
    failbacksHeld = Counter.builder("tandem.consumer.failbacks").tag("region", region)
        .tag("outcome", "held").description("shards handed back to their recovered home region")
        .register(registry);
    manualMovesUnacked = Counter.builder("tandem.consumer.manual.moves").tag("region", region)
        .tag("outcome", "unacknowledged").description("operator moves of a shard to this region")
        .register(registry);
    takeovers = Counter.builder("tandem.consumer.takeovers").tag("region", region)
        .tag("policy", policy.name()).description("shards taken over by this region")
        .register(registry);
    bounds = DistributionSummary.builder("tandem.consumer.duplicate.bound").tag("region", region)
        .description("duplicate bound reported at each takeover, where it holds").register(registry);
    conditionalBounds = DistributionSummary.builder("tandem.consumer.duplicate.bound.conditional")
        .tag("region", region)
        .description("duplicate bound of takeovers whose old owner's changelog could not be read:"
            + " holds only if the old owner stopped; duplicates beyond it are detected")
        .register(registry);
    unknownBounds = Counter.builder("tandem.consumer.duplicate.bound.unknown").tag("region", region)
        .description("takeovers whose duplicate bound is unknown (window lifted)").register(registry);
    Gauge.builder("tandem.consumer.detected.duplicates", store, IdempotencyStore::detectedDuplicates)
        .tag("region", region).description("cross-region duplicates detected by the store")
        .register(registry);
    for (RegionId peer : regions) {
      if (!peer.equals(self)) {
        Gauge.builder("tandem.consumer.replication.lag.seen", replication, r -> lagSeconds(r, peer))
            .tag("region", region).tag("origin", peer.name()).baseUnit("seconds")
            .description("replication lag from the peer as seen by this consumer")
            .register(registry);
      }
    }
  }

  private static double lagSeconds(ReplicationLog r, RegionId peer) {
    try {
      ReplicationLag lag = r.lag(peer);
      return lag.time().map(d -> d.toNanos() / 1e9).orElse(Double.NaN);
    } catch (RuntimeException e) {
      return Double.NaN;
    }
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** This region. */
  public RegionId self() {
    return self;
  }

  /** The owner of {@code shard} before any takeover: {@code sorted(regions)[shard % n]}. */
  public RegionId initialOwner(int shard) {
    return regions.get(shard % regions.size());
  }

  /** The newest lease of {@code shard} this replica holds, or the implicit initial lease. */
  public ShardLease lease(int shard) {
    ShardLease l = store.lease(shard).orElseGet(() -> ShardLease.of(shard, 0, initialOwner(shard), 0));
    epochGauge(shard).set(l.epoch());
    ownedGauge(shard).set(l.owner().equals(self) ? 1 : 0);
    return l;
  }

  /** Whether this region owns {@code shard} now (and the policy lets it process). */
  public boolean owns(int shard) {
    ShardLease l = lease(shard);
    return l.owner().equals(self) && !draining(shard) && policy.mayProcess(shard, l.epoch());
  }

  /** The current epoch of {@code shard}. */
  public long epoch(int shard) {
    return lease(shard).epoch();
  }

  /** The fence for {@code OnceProcessor}: this region owns the shard under exactly that epoch. */
  public ShardFence fence() {
    return (shard, epoch) -> {
      ShardLease l = lease(shard);
      return l.owner().equals(self) && l.epoch() == epoch && !draining(shard)
          && policy.mayProcess(shard, epoch);
    };
  }

  /** The replication window W: the owner pauses a shard while this many changes await the peer. */
  public int window() {
    return window;
  }

  /**
   * Whether the owner must pause {@code shard}: W changes unacknowledged, and the peer reachable or
   * the policy keeping the window while it is not ({@link
   * OwnershipPolicy#liftsWindowWhenPeerUnreachable}).
   */
  public boolean windowFull(int shard) {
    return windowRoom(shard) <= 0;
  }

  /**
   * How many more changes of {@code shard} this owner may make before the window is full: W minus
   * the changes the peer has not acknowledged, or {@link Long#MAX_VALUE} while the window is lifted.
   * The poll loop admits at most as many messages as fit (each makes a claim and a completion), so
   * the peer never trails by more than W changes — the W in the duplicate bound.
   */
  public long windowRoom(int shard) {
    long unacked = replication.unackedByPeers(shard);
    if (replication.peerReachable()) {
      peerPresumedGone = false; // the peer is back: the window holds again
    } else if (windowLifted(shard)) {
      return Long.MAX_VALUE;
    }
    return Math.max(0, window - unacked);
  }

  /** Whether this owner runs {@code shard} with its window lifted now (peer unreachable). */
  private boolean windowLifted(int shard) {
    return !replication.peerReachable()
        && (policy.liftsWindowWhenPeerUnreachable() || peerPresumedGone);
  }

  /**
   * Renews this region's lease of {@code shard} with a heartbeat. The caller calls it only after a
   * successful fetch from its own region's broker. Does nothing if this region does not own it.
   */
  public void heartbeat(int shard, long position) {
    ShardLease l = lease(shard);
    if (!l.owner().equals(self)) {
      return;
    }
    Map<String, String> attributes = new java.util.TreeMap<>();
    if (windowLifted(shard)) {
      attributes.put(WINDOW_ATTRIBUTE, WINDOW_LIFTED);
    }
    String evacuatedFrom = l.attributes().get(EVACUATED_FROM_ATTRIBUTE);
    if (evacuatedFrom != null) {
      // an operator's evacuation holds until a return writes a new lease (failBackIfDue)
      attributes.put(EVACUATED_FROM_ATTRIBUTE, evacuatedFrom);
    }
    store.mergeLease(l.renewed(store.tickHlc(), position, window, replication.unackedByPeers(shard),
        replication.peerReachable(), attributes));
    policy.ownerAlive(shard);
  }

  /**
   * The owner's loop runs and this region's broker answered: tells the policy that this region is
   * alive as the owner of {@code shard} (its lease names this region), even while the policy does not
   * let it process yet (WITNESS before its first grant). Call it from the poll loop or the heartbeat
   * timer, only after a successful fetch or probe of the own region. Does nothing for a shard this
   * region does not own.
   */
  public void ownerAlive(int shard) {
    if (lease(shard).owner().equals(self)) {
      policy.ownerAlive(shard);
    }
  }

  /**
   * A follower's periodic look at {@code shard}: tracks the lease on this machine's monotonic clock,
   * asks the policy, and takes the shard over if it says so.
   *
   * @param heldFor how long the follower has held an uncompleted message of the shard (zero if none)
   * @return the takeover report if a takeover happened now
   */
  public Optional<TakeoverReport> observe(int shard, Duration heldFor) {
    ShardLease l = lease(shard);
    if (l.owner().equals(self)) {
      return Optional.empty();
    }
    long now = clock.nanoTime();
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
      ShardObservation o = new ShardObservation(shard, l, self,
          Duration.ofNanos(now - w.changedAtNanos), heldFor,
          Duration.ofNanos(now - w.progressAtNanos));
      Optional<TakeoverDecision> why = policy.shouldTakeOver(o);
      if (why.isEmpty()) {
        return Optional.empty();
      }
      Optional<TakeoverReport> r = takeOver(shard, why.get().reason(), l, why.get().basis(), true);
      if (r.isEmpty()) {
        // cancelled: measure silence afresh from now
        w.changedAtNanos = clock.nanoTime();
        w.progressAtNanos = w.changedAtNanos;
      }
      return r;
    }
  }

  /**
   * Takes {@code shard} over unconditionally (an operator's or a witness's decision): reads this
   * region's changelog to the end and the old owner region's where its broker answers, writes the
   * lease with epoch + 1, and computes the duplicate bound.
   *
   * @throws IllegalStateException if this region owns {@code shard}, or the catch-up shows it does
   *     (a handover to it not applied here yet)
   */
  public TakeoverReport takeOver(int shard, String reason) {
    return takeOver(shard, reason, lease(shard), TakeoverDecision.Basis.GRANTED, false)
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
    long t0 = clock.nanoTime();
    ShardLease old = lease(shard);
    if (old.owner().equals(self)) {
      throw new IllegalStateException("shard " + shard + " is already owned by " + self);
    }
    Set<Integer> one = Set.of(shard);
    CatchUpResult own = replication.catchUp(self, one, catchUpTimeout);
    if (!own.complete() && basis != TakeoverDecision.Basis.GRANTED) {
      log.warn("Tandem {} does not take shard {} over ({}): its own changelog could not be read: {}",
          self, shard, reason, own);
      return Optional.empty();
    }
    CatchUpResult theirs = replication.catchUp(old.owner(), one, catchUpTimeout);
    // the catch-ups may have brought a newer lease (the owner's last heartbeats): take over that one
    ShardLease latest = lease(shard);
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
    ShardLease next = store.mergeLease(latest.takenOverBy(self, store.tickHlc()));
    epochGauge(shard).set(next.epoch());
    long[] claimed = {0};
    store.forEach(shard, r -> {
      if (r.phase() == Phase.CLAIMED) {
        claimed[0]++;
      }
    });
    long windowAdded = 0;
    String unknown = null;
    if (!theirs.complete()) {
      boolean lifted = policy.liftsWindowWhenPeerUnreachable()
          || WINDOW_LIFTED.equals(latest.attributes().get(WINDOW_ATTRIBUTE));
      if (latest.heartbeatHlc() != 0 && !latest.peerReachable() && lifted) {
        unknown = "the old owner's changelog could not be read (" + theirs.reason()
            + ") and its last heartbeat said the peer was unreachable, so its window was lifted";
      } else {
        // W from the owner's last heartbeat; before any heartbeat, this deployment's W
        windowAdded = latest.heartbeatHlc() != 0 ? latest.window() : window;
      }
    }
    if (!theirs.complete()) {
      peerPresumedGone = true;
    }
    // the old owner's changelog could not be read: a dead owner and one alive behind a partition
    // look the same from here (its "peer unreachable" heartbeat is in its spool), so the number holds
    // only if it stopped — unless the policy's decision proves it did (a witness grant)
    boolean conditional = !theirs.complete() && unknown == null
        && !(byPolicy && policy.takeoverProvesOwnerStopped());
    TakeoverReport report = new TakeoverReport(shard, latest.owner(), self, next.epoch(), reason,
        claimed[0], windowAdded, unknown, conditional, own, theirs,
        Duration.ofNanos(clock.nanoTime() - t0));
    reports.add(report);
    takeovers.increment();
    recordBound(report);
    watches.remove(shard);
    log.warn("Tandem {}", report);
    return Optional.of(report);
  }

  private void recordBound(TakeoverReport r) {
    switch (r.boundKind()) {
      case HOLDS -> bounds.record(r.bound().getAsLong());
      case HOLDS_IF_OLD_OWNER_STOPPED -> conditionalBounds.record(r.bound().getAsLong());
      case UNKNOWN -> unknownBounds.increment();
    }
  }

  private boolean draining(int shard) {
    Gate g = gates.get(shard);
    if (g == null) {
      return false;
    }
    synchronized (g) {
      return g.draining;
    }
  }

  private Gate gate(int shard) {
    return gates.computeIfAbsent(shard, s -> new Gate());
  }

  /**
   * The poll loop calls this before it processes a batch of {@code shard} it owns, and {@link
   * #endWork} after: a planned handover waits for these batches. False (do not process; read the
   * records again later) while a handover drains the shard.
   */
  public boolean beginWork(int shard) {
    Gate g = gate(shard);
    synchronized (g) {
      if (g.draining) {
        return false;
      }
      g.inFlight++;
      return true;
    }
  }

  /** Ends a batch begun with {@link #beginWork} (call it in a finally block). */
  public void endWork(int shard) {
    Gate g = gate(shard);
    synchronized (g) {
      g.inFlight--;
      g.notifyAll();
    }
  }

  /**
   * A planned handover of {@code shard} from this region (its owner) to {@code to}: stops taking new
   * claims for it, waits for the batches in flight to finish, waits until {@code to}'s changelog has
   * acknowledged every change of the shard ({@link ReplicationLog#barrier}), and only then writes the
   * lease for {@code to} at epoch + 1. The peer starts processing when its replica reads that lease;
   * every completion is ahead of it in the same changelog, so nothing runs twice. If any step does
   * not finish within {@code timeout} the shard stays here, at the same epoch, and processing
   * resumes; the report says why.
   *
   * @throws IllegalStateException if this region does not own {@code shard}
   */
  public HandoverReport handOver(int shard, RegionId to, Duration timeout) {
    return handOver(shard, to, timeout, false);
  }

  /**
   * As {@link #handOver(int, RegionId, Duration)}; with {@code evacuation} (an operator evacuates
   * this region) the new lease carries {@link #EVACUATED_FROM_ATTRIBUTE} naming this region, which
   * its renewals keep and automatic failback honours: the shard stays at {@code to} until a return
   * (a handover back, which writes a lease without it).
   */
  public HandoverReport handOver(int shard, RegionId to, Duration timeout, boolean evacuation) {
    Objects.requireNonNull(to, "to");
    Objects.requireNonNull(timeout, "timeout");
    if (to.equals(self) || !regions.contains(to)) {
      throw new IllegalArgumentException("cannot hand shard " + shard + " over to " + to
          + " (regions " + regions + ", this region " + self + ")");
    }
    long t0 = clock.nanoTime();
    long deadline = t0 + timeout.toNanos();
    ShardLease l = lease(shard);
    if (!l.owner().equals(self)) {
      throw new IllegalStateException("shard " + shard + " is owned by " + l.owner() + ", not " + self);
    }
    Gate g = gate(shard);
    synchronized (g) {
      if (g.draining) {
        throw new IllegalStateException("shard " + shard + " is already being handed over");
      }
      g.draining = true;
    }
    try {
      synchronized (g) {
        while (g.inFlight > 0) {
          long left = deadline - clock.nanoTime();
          if (left <= 0) {
            return handoverAborted(shard, to, l, t0, g.inFlight + " batch(es) still in flight after "
                + timeout);
          }
          g.wait(Math.max(1, left / 1_000_000));
        }
      }
      try {
        replication.barrier(shard, to)
            .get(Math.max(0, deadline - clock.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (TimeoutException | ExecutionException e) {
        return handoverAborted(shard, to, l, t0, to + " did not acknowledge this region's changes of"
            + " the shard within " + timeout + ": " + e);
      }
      ShardLease latest = lease(shard);
      if (latest.epoch() != l.epoch() || !latest.owner().equals(self)) {
        return handoverAborted(shard, to, l, t0, "the lease moved meanwhile: " + latest);
      }
      ShardLease next = store.mergeLease(
          evacuated(latest.takenOverBy(to, store.tickHlc()), evacuation ? self : null));
      epochGauge(shard).set(next.epoch());
      policy.released(shard);
      boolean acked;
      try {
        replication.barrier(shard, to)
            .get(Math.max(1, deadline - clock.nanoTime()), TimeUnit.NANOSECONDS);
        acked = true;
      } catch (TimeoutException | ExecutionException e) {
        acked = false;
      }
      HandoverReport r = new HandoverReport(shard, self, to, true, next.epoch(), acked,
          "handed over at epoch " + next.epoch() + " after " + to + " acknowledged every change",
          Duration.ofNanos(clock.nanoTime() - t0));
      handovers(r).increment();
      log.info("Tandem {}", r);
      return r;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return handoverAborted(shard, to, l, t0, "interrupted");
    } finally {
      synchronized (g) {
        g.draining = false;
      }
    }
  }

  private HandoverReport handoverAborted(int shard, RegionId to, ShardLease l, long t0, String why) {
    HandoverReport r = new HandoverReport(shard, self, to, false, l.epoch(), false,
        "not handed over, the shard stays with " + self + ": " + why,
        Duration.ofNanos(clock.nanoTime() - t0));
    handovers(r).increment();
    log.warn("Tandem {}", r);
    return r;
  }

  private Counter handovers(HandoverReport r) {
    return Counter.builder("tandem.consumer.handovers").tag("region", self.name())
        .tag("outcome", r.moved() ? "moved" : "aborted")
        .description("planned handovers started by this region").register(registry);
  }

  /**
   * An operator moves {@code shard} to this region (MANUAL policy, or any policy in an emergency).
   * Writes the new epoch FIRST, so this region's claims supersede the old owner's from now on, then
   * waits up to {@code timeout} for the old owner region's changelog to acknowledge it, then reads
   * the changelogs and computes the duplicate bound. When the old owner region does not acknowledge
   * (unreachable), the report says so: its duplicates are detected by the store, not bounded.
   *
   * @throws IllegalStateException if this region already owns {@code shard}
   */
  public MoveReport move(int shard, Duration timeout) {
    return move(shard, timeout, false);
  }

  /**
   * As {@link #move(int, Duration)}; with {@code evacuation} (a forced evacuation of the old owner
   * region) the new lease carries {@link #EVACUATED_FROM_ATTRIBUTE} naming the old owner, so
   * automatic failback leaves the shard here until a return.
   */
  public MoveReport move(int shard, Duration timeout, boolean evacuation) {
    Objects.requireNonNull(timeout, "timeout");
    long t0 = clock.nanoTime();
    ShardLease old = lease(shard);
    if (old.owner().equals(self)) {
      throw new IllegalStateException("shard " + shard + " is already owned by " + self);
    }
    // cut off from the old owner now, it is cut off from us too: under a policy that lifts the window
    // it may have run on with it lifted, so an acknowledgement that arrives later bounds nothing
    boolean reachableAtMove = replication.peerReachable();
    ShardLease next = store.mergeLease(
        evacuated(old.takenOverBy(self, store.tickHlc()), evacuation ? old.owner() : null));
    epochGauge(shard).set(next.epoch());
    watches.remove(shard);
    boolean acked;
    String ackFailure = null;
    try {
      replication.barrier(shard, old.owner()).get(timeout.toNanos(), TimeUnit.NANOSECONDS);
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
    CatchUpResult own = replication.catchUp(self, one, catchUpTimeout);
    CatchUpResult theirs = replication.catchUp(old.owner(), one, catchUpTimeout);
    long[] claimed = {0};
    store.forEach(shard, r -> {
      if (r.phase() == Phase.CLAIMED) {
        claimed[0]++;
      }
    });
    // until the old owner applies the new lease it may claim at most its window W ahead of us
    long w = old.heartbeatHlc() != 0 && old.window() > 0 ? old.window() : window;
    String unknown = acked ? null : old.owner() + " did not acknowledge epoch " + next.epoch()
        + " within " + timeout + " (" + ackFailure + "); it may process the shard until it reads"
        + " the new lease, so duplicates are detected by the store, not bounded";
    if (unknown == null && !reachableAtMove && policy.liftsWindowWhenPeerUnreachable()) {
      unknown = old.owner() + " was unreachable when the move was written, so it may have run with"
          + " its window lifted until it acknowledged epoch " + next.epoch()
          + "; duplicates are detected by the store, not bounded";
    }
    // acknowledged: the old owner read the new epoch and stops, so the number holds
    TakeoverReport t = new TakeoverReport(shard, old.owner(), self, next.epoch(),
        "operator move", claimed[0], acked ? w : 0, unknown, false, own, theirs,
        Duration.ofNanos(clock.nanoTime() - t0));
    reports.add(t);
    takeovers.increment();
    recordBound(t);
    (acked ? manualMoves : manualMovesUnacked).increment();
    if (!acked) {
      peerPresumedGone = true; // the operator moved it away from a region it cannot reach
    }
    MoveReport m = new MoveReport(t, acked, t.bound().isPresent()
        ? "the old owner " + old.owner() + " acknowledged epoch " + next.epoch()
            + "; duplicates <= " + t.bound().getAsLong()
        : unknown);
    log.warn("Tandem move of shard {} to {}: {}; {}", shard, self, m.detail(), t);
    return m;
  }

  /** {@code lease} with {@link #EVACUATED_FROM_ATTRIBUTE} naming {@code from} (unchanged if null). */
  private static ShardLease evacuated(ShardLease lease, RegionId from) {
    if (from == null) {
      return lease;
    }
    java.util.SortedMap<String, String> a = new java.util.TreeMap<>(lease.attributes());
    a.put(EVACUATED_FROM_ATTRIBUTE, from.name());
    return new ShardLease(lease.shard(), lease.epoch(), lease.owner(), lease.heartbeatHlc(),
        lease.position(), lease.window(), lease.unacked(), lease.peerReachable(), a);
  }

  /**
   * The region an operator evacuated {@code lease}'s shard from ({@link #EVACUATED_FROM_ATTRIBUTE}),
   * empty when the shard was not moved by an evacuation or was returned since: what a status
   * reader shows as "evacuated".
   */
  public static Optional<RegionId> evacuatedFrom(ShardLease lease) {
    String from = lease.attributes().get(EVACUATED_FROM_ATTRIBUTE);
    return from == null ? Optional.empty() : Optional.of(RegionId.of(from));
  }

  /**
   * Automatic failback: if this region owns {@code shard} although another region is its initial
   * owner ({@link #initialOwner}), and that region has been healthy for {@code failbackAfter} — its
   * replica's heartbeats fresh here (within {@code failbackMaxSilence}; they flow only while its
   * consumers run) and its changelog reachable — hands the shard back with a planned {@link
   * #handOver}: zero duplicates. The poll loop calls it for the shards it owns; does nothing unless
   * the builder set {@link Builder#failbackAfter}. A failed attempt is retried after {@code
   * failbackAfter} again. A shard whose lease says an operator evacuated its home region ({@link
   * #evacuatedFrom}) is not failed back (counted once per epoch as {@code outcome=held}): the
   * evacuation holds until a return.
   *
   * @return the handover report when a failback was attempted now
   */
  public Optional<HandoverReport> failBackIfDue(int shard) {
    return failbackDue(shard).map(home -> failBack(shard, home));
  }

  /**
   * The first half of {@link #failBackIfDue}, which waits for nothing: the home region to hand
   * {@code shard} back to when a failback is due now (the attempt is recorded, so a failed one is
   * retried only after {@code failbackAfter}); empty otherwise.
   */
  Optional<RegionId> failbackDue(int shard) {
    if (failbackAfter == null) {
      return Optional.empty();
    }
    RegionId home = initialOwner(shard);
    ShardLease l = lease(shard);
    if (home.equals(self) || !l.owner().equals(self)) {
      return Optional.empty();
    }
    if (evacuatedFrom(l).filter(home::equals).isPresent()) {
      // an operator evacuated the home region: only a return (a new lease) ends that
      if (!Long.valueOf(l.epoch()).equals(failbackHeld.put(shard, l.epoch()))) {
        failbacksHeld.increment();
        log.info("Tandem {} keeps shard {} (epoch {}): {} was evacuated by an operator, no automatic"
            + " failback until it is returned", self, shard, l.epoch(), home);
      }
      return Optional.empty();
    }
    if (!healthyFor(home, failbackAfter)) {
      return Optional.empty();
    }
    long now = clock.nanoTime();
    Long tried = failbackTried.get(shard);
    if (tried != null && now - tried < failbackAfter.toNanos()) {
      return Optional.empty();
    }
    failbackTried.put(shard, now);
    return Optional.of(home);
  }

  /**
   * The second half of {@link #failBackIfDue}: the planned handover of {@code shard} to {@code home},
   * which may wait up to {@code catchUpTimeout} — run it where no lease renewal waits for it.
   */
  HandoverReport failBack(int shard, RegionId home) {
    log.info("Tandem {} fails shard {} back to {}: healthy for {}", self, shard, home, failbackAfter);
    HandoverReport r = handOver(shard, home, catchUpTimeout);
    (r.moved() ? failbacks : failbacksAborted).increment();
    return r;
  }

  /** Whether {@code region}'s replica has looked healthy from here for at least {@code d}. */
  private boolean healthyFor(RegionId region, Duration d) {
    ReplicationLag lag;
    try {
      lag = replication.lag(region);
    } catch (RuntimeException e) {
      healthySince.remove(region);
      return false;
    }
    // the age of its newest heartbeat = how late it was applied here + how long ago: a backlog
    // applied late must not look like a live region (a liveness heuristic, never a safety input)
    boolean fresh = lag.sinceLastHeartbeat() != null && lag.timeLag() != null
        && lag.sinceLastHeartbeat().plus(lag.timeLag()).compareTo(failbackMaxSilence) <= 0
        && replication.peerReachable();
    long now = clock.nanoTime();
    if (!fresh) {
      healthySince.remove(region);
      return false;
    }
    long since = healthySince.computeIfAbsent(region, r -> now);
    return now - since >= d.toNanos();
  }

  /**
   * Re-reads what the other regions wrote about {@code shards} before an owner processes again after
   * its heartbeats stopped for a while (its own broker was down, or the instance just started): a
   * follower may have taken the shards over meanwhile, and the new lease may not have reached this
   * region's changelog yet. Reads this region's changelog to its end and each other region's where
   * its broker answers.
   *
   * @return false when this region's own changelog could not be read (do not process yet); true
   *     otherwise — under AUTOMATIC an unreachable peer does not stop the owner (availability first)
   */
  public boolean revalidate(Set<Integer> shards) {
    if (shards.isEmpty()) {
      return true;
    }
    CatchUpResult own = replication.catchUp(self, shards, catchUpTimeout);
    if (!own.complete()) {
      log.warn("Tandem owner {} cannot re-read its own changelog for {}: {}", self, shards, own);
      return false;
    }
    for (RegionId peer : regions) {
      if (!peer.equals(self)) {
        CatchUpResult r = replication.catchUp(peer, shards, catchUpTimeout);
        log.warn("Tandem owner {} revalidated shards {} after a silence: {}", self, shards, r);
      }
    }
    return true;
  }

  /** How long an owner may go without a heartbeat before it must {@link #revalidate} first. */
  public Duration revalidateAfter() {
    return revalidateAfter;
  }

  /** Forgets what this instance tracked of {@code shard} (it was revoked from this instance). */
  public void forget(int shard) {
    watches.remove(shard);
  }

  /** Every takeover this instance made, in order. */
  public List<TakeoverReport> reports() {
    return new ArrayList<>(reports);
  }

  /**
   * {@code tandem.consumer.shard.owned{region,shard}}: 1 while the newest lease this replica read
   * names this region, else 0 — a dashboard's ownership per shard over time (both regions' series
   * side by side show every move).
   */
  private AtomicLong ownedGauge(int shard) {
    return owned.computeIfAbsent(shard, s -> {
      AtomicLong v = new AtomicLong();
      Gauge.builder("tandem.consumer.shard.owned", v, AtomicLong::get).tag("region", self.name())
          .tag("shard", Integer.toString(s))
          .description("1 while the shard's lease names this region, as seen here").register(registry);
      return v;
    });
  }

  private AtomicLong epochGauge(int shard) {
    return epochs.computeIfAbsent(shard, s -> {
      AtomicLong v = new AtomicLong();
      Gauge.builder("tandem.consumer.lease.epoch", v, AtomicLong::get).tag("region", self.name())
          .tag("shard", Integer.toString(s)).tag("policy", policy.name()).description("shard lease epoch as seen here")
          .register(registry);
      return v;
    });
  }

  /** Builds a {@link ShardOwnership}. */
  public static final class Builder {
    private RegionId self;
    private final List<RegionId> regions = new ArrayList<>();
    private IdempotencyStore store;
    private ReplicationLog replication;
    // L 6 s + margin 3 s: a crashed region is taken over about 9 s + catch-up after its last
    // heartbeat. Safe against false takeovers because a busy owner's leases are renewed while its
    // batch runs (TandemKafkaConsumer's renewer); only a pause of the whole owner process (GC, a
    // stalled own broker) longer than about L + margin - heartbeatInterval would be taken for a crash
    private OwnershipPolicy policy =
        OwnershipPolicy.automatic(Duration.ofSeconds(6), Duration.ofSeconds(3), Duration.ofSeconds(60));
    private int window = 1000;
    private Duration catchUpTimeout = Duration.ofSeconds(10);
    private Duration revalidateAfter = Duration.ofSeconds(6);
    private Duration failbackAfter;
    private Duration failbackMaxSilence = Duration.ofSeconds(5);
    private TandemClock clock = TandemClock.system();
    private MeterRegistry registry;

    private Builder() {}

    /** This region (required). */
    public Builder region(RegionId self) {
      this.self = Objects.requireNonNull(self, "self");
      return this;
    }

    /** Every region that consumes the topic, this one included (required). */
    public Builder regions(List<RegionId> all) {
      regions.addAll(all);
      return this;
    }

    /** The replicated (gated) store holding the leases (required). */
    public Builder store(IdempotencyStore store) {
      this.store = Objects.requireNonNull(store, "store");
      return this;
    }

    /** The replication log of that store (required). */
    public Builder replicationLog(ReplicationLog log) {
      this.replication = Objects.requireNonNull(log, "replicationLog");
      return this;
    }

    /**
     * The takeover policy (default AUTOMATIC, L = 6 s, margin 3 s, stuck after 60 s: a crashed owner
     * region is taken over about 9–10 s after its last heartbeat; consumer/README.md "L, margin, claim
     * lease, handlerTimeout and session.timeout.ms" explains how they relate).
     */
    public Builder policy(OwnershipPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /** The replication window W (default 1000 changes per shard). */
    public Builder window(int w) {
      if (w < 1) {
        throw new IllegalArgumentException("window must be >= 1, got " + w);
      }
      this.window = w;
      return this;
    }

    /** Bound of each changelog catch-up at takeover (default 10 s). */
    public Builder catchUpTimeout(Duration timeout) {
      this.catchUpTimeout = Objects.requireNonNull(timeout, "catchUpTimeout");
      return this;
    }

    /**
     * How long an owner may go without a successful heartbeat before it re-reads the changelogs
     * ({@link ShardOwnership#revalidate}) instead of processing (default 6 s, the default L; at most
     * the policy's L, so an owner stops before any follower can have taken over).
     */
    public Builder revalidateAfter(Duration d) {
      this.revalidateAfter = Objects.requireNonNull(d, "revalidateAfter");
      return this;
    }

    /**
     * Automatic failback ({@link ShardOwnership#failBackIfDue}): hand a shard back to its initial
     * owner once that region has been healthy this long (default: off — failback only by command,
     * {@link ShardOwnership#handOver}).
     */
    public Builder failbackAfter(Duration healthyFor) {
      Objects.requireNonNull(healthyFor, "failbackAfter");
      if (healthyFor.isNegative() || healthyFor.isZero()) {
        throw new IllegalArgumentException("failbackAfter must be > 0, got " + healthyFor);
      }
      this.failbackAfter = healthyFor;
      return this;
    }

    /**
     * The oldest a region's replica heartbeat may be, as seen here, for that region to count as
     * healthy for failback (default 5 s; the replication log sends one every 500 ms by default).
     */
    public Builder failbackMaxSilence(Duration d) {
      this.failbackMaxSilence = Objects.requireNonNull(d, "failbackMaxSilence");
      return this;
    }

    /** The monotonic clock for silence (default: the system's). */
    public Builder clock(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Where meters go (default: a new {@link SimpleMeterRegistry}). */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    public ShardOwnership build() {
      Objects.requireNonNull(self, "region is required");
      Objects.requireNonNull(store, "store is required");
      Objects.requireNonNull(replication, "replicationLog is required");
      if (regions.isEmpty()) {
        throw new IllegalArgumentException("regions are required");
      }
      if (registry == null) {
        registry = new SimpleMeterRegistry();
      }
      return new ShardOwnership(this);
    }
  }
}
