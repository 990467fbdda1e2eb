package dev.tandem.consumer.ownership;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.consumer.witness.WitnessGrant;
import dev.tandem.consumer.witness.WitnessUnavailableException;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntFunction;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code WITNESS} takeover policy: a third party outside both regions (a {@link TakeoverWitness})
 * decides which region may own a shard. Safety first, where {@code AUTOMATIC} is availability first.
 *
 * <ul>
 *   <li>An owner processes a shard only while it holds a valid witness grant for it ({@link
 *       #mayProcess}): no grant yet, a refused renewal, or a grant that ran out on this machine's
 *       monotonic clock, and it stops at once — it does not even heartbeat, so its follower sees the
 *       silence. A witness that cannot be reached therefore stops the owner within its lease.
 *   <li>A follower asks the witness only after the owner has been silent for {@code acquireAfter}
 *       (default: the witness lease), at most once per {@code renewEvery}; it takes the shard over only
 *       when the witness grants it the next epoch. The witness grants it only after the holder has
 *       not renewed for its lease plus margin, so a partitioned owner that still reaches the witness
 *       keeps the shard and the follower does not process it: no duplicates from the partition.
 *   <li>The replication window W holds even while the peer is unreachable: an owner never runs more
 *       than W changes ahead of the peer's acknowledgement, so when the peer takes over later (the
 *       owner lost the witness), the bound it reports holds. A partition therefore stalls a shard
 *       after W changes until the link heals: safety first. Once this region has taken a shard over
 *       from the unreachable peer (the witness granted it: the peer stopped renewing that shard), it
 *       lifts the window of all its shards until the peer is reachable again, so a region crash
 *       stalls the survivor's own shards only until its first takeover. The price, a double fault:
 *       if the peer was alive behind a partition (only one of its instances died) and this region
 *       then crashes before the link heals, the peer's later takeover of this region's shards may
 *       see more duplicates than its bound; they are detected when the spools replay.
 *   <li>A background thread renews, every {@code renewEvery} (default a quarter of the witness
 *       lease), the grant of every shard this region's replica says it owns, as long as the owner's
 *       loop keeps saying it runs and its own broker answers ({@link #ownerAlive}, from the heartbeat
 *       path) within a lease: a busy loop keeps its grant, while an owner whose consumers stopped or
 *       whose broker is down lets it lapse. It stops at once when the lease moves.
 * </ul>
 *
 * <p>Invariant: {@link #mayProcess} is true only between a grant and its {@link
 * WitnessGrant#validUntilNanos()}, which the witness computes from the time the request was sent, so
 * this region stops before any other region can have been granted the shard.
 *
 * <p>One instance serves one region's {@link ShardOwnership} (it learns the region when the ownership
 * is built). Close it when the consumer closes; it does not close the witness.
 */
public final class WitnessPolicy implements OwnershipPolicy, AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(WitnessPolicy.class);

  private final TakeoverWitness witness;
  private final Duration acquireAfter;
  private final Duration renewEvery;
  private final LongSupplier nanoTime;
  private final Map<Integer, ShardGrant> shards = new ConcurrentHashMap<>();
  private final ScheduledExecutorService renewer;
  private volatile RegionId self;
  private volatile IntFunction<ShardLease> leases;
  private volatile Meters meters;

  /** What this region holds of one shard. */
  private static final class ShardGrant {
    /** The newest grant (null: none, or refused). Written by the witness calls only. */
    volatile WitnessGrant grant;
    /** When the owner's loop last said it runs and its region answers (0: never). */
    volatile long aliveAtNanos;
    /** Follower: when this region last asked the witness for the shard. Guarded by {@code this}. */
    long lastClaimNanos;
    boolean claimedOnce;
    final AtomicBoolean renewQueued = new AtomicBoolean();
  }

  private record Meters(Counter claimGranted, Counter claimRefused, Counter claimUnavailable,
      Counter renewGranted, Counter renewRefused, Counter renewUnavailable, Counter released) {}

  private WitnessPolicy(Builder b) {
    this.witness = b.witness;
    this.acquireAfter = b.acquireAfter != null ? b.acquireAfter : witness.leaseDuration();
    this.renewEvery = b.renewEvery != null ? b.renewEvery : witness.leaseDuration().dividedBy(4);
    if (renewEvery.isZero() || renewEvery.isNegative()
        || renewEvery.compareTo(witness.leaseDuration()) >= 0) {
      throw new IllegalArgumentException("renewEvery must be > 0 and shorter than the witness lease "
          + witness.leaseDuration() + ", got " + renewEvery);
    }
    this.nanoTime = b.nanoTime;
    this.renewer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "tandem-witness-renewer");
      t.setDaemon(true);
      return t;
    });
    long period = renewEvery.toNanos();
    renewer.scheduleWithFixedDelay(this::renewAll, period, period, TimeUnit.NANOSECONDS);
  }

  /** A builder over {@code witness}. */
  public static Builder builder(TakeoverWitness witness) {
    return new Builder(witness);
  }

  @Override
  public void attach(RegionId region, MeterRegistry registry, IntFunction<ShardLease> leases) {
    Objects.requireNonNull(region, "region");
    Objects.requireNonNull(leases, "leases");
    synchronized (this) {
      if (self != null && !self.equals(region)) {
        throw new IllegalStateException("this WitnessPolicy already serves " + self
            + "; build one per region (asked for " + region + ")");
      }
      if (self != null) {
        return;
      }
      this.leases = leases;
      self = region;
      String r = region.name();
      meters = new Meters(
          requests(registry, r, "claim", "granted"), requests(registry, r, "claim", "refused"),
          requests(registry, r, "claim", "unavailable"), requests(registry, r, "renew", "granted"),
          requests(registry, r, "renew", "refused"), requests(registry, r, "renew", "unavailable"),
          Counter.builder(ConsumerMeterNames.WITNESS_RELEASES).tag("region", r)
              .description("witness leases given up by a planned handover").register(registry));
      Gauge.builder(ConsumerMeterNames.WITNESS_HELD, this, WitnessPolicy::heldCount)
          .tag("region", r).description("shards whose witness lease this region holds now")
          .register(registry);
    }
  }

  private static Counter requests(MeterRegistry registry, String region, String kind, String outcome) {
    return Counter.builder(ConsumerMeterNames.WITNESS_REQUESTS).tag("region", region)
        .tag("kind", kind).tag("outcome", outcome)
        .description("requests to the takeover witness").register(registry);
  }

  @Override
  public Optional<TakeoverDecision> shouldTakeOver(ShardObservation o) {
    if (o.silentFor().compareTo(acquireAfter) < 0) {
      return Optional.empty();
    }
    ShardGrant s = shard(o.shard());
    long now = nanoTime.getAsLong();
    synchronized (s) {
      if (s.claimedOnce && now - s.lastClaimNanos < renewEvery.toNanos()) {
        return Optional.empty();
      }
      s.claimedOnce = true;
      s.lastClaimNanos = now;
    }
    long epoch = o.lease().epoch() + 1;
    WitnessGrant g;
    try {
      g = witness.acquire(o.shard(), o.self(), epoch);
    } catch (WitnessUnavailableException e) {
      meters().claimUnavailable.increment();
      log.warn("Tandem {} cannot reach the takeover witness for shard {} (owner {} silent for {}):"
          + " no takeover: {}", o.self(), o.shard(), o.lease().owner(), o.silentFor(), e.getMessage());
      return Optional.empty();
    }
    if (!g.granted()) {
      meters().claimRefused.increment();
      log.info("Tandem {}: the witness keeps shard {} with {} at epoch {} (owner silent here for {})",
          o.self(), o.shard(), g.holder(), g.epoch(), o.silentFor());
      return Optional.empty();
    }
    meters().claimGranted.increment();
    s.grant = g;
    s.aliveAtNanos = nanoTime.getAsLong(); // this follower's loop runs: it is taking the shard now
    return Optional.of(new TakeoverDecision("the witness granted epoch " + epoch + " to " + o.self()
        + " after " + o.lease().owner() + " stopped renewing (silent here for " + o.silentFor() + ")",
        TakeoverDecision.Basis.GRANTED));
  }

  /**
   * True only while this region holds a valid witness grant for {@code shard}. Never blocks: a missing
   * or soon-expiring grant is (re)requested on the renewer thread.
   */
  @Override
  public boolean mayProcess(int shard, long epoch) {
    ShardGrant s = shard(shard);
    WitnessGrant g = s.grant;
    boolean valid = g != null && g.validAt(nanoTime.getAsLong());
    if (!valid || g.epoch() < epoch) {
      renewSoon(shard, s);
    }
    return valid;
  }

  @Override
  public void ownerAlive(int shard) {
    ShardGrant s = shard(shard);
    long now = nanoTime.getAsLong();
    s.aliveAtNanos = now;
    WitnessGrant g = s.grant;
    if (g == null || !g.validAt(now)) {
      renewSoon(shard, s); // the first grant, or one that lapsed while the loop could not run
    }
  }

  @Override
  public void released(int shard) {
    ShardGrant s = shards.get(shard);
    if (s == null || self == null) {
      return;
    }
    // on the renewer thread, so a renewal in flight cannot bring the grant back after the release
    try {
      renewer.submit(() -> release(shard, s)).get(1, TimeUnit.MINUTES);
    } catch (RejectedExecutionException e) {
      release(shard, s); // closed: no renewal can race any more
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      log.warn("Tandem {} could not release the witness lease of shard {}: {}", self, shard,
          e.toString());
    }
  }

  private void release(int shard, ShardGrant s) {
    RegionId region = self;
    s.grant = null;
    try {
      witness.release(shard, region);
      meters().released.increment();
    } catch (WitnessUnavailableException e) {
      // the lease then runs out on its own; the new owner waits for that
      log.warn("Tandem {} could not release the witness lease of shard {}: {}", region, shard,
          e.getMessage());
    }
  }

  /**
   * Yes: the witness granted the next epoch only after the old owner's grant lapsed, and an owner
   * processes only within its grant (with the window kept), so the bound holds (see the class doc
   * for the double-fault exception).
   */
  @Override
  public boolean takeoverProvesOwnerStopped() {
    return true;
  }

  /** Never: the bound reported at a takeover must hold after a partition too (see the class doc). */
  @Override
  public boolean liftsWindowWhenPeerUnreachable() {
    return false;
  }

  @Override
  public String name() {
    return "WITNESS";
  }

  /** Whether this region holds a valid grant for {@code shard} now (for tools and tests). */
  public boolean holds(int shard) {
    ShardGrant s = shards.get(shard);
    WitnessGrant g = s == null ? null : s.grant;
    return g != null && g.validAt(nanoTime.getAsLong());
  }

  /** The witness this policy asks. */
  public TakeoverWitness witness() {
    return witness;
  }

  /** Stops renewing; grants run out on their own. Does not close the witness. */
  @Override
  public void close() {
    renewer.shutdownNow();
    try {
      // a renewal in flight finishes (bounded by the witness's own timeout) before close returns
      renewer.awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private int heldCount() {
    long now = nanoTime.getAsLong();
    int n = 0;
    for (ShardGrant s : shards.values()) {
      WitnessGrant g = s.grant;
      if (g != null && g.validAt(now)) {
        n++;
      }
    }
    return n;
  }

  private ShardGrant shard(int shard) {
    return shards.computeIfAbsent(shard, k -> new ShardGrant());
  }

  private Meters meters() {
    Meters m = meters;
    if (m == null) {
      throw new IllegalStateException("WitnessPolicy is not attached to a ShardOwnership yet");
    }
    return m;
  }

  private void renewSoon(int shard, ShardGrant s) {
    if (self == null || !s.renewQueued.compareAndSet(false, true)) {
      return;
    }
    try {
      renewer.execute(() -> {
        s.renewQueued.set(false);
        renew(shard, s);
      });
    } catch (RejectedExecutionException e) {
      s.renewQueued.set(false); // closed
    }
  }

  private void renewAll() {
    for (Map.Entry<Integer, ShardGrant> e : shards.entrySet()) {
      try {
        renew(e.getKey(), e.getValue());
      } catch (Throwable t) {
        // Throwable: anything escaping this periodic task cancels every later round without a word
        // (it lands in the task's future): grants would then lapse each lease before being asked
        // for again, each lapse a window for the peer's takeover
        log.error("Tandem {}: witness renewal of shard {} threw; the next round tries again", self,
            e.getKey(), t);
      }
    }
  }

  /**
   * Renews (or first acquires) the grant of {@code shard} while this region's replica says this
   * region owns it, at the lease's epoch; forgets the grant once the lease names another region. The
   * lease view, not the poll loop, decides, so a poll loop that blocks for a while (a slow catch-up,
   * a long batch) does not lose the shard to the peer.
   */
  private void renew(int shard, ShardGrant s) {
    RegionId region = self;
    if (region == null) {
      return;
    }
    ShardLease lease;
    try {
      lease = leases.apply(shard);
    } catch (RuntimeException notRestored) {
      return; // not materialised here (yet): nothing to renew
    }
    WitnessGrant held = s.grant;
    long alive = s.aliveAtNanos;
    if (alive == 0 || nanoTime.getAsLong() - alive > witness.leaseDuration().toNanos()) {
      // the owner's loop has not said it runs and its broker answers for a whole lease (consumers
      // stopped, own broker down): do not renew, so the grant lapses and the peer can take over
      return;
    }
    if (!lease.owner().equals(region)) {
      // a grant for a newer epoch than the lease is a takeover about to write its lease: keep it
      if (held == null || held.epoch() <= lease.epoch()) {
        s.grant = null;
      }
      return;
    }
    long epoch = held != null && held.granted() ? Math.max(held.epoch(), lease.epoch()) : lease.epoch();
    WitnessGrant g;
    try {
      g = witness.acquire(shard, region, epoch);
    } catch (WitnessUnavailableException e) {
      meters().renewUnavailable.increment();
      log.warn("Tandem {} cannot renew the witness lease of shard {}; it processes the shard only"
          + " until its grant runs out: {}", region, shard, e.getMessage());
      return;
    } catch (RuntimeException | Error e) {
      // Error too (a LinkageError from the witness's client): a failed renewal, counted and logged
      meters().renewUnavailable.increment();
      log.warn("Tandem {}: witness renewal of shard {} failed", region, shard, e);
      return;
    }
    if (g.granted()) {
      meters().renewGranted.increment();
      s.grant = g;
    } else {
      meters().renewRefused.increment();
      if (held != null && held.validAt(nanoTime.getAsLong())) {
        log.warn("Tandem {} lost the witness lease of shard {} to {} at epoch {}: stops processing it",
            region, shard, g.holder(), g.epoch());
      }
      s.grant = null;
    }
  }

  /** Builds a {@link WitnessPolicy}. */
  public static final class Builder {
    private final TakeoverWitness witness;
    private Duration acquireAfter;
    private Duration renewEvery;
    private LongSupplier nanoTime = System::nanoTime;

    private Builder(TakeoverWitness witness) {
      this.witness = Objects.requireNonNull(witness, "witness");
    }

    /**
     * How long the owner must have been silent (no heartbeat, as seen here) before this region asks
     * the witness for the shard (default: the witness lease).
     */
    public Builder acquireAfter(Duration d) {
      Objects.requireNonNull(d, "acquireAfter");
      if (d.isNegative()) {
        throw new IllegalArgumentException("acquireAfter must be >= 0, got " + d);
      }
      this.acquireAfter = d;
      return this;
    }

    /** How often held grants are renewed and a silent shard's witness is asked (default lease / 4). */
    public Builder renewEvery(Duration d) {
      this.renewEvery = Objects.requireNonNull(d, "renewEvery");
      return this;
    }

    /**
     * The monotonic clock; it must be the one the witness uses for {@link
     * WitnessGrant#validUntilNanos()} (default {@code System::nanoTime}, as the witnesses use).
     */
    public Builder nanoTime(LongSupplier nanoTime) {
      this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
      return this;
    }

    public WitnessPolicy build() {
      return new WitnessPolicy(this);
    }
  }
}
