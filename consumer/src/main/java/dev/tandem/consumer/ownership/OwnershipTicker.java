package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.StoreException;
import dev.tandem.store.replication.CatchUpResult;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ownership tick of a runtime whose work does not run in a Tandem poll loop — the Spring listener
 * containers' lease ticker, the Azure Functions heartbeat timer: one round plays the part {@code
 * TandemKafkaConsumer}'s poll loop plays between batches ({@code
 * docs/design.md#the-ownership-tick-of-spring-and-functions}).
 *
 * <ol>
 *   <li><b>Owner</b>: renews the leases of this region's shards through {@link OwnerLiveness} (its
 *       probes: this region's own changelog — a catch-up of the owned shards — and the runtime's
 *       trigger probes), except the shards whose work is {@link Work#stuck stuck}: they lapse and the
 *       peer takes them over, as it would from a stuck poll loop;
 *   <li>at most one automatic failback ({@link OwnerLiveness#failBackOne});
 *   <li><b>Follower</b>: {@link OwnershipPollLoop#observe} for every other shard, with how long the
 *       runtime has held its oldest unsettled copy; the policy decides on a takeover;
 *   <li><b>Remote ownership requests</b> ({@link OwnershipRequests#act}, {@code tandem evacuate} /
 *       {@code tandem return}) for the shards the runtime {@link Work#served serves}: a planned
 *       handover each.
 * </ol>
 *
 * <p><b>The drain</b> a handover needs is the runtime's side of a contract with {@link
 * ShardOwnership}: every piece of work on an owned shard runs between {@link
 * OwnershipPollLoop#beginWork} and {@link OwnershipPollLoop#endWork}. A handover then stops new work on
 * the shard ({@code beginWork} answers false: the runtime redelivers the record later), waits for the
 * work in flight in this process to end, and waits until the destination region has acknowledged
 * every change of the shard — completions included — before it writes the new lease. Only work that
 * runs in this process is drained: the runtime's {@link Work#served} must name only shards whose work
 * runs here (see the Functions limits in the design document).
 *
 * <p>Failback and handovers run outside the renewal lock: a handover waits for work in flight, and
 * that work may need a renewal first ({@link #ensureRenewed}). The {@link OwnerLiveness} is built
 * here with its own failback off for that reason. The handovers of requests run on a thread of
 * their own (one at a time; {@link OwnershipRequests} never acts twice on a shard): a drain may wait
 * for a long listener up to the request's deadline, and meanwhile the rounds must keep renewing the
 * region's other shards — else they would lapse and be taken over, with duplicates, during the very
 * evacuation meant to have none. A round reports the results that completed since the previous one.
 *
 * <p>Thread-safe: rounds are serialised; {@link #ensureRenewed} never runs beside the owner half of
 * a round.
 */
public final class OwnershipTicker implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(OwnershipTicker.class);
  /** The probe name of this region's own changelog broker. */
  public static final String CHANGELOG_PROBE = "changelog";

  /**
   * What the runtime tells the ticker about its work. Called on the ticking thread, during a round.
   */
  public interface Work {
    /**
     * The shards whose work runs in this process now (its assigned partitions, its sessions), out of
     * {@code leaseOwned} (the restored shards whose lease names this region). Requests are acted on
     * for these only; a shard of this region not named here is answered by the process that runs it
     * (or reported "not answered" by the client). Default: all of {@code leaseOwned}, for a runtime
     * that runs every shard of its region in this process.
     */
    default Set<Integer> served(Set<Integer> leaseOwned) {
      return leaseOwned;
    }

    /**
     * The shards whose work has run beyond the handler timeout now: neither renewed (their leases
     * lapse and the peer takes them over), nor observed, nor handed over (the drain would wait for
     * the stuck work). The runtime logs and counts them. Default: none.
     */
    default Set<Integer> stuck() {
      return Set.of();
    }

    /** How long this follower has held the oldest copy of {@code shard} it could not settle. */
    Duration heldFor(int shard);

    /** The position the heartbeat of {@code shard} carries (settled copies while owner). */
    long position(int shard);
  }

  /**
   * What one round did.
   *
   * @param owned the shards whose lease names this region, less the stuck ones (the renewal's set)
   * @param renewed the shards whose lease was renewed
   * @param followed the shards observed as follower
   * @param takeovers the takeovers the policy decided
   * @param notReady shards whose replica is still restoring
   * @param stuck shards withheld because their work is stuck
   * @param silent why no lease was renewed (a probe's broker did not answer), or null
   * @param failback the failback attempted, if any
   * @param requests the results of remote ownership requests completed since the previous round
   * @param took how long the round took
   */
  public record Round(Set<Integer> owned, Set<Integer> renewed, Set<Integer> followed,
      List<TakeoverReport> takeovers, Set<Integer> notReady, Set<Integer> stuck, String silent,
      Optional<HandoverReport> failback, List<OwnershipResult> requests, Duration took) {
    public Round {
      owned = Set.copyOf(owned);
      renewed = Set.copyOf(renewed);
      followed = Set.copyOf(followed);
      takeovers = List.copyOf(takeovers);
      notReady = Set.copyOf(notReady);
      stuck = Set.copyOf(stuck);
      requests = List.copyOf(requests);
    }
  }

  private final ShardOwnership ownership;
  private final ReplicationLog replication;
  private final OwnershipRequests requests;
  private final Work work;
  private final RegionId self;
  private final int shardCount;
  private final TandemClock clock;
  private final OwnerLiveness liveness;
  private final Object tickLock = new Object();
  private final Object renewLock = new Object();
  /** The shards the changelog probe reads (the owned ones; set before each renewal). */
  private volatile Set<Integer> probeShards = Set.of();
  private volatile boolean closed;
  /** Runs {@link OwnershipRequests#act} off the ticking thread; null without requests. */
  private final ExecutorService acting;
  /** Whether an {@code act} call is queued or running (one at a time). */
  private final AtomicBoolean actPending = new AtomicBoolean();
  /** Results of requests completed and not yet reported by a round. */
  private final ConcurrentLinkedQueue<OwnershipResult> answered = new ConcurrentLinkedQueue<>();

  private OwnershipTicker(Builder b) {
    this.ownership = b.ownership;
    this.replication = b.replication;
    this.requests = b.requests;
    this.work = b.work;
    this.self = ownership.self();
    this.shardCount = b.shardCount;
    this.clock = b.clock;
    OwnerLiveness.Builder lb = OwnerLiveness.builder(ownership)
        .probe(BrokerProbe.of(CHANGELOG_PROBE, this::changelogAnswers))
        .probeTimeout(b.probeTimeout)
        .clock(clock)
        // a failback waits for the work in flight on the shard: only the round may start one,
        // outside the renewal lock, never a renewal that work runs on its own thread
        .failback(false);
    if (b.heartbeatInterval != null) {
      lb.heartbeatInterval(b.heartbeatInterval);
    }
    if (b.registry != null) {
      lb.meterRegistry(b.registry);
    }
    b.probes.forEach(lb::probe);
    this.liveness = lb.build();
    this.acting = requests == null ? null : Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "tandem-ownership-handover-" + self);
      t.setDaemon(true);
      return t;
    });
  }

  /** A builder for the ticker of {@code ownership}'s region. */
  public static Builder builder(ShardOwnership ownership, ReplicationLog replication, Work work) {
    return new Builder(ownership, replication, work);
  }

  /** The owner's liveness (its validity, for a processing path that must revalidate first). */
  public OwnerLiveness liveness() {
    return liveness;
  }

  /** One round (see the class doc). Throws what a probe threw when the ticker is being closed. */
  public Round tick() {
    synchronized (tickLock) {
      long t0 = clock.nanoTime();
      Set<Integer> notReady = new TreeSet<>();
      Set<Integer> stuck = new TreeSet<>(work.stuck());
      Set<Integer> leaseOwned = leaseOwned(notReady);
      Set<Integer> owned = new TreeSet<>(leaseOwned);
      owned.removeAll(stuck);
      RenewalOutcome r;
      synchronized (renewLock) {
        r = renew(owned);
      }
      notReady.addAll(r.notReady());
      String silent = r.silent() ? r.reason() : null;
      Optional<HandoverReport> failback = Optional.empty();
      if (silent == null && !r.renewed().isEmpty()) {
        // outside renewLock: the handover waits for the work of the shard in flight, which may
        // need renewLock for its ensureRenewed first
        failback = liveness.failBackOne(r.renewed());
        failback.ifPresent(h -> log.info("Tandem {}: failback {}", self, h));
      }
      Set<Integer> followed = new TreeSet<>();
      List<TakeoverReport> taken = new ArrayList<>();
      for (int s = 0; s < shardCount && !closed; s++) {
        if (leaseOwned.contains(s) || notReady.contains(s) || stuck.contains(s)) {
          continue;
        }
        try {
          if (ownership.lease(s).owner().equals(self)) {
            continue; // ours (draining, or moved to us during this round): nothing to observe
          }
          followed.add(s);
          ownership.pollLoop().observe(s, work.heldFor(s)).ifPresent(taken::add);
        } catch (StoreException e) {
          notReady.add(s);
        }
      }
      if (requests != null && silent == null && !closed) {
        // a silent owner cannot hand over (the destination could not read its changes); the
        // request waits for the next round, or its deadline
        Set<Integer> served = new TreeSet<>(work.served(leaseOwned));
        served.removeAll(stuck);
        served.removeAll(notReady);
        actOnRequests(served);
      }
      List<OwnershipResult> done = new ArrayList<>();
      for (OwnershipResult o; (o = answered.poll()) != null; ) {
        done.add(o);
      }
      return new Round(owned, r.renewed(), followed, taken, notReady, stuck, silent, failback,
          done, Duration.ofNanos(clock.nanoTime() - t0));
    }
  }

  /**
   * Called by a processing path before an owner processes: renews now when the owner's view is not
   * valid (the last renewal is older than {@code revalidateAfter}, or none happened). Never fails a
   * shard back nor hands one over: that is the round's, whose handover waits for the work that
   * called this.
   *
   * @return empty when the view was valid (nothing done); else the renewal made now — the region
   *     may process its shards unless it is {@link RenewalOutcome#silent() silent}
   */
  public Optional<Renewal> ensureRenewed() {
    if (liveness.valid()) {
      return Optional.empty();
    }
    synchronized (renewLock) {
      if (liveness.valid()) {
        return Optional.empty();
      }
      Set<Integer> owned = leaseOwned(new TreeSet<>());
      owned.removeAll(work.stuck());
      return Optional.of(new Renewal(owned, renew(owned)));
    }
  }

  /**
   * Called by a processing path that renews nothing itself before an owner processes: re-reads the
   * changelogs when the view is not valid ({@link OwnerLiveness#ensureValid} over the restored
   * shards whose lease names this region).
   *
   * @return false when the own changelog could not be re-read (do not process yet)
   */
  public boolean ensureValid() {
    return liveness.ensureValid(leaseOwned(new TreeSet<>()));
  }

  /**
   * A renewal made by {@link #ensureRenewed}.
   *
   * @param owned the shards it was asked to renew (lease names this region, not stuck)
   * @param outcome what the liveness decided
   */
  public record Renewal(Set<Integer> owned, RenewalOutcome outcome) {
    public Renewal {
      owned = Set.copyOf(owned);
      Objects.requireNonNull(outcome, "outcome");
    }
  }

  /**
   * Starts {@link OwnershipRequests#act} on the handover thread unless a call is still running
   * (it returns at once when nothing is pending; a handover blocks up to its request's deadline).
   */
  private void actOnRequests(Set<Integer> served) {
    if (!actPending.compareAndSet(false, true)) {
      return; // the running call picks the next request up on the round after it
    }
    try {
      acting.execute(() -> {
        try {
          answered.addAll(requests.act(served));
        } catch (RuntimeException e) {
          log.warn("Tandem {}: acting on ownership requests failed: {}", self, e.toString());
        } finally {
          actPending.set(false);
        }
      });
    } catch (RejectedExecutionException e) {
      actPending.set(false); // closed meanwhile
    }
  }

  /** The owner half: one {@link OwnerLiveness} round. Caller holds {@link #renewLock}. */
  private RenewalOutcome renew(Set<Integer> owned) {
    probeShards = owned;
    return liveness.renew(owned, work::position);
  }

  /** Restored shards whose lease names this region (whether or not the policy lets it process). */
  private Set<Integer> leaseOwned(Set<Integer> notReady) {
    Set<Integer> owned = new TreeSet<>();
    for (int s = 0; s < shardCount; s++) {
      try {
        if (ownership.lease(s).owner().equals(self)) {
          owned.add(s);
        }
      } catch (StoreException e) {
        notReady.add(s); // still restoring: neither processed nor heartbeated
      }
    }
    return owned;
  }

  /** The changelog probe: this region's changelog answers a catch-up of the owned shards. */
  private boolean changelogAnswers(Duration timeout) {
    if (closed) {
      throw new ProbeAbortedException("closing", null);
    }
    CatchUpResult own = replication.catchUp(self, probeShards, timeout);
    if (!own.complete()) {
      throw new IllegalStateException("this region's own changelog did not answer: " + own.reason());
    }
    return true;
  }

  /**
   * Stops the ticker: a round in progress aborts its changelog probe, later rounds renew nothing and
   * start no handover. A request's handover and a failback in progress are waited for, each at most
   * the ownership's catchUpTimeout + 1 s (not interrupted, which would abort them half-way): the
   * runtime closes the store and the changelog right after this, and they write the lease into
   * them. A request handover still running then (its request's deadline is longer) is logged and
   * ends by itself. Does not close the {@link OwnershipRequests} (the region object owns it).
   */
  @Override
  public void close() {
    closed = true;
    if (acting != null) {
      acting.shutdown();
    }
    liveness.stopFailbacks();
    if (acting != null) {
      Duration bound = ownership.catchUpTimeout().plusSeconds(1);
      boolean ended = false;
      try {
        ended = acting.awaitTermination(bound.toNanos(), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (!ended) {
        log.warn("Tandem {}: a handover for an ownership request still runs {} after close; it ends"
            + " at its request's deadline", self, bound);
      }
    }
  }

  /** Whether {@link #close} was called. */
  public boolean closed() {
    return closed;
  }

  /** Builds an {@link OwnershipTicker}. */
  public static final class Builder {
    private final ShardOwnership ownership;
    private final ReplicationLog replication;
    private final Work work;
    private final List<BrokerProbe> probes = new ArrayList<>();
    private OwnershipRequests requests;
    private int shardCount;
    private TandemClock clock = TandemClock.system();
    private Duration probeTimeout = Duration.ofSeconds(2);
    private Duration heartbeatInterval;
    private MeterRegistry registry;

    private Builder(ShardOwnership ownership, ReplicationLog replication, Work work) {
      this.ownership = Objects.requireNonNull(ownership, "ownership");
      this.replication = Objects.requireNonNull(replication, "replication");
      this.work = Objects.requireNonNull(work, "work");
    }

    /** The number of shards (required, positive). */
    public Builder shardCount(int n) {
      if (n <= 0) {
        throw new IllegalArgumentException("shardCount must be positive: " + n);
      }
      this.shardCount = n;
      return this;
    }

    /** The remote ownership requests to act on; without it, requests are not acted on here. */
    public Builder requests(OwnershipRequests requests) {
      this.requests = requests;
      return this;
    }

    /** A probe of a broker the runtime's triggers depend on, asked before each renewal. */
    public Builder probe(BrokerProbe probe) {
      probes.add(Objects.requireNonNull(probe, "probe"));
      return this;
    }

    /** How long each probe may take (default 2 s). */
    public Builder probeTimeout(Duration timeout) {
      this.probeTimeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /** The round period, for the liveness' evidence bound (see {@link OwnerLiveness.Builder}). */
    public Builder heartbeatInterval(Duration interval) {
      this.heartbeatInterval = Objects.requireNonNull(interval, "interval");
      return this;
    }

    /** The clock (default the system clock). */
    public Builder clock(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Where the liveness' probe meters go. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    /** The ticker; it ticks when the runtime calls {@link OwnershipTicker#tick()}. */
    public OwnershipTicker build() {
      if (shardCount <= 0) {
        throw new IllegalStateException("shardCount(...) is required");
      }
      return new OwnershipTicker(this);
    }
  }
}
