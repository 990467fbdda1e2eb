package dev.tandem.consumer.ownership;

import dev.tandem.consumer.ShardFence;
import dev.tandem.consumer.ownership.internal.Evacuations;
import dev.tandem.consumer.ownership.internal.Failback;
import dev.tandem.consumer.ownership.internal.Handover;
import dev.tandem.consumer.ownership.internal.HandoverGates;
import dev.tandem.consumer.ownership.internal.LeaseRenewal;
import dev.tandem.consumer.ownership.internal.LeaseView;
import dev.tandem.consumer.ownership.internal.ManualMove;
import dev.tandem.consumer.ownership.internal.OwnershipContext;
import dev.tandem.consumer.ownership.internal.OwnershipGauges;
import dev.tandem.consumer.ownership.internal.PollLoopCalls;
import dev.tandem.consumer.ownership.internal.ReplicationWindow;
import dev.tandem.consumer.ownership.internal.Takeover;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Which region owns each shard, held as {@link ShardLease} records in the replicated store
 * ({@code docs/design.md#processing-once-across-regions}). This is what an application and an operator use: the
 * lease view ({@link #lease}, {@link #owns}, {@link #fence()}), a planned {@link #handOver}, an
 * operator's {@link #move} or {@link #takeOver}, the {@link #reports()} of takeovers. The calls only
 * the loop driving it makes are behind {@link #pollLoop()}.
 *
 * <ul>
 *   <li>Initial owner: {@code sorted(regions)[shard % n]} at epoch 0 — both regions agree without
 *       talking, and work spreads over regions. No record exists until the first heartbeat.
 *   <li>{@link OwnershipPollLoop#heartbeat}: the owner's loop renews its lease (position, W, changes
 *       the peer has not acknowledged, whether the peer is reachable) — only after a successful
 *       fetch from its own broker, which {@link OwnerLiveness} checks.
 *   <li>{@link OwnershipPollLoop#observe}: a follower measures, on its own monotonic clock, how long
 *       the lease has not changed; the {@link OwnershipPolicy} decides whether to take over.
 *   <li>A takeover reads the own changelog to the end and the old owner region's where its broker
 *       answers, writes epoch + 1, and reports the duplicate bound ({@link TakeoverReport}).
 *   <li>{@link #fence()}: an owner that sees a higher epoch (or another owner) stops at once.
 * </ul>
 *
 * <p>One concept per part, in {@code ownership.internal}: the lease view, the replication window,
 * lease renewal, takeover and its bound, the handover gates and the planned handover, the manual
 * move, failback. This class assembles them and keeps the builder.
 *
 * <p>Thread-safe; intended to be driven by one poll loop per instance, whose background lease renewer
 * may renew from another thread (a lease write is a merge under the store's lock, and a renewal of an
 * older epoch never wins over a takeover or handover).
 */
public final class ShardOwnership {

  /** Lease attribute an owner sets in its heartbeats while it runs a shard with its window lifted. */
  static final String WINDOW_ATTRIBUTE = ReplicationWindow.WINDOW_ATTRIBUTE;
  static final String WINDOW_LIFTED = ReplicationWindow.WINDOW_LIFTED;
  /**
   * Lease attribute of a shard an operator evacuated (value: the evacuated region's name), written
   * by an evacuation's handover and kept by the new owner's renewals: automatic failback leaves such
   * a shard where it is until a return moves it back ({@code docs/design.md#remote-ownership-requests}).
   */
  public static final String EVACUATED_FROM_ATTRIBUTE = "evacuated.from";

  private final OwnershipContext ctx;
  private final LeaseView leases;
  private final ReplicationWindow window;
  private final HandoverGates gates;
  private final LeaseRenewal renewal;
  private final Takeover takeover;
  private final Handover handover;
  private final ManualMove manualMove;
  private final Failback failback;
  private final OwnershipPollLoop pollLoop;

  private ShardOwnership(Builder b) {
    this.ctx = new OwnershipContext(b.self, b.regions, b.store, b.replication, b.policy, b.clock,
        b.registry, b.catchUpTimeout);
    this.leases = new LeaseView(ctx);
    ctx.policy().attach(ctx.self(), ctx.registry(), leases::lease);
    // the meters in the order they were registered before the split (a scrape lists them so)
    this.gates = new HandoverGates();
    this.handover = new Handover(ctx, leases, gates);
    this.window = new ReplicationWindow(ctx, b.window);
    this.takeover = new Takeover(ctx, leases, window);
    this.manualMove = new ManualMove(ctx, leases, window, takeover);
    this.failback = new Failback(ctx, leases, handover, b.failbackAfter, b.failbackMaxSilence);
    OwnershipGauges.register(ctx);
    this.renewal = new LeaseRenewal(ctx, leases, window, b.revalidateAfter);
    this.pollLoop = new PollLoopCalls(gates, window, renewal, takeover, failback);
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** The calls only the loop driving this ownership makes (see {@link OwnershipPollLoop}). */
  public OwnershipPollLoop pollLoop() {
    return pollLoop;
  }

  /** This region. */
  public RegionId self() {
    return ctx.self();
  }

  /** The owner of {@code shard} before any takeover: {@code sorted(regions)[shard % n]}. */
  public RegionId initialOwner(int shard) {
    return leases.initialOwner(shard);
  }

  /** The newest lease of {@code shard} this replica holds, or the implicit initial lease. */
  public ShardLease lease(int shard) {
    return leases.lease(shard);
  }

  /** Whether this region owns {@code shard} now (and the policy lets it process). */
  public boolean owns(int shard) {
    ShardLease l = lease(shard);
    return l.owner().equals(ctx.self()) && !gates.draining(shard)
        && ctx.policy().mayProcess(shard, l.epoch());
  }

  /** The current epoch of {@code shard}. */
  public long epoch(int shard) {
    return lease(shard).epoch();
  }

  /** The fence for {@code OnceProcessor}: this region owns the shard under exactly that epoch. */
  public ShardFence fence() {
    return (shard, epoch) -> {
      ShardLease l = lease(shard);
      return l.owner().equals(ctx.self()) && l.epoch() == epoch && !gates.draining(shard)
          && ctx.policy().mayProcess(shard, epoch);
    };
  }

  /** The replication window W: the owner pauses a shard while this many changes await the peer. */
  public int window() {
    return window.size();
  }

  /** How long an owner may go without a heartbeat before it must revalidate first. */
  public Duration revalidateAfter() {
    return renewal.revalidateAfter();
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
    return takeover.takeOver(shard, reason);
  }

  /**
   * A planned handover of {@code shard} from this region (its owner) to {@code to}: stops taking new
   * claims for it, waits for the batches in flight to finish, waits until {@code to}'s changelog has
   * acknowledged every change of the shard ({@link ReplicationLog#barrier}), and only then writes the
   * lease for {@code to} at epoch + 1. The peer starts processing when its replica reads that lease;
   * every completion is ahead of it in the same changelog, so nothing runs twice. If any step does
   * not finish within {@code timeout} the shard stays here, at the same epoch, and processing
   * resumes; the report says why. It waits up to {@code timeout}: call it where no lease renewal
   * waits for it.
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
    return handover.handOver(shard, to, timeout, evacuation);
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
    return manualMove.move(shard, timeout, evacuation);
  }

  /**
   * The region an operator evacuated {@code lease}'s shard from ({@link #EVACUATED_FROM_ATTRIBUTE}),
   * empty when the shard was not moved by an evacuation or was returned since: what a status
   * reader shows as "evacuated".
   */
  public static Optional<RegionId> evacuatedFrom(ShardLease lease) {
    return Evacuations.from(lease);
  }

  /** Every takeover this instance made, in order. */
  public List<TakeoverReport> reports() {
    return takeover.reports();
  }

  /** The first half of a failback, which waits for nothing (for {@link OwnerLiveness}). */
  Optional<RegionId> failbackDue(int shard) {
    return failback.due(shard);
  }

  /** The second half of a failback: the handover, which waits (for {@link OwnerLiveness}). */
  HandoverReport failBack(int shard, RegionId home) {
    return failback.failBack(shard, home);
  }

  /** The bound of a handover's (and so a failback's) wait (for {@link OwnerLiveness#stopFailbacks}). */
  Duration catchUpTimeout() {
    return ctx.catchUpTimeout();
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
     * ({@link OwnershipPollLoop#revalidate}) instead of processing (default 6 s, the default L; at most
     * the policy's L, so an owner stops before any follower can have taken over).
     */
    public Builder revalidateAfter(Duration d) {
      this.revalidateAfter = Objects.requireNonNull(d, "revalidateAfter");
      return this;
    }

    /**
     * Automatic failback ({@link OwnershipPollLoop#failBackIfDue}, run by {@link
     * OwnerLiveness#failBackOne} on a thread of its own): hand a shard back to its initial owner
     * (a planned {@link ShardOwnership#handOver}, zero duplicates) once that region has been healthy
     * — its replica's heartbeats fresh here and its changelog reachable — this long. A failed
     * attempt is retried after this long again; a shard an operator evacuated from its home region
     * ({@link ShardOwnership#evacuatedFrom}) stays until a return. Default: off — failback only by
     * command.
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
