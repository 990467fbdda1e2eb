package dev.tandem.consumer.ownership;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.ownership.internal.FailbackRunner;
import dev.tandem.core.TandemClock;
import dev.tandem.store.StoreException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;
import java.util.function.IntToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * When an owner may renew its shard leases: the one owner-liveness protocol, whatever drives it (the
 * Kafka poll loop and its background renewer, the heartbeat timer of a function app). The caller
 * says which shards' leases name this region and supplies the positions; this decides and writes.
 * (Over 500 lines on purpose: the renewal round's rules — probes, heartbeat acknowledgements as
 * answers, revalidation after a silence, busy vs stuck — are one protocol whose steps refer to each
 * other and are read together; its nested {@link Builder} documents each input. The failback that a
 * round may start runs elsewhere, in {@code ownership.internal.FailbackRunner}.)
 *
 * <p>A renewal round ({@link #renew}):
 *
 * <ol>
 *   <li>Every {@link BrokerProbe} must have answered since the previous round — evidence a caller
 *       recorded ({@link #evidence}: a fetch that returned records) or the probe asked now. The
 *       evidence is consumed every round, so a silence that outlasts one round is never taken for a
 *       live broker. A broker that stores the heartbeats ({@link Builder#heartbeatsAcknowledgedBy},
 *       the own changelog's) answered too when it acknowledged the previous round's heartbeats:
 *       they were sent after that round's probes, so an owner whose heartbeats are acknowledged
 *       from round to round needs no probe request (an idle owner's probe that times out under load
 *       must not silence a region whose changelog keeps acknowledging it). The probes are this region's changelog broker and the broker of every trigger
 *       the application consumes from: an owner that cannot receive its shards' messages must not
 *       keep them.
 *   <li>After a silence longer than {@code revalidateAfter} (or before the first renewal) the
 *       changelogs are re-read ({@link OwnershipPollLoop#revalidate}) before anything is renewed: a
 *       follower may have taken the shards over meanwhile. If they cannot be, the round is silent.
 *   <li>The policy hears {@link OwnershipPollLoop#ownerAlive} for every shard whose lease names this
 *       region (a WITNESS grant is renewed even before it lets the owner process).
 *   <li>Heartbeats for the shards it still owns; the view is valid from the round's start.
 *   <li>At most one failback at a time ({@link #failBackOne}), started on a thread of its own and
 *       never waited for: its planned handover may wait up to the ownership's {@code catchUpTimeout}
 *       (a batch of the shard in flight, the peer's acknowledgement), longer than L + margin, and
 *       the next rounds must renew the region's other shards meanwhile (issue 21).
 * </ol>
 *
 * <p>While the caller cannot run a round because it is processing (a Kafka batch), {@link
 * #renewWhileBusy} renews from another thread on evidence alone — never by asking a probe — only
 * while the processing is alive ({@link HandlerActivity}: busy, not stuck) and every broker answered
 * within the evidence bound {@code max(2 × heartbeatInterval, 2 s, revalidateAfter)}. It keeps a
 * valid view valid and never makes a stale one valid.
 *
 * <p>Thread-safe: the validity clock is volatile and a lease write is a merge in the store; callers
 * serialise their own rounds.
 */
public final class OwnerLiveness {

  private static final Logger log = LoggerFactory.getLogger(OwnerLiveness.class);
  private static final Duration MIN_EVIDENCE_BOUND = Duration.ofSeconds(2);

  private final ShardOwnership ownership;
  private final TandemClock clock;
  private final Map<String, Probe> probes;
  private final Duration probeTimeout;
  private final long evidenceBoundNanos;
  private final HandlerActivity activity;
  private final boolean failback;

  /** Failbacks apart from renewal: decided here, each handover on a thread of its own. */
  private final FailbackRunner failbacks;

  /** End of the previous round's requests: evidence sent after it counts for the next round. */
  private volatile long lastRoundNanos;
  /** The number of the round in progress or last run ({@link #renew}; rounds are serialised). */
  private volatile long round;
  /** Last renewal or revalidation (monotonic); meaningful only when {@link #everValid}. */
  private volatile long lastValidNanos;
  private volatile boolean everValid;

  /** One probe with its evidence and meters. */
  private static final class Probe {
    final BrokerProbe probe;
    final BrokerEvidence evidence = new BrokerEvidence();
    final Counter answered;
    final Counter silent;
    volatile boolean silentReported;
    /** The broker's acknowledgement of a shard's heartbeat; null when it stores none. */
    volatile IntFunction<CompletableFuture<?>> heartbeatAcks;
    /** The newest round whose heartbeats this broker acknowledged (0: none). */
    final AtomicLong ackedRound = new AtomicLong();

    Probe(BrokerProbe probe, Counter answered, Counter silent) {
      this.probe = probe;
      this.answered = answered;
      this.silent = silent;
    }
  }

  private OwnerLiveness(Builder b) {
    this.ownership = b.ownership;
    this.clock = b.clock;
    this.probeTimeout = b.probeTimeout;
    this.activity = b.activity;
    this.failback = b.failback;
    this.failbacks = new FailbackRunner(ownership.self(), ownership::failbackDue,
        ownership::failBack);
    // evidence older than this does not let a busy owner renew: two rounds, at least a probe's own
    // timeout, and at least revalidateAfter (L by default). With a shorter bound a stalled own
    // changelog lane, or a batch waiting for its claims to become durable, read as a lost broker
    // after 2 s and the peer took over a live region (issue 14's production soak). An owner whose
    // broker is really gone keeps its leases at most this much longer; it runs no handler meanwhile
    Duration bound = b.heartbeatInterval.multipliedBy(2);
    bound = bound.compareTo(MIN_EVIDENCE_BOUND) < 0 ? MIN_EVIDENCE_BOUND : bound;
    bound = bound.compareTo(ownership.revalidateAfter()) < 0 ? ownership.revalidateAfter() : bound;
    this.evidenceBoundNanos = bound.toNanos();
    String region = ownership.self().name();
    Map<String, Probe> m = new LinkedHashMap<>();
    for (BrokerProbe p : b.probes) {
      Counter answered = Counter.builder(ConsumerMeterNames.OWNERSHIP_PROBE).tag("region", region)
          .tag("probe", p.name()).tag("outcome", "answered")
          .description("broker probes an owner asked before renewing its shard leases")
          .register(b.registry);
      Counter silent = Counter.builder(ConsumerMeterNames.OWNERSHIP_PROBE).tag("region", region)
          .tag("probe", p.name()).tag("outcome", "silent")
          .description("broker probes an owner asked before renewing its shard leases")
          .register(b.registry);
      m.put(p.name(), new Probe(p, answered, silent));
    }
    b.heartbeatAcks.forEach((name, acks) -> {
      Probe p = m.get(name);
      if (p == null) {
        throw new IllegalArgumentException("heartbeatsAcknowledgedBy names no broker probe: " + name
            + "; probes: " + m.keySet());
      }
      p.heartbeatAcks = acks;
    });
    this.probes = Collections.unmodifiableMap(m);
    this.lastRoundNanos = clock.nanoTime();
  }

  /** A new builder for the liveness of {@code ownership}'s owner. */
  public static Builder builder(ShardOwnership ownership) {
    return new Builder(ownership);
  }

  /**
   * Where a caller records evidence about the broker of probe {@code name} (a fetch that returned
   * records, an acknowledged changelog write), so that a round need not ask the probe.
   *
   * @throws IllegalArgumentException for an unknown probe name
   */
  public BrokerEvidence evidence(String name) {
    Probe p = probes.get(name);
    if (p == null) {
      throw new IllegalArgumentException("no broker probe named " + name + "; probes: "
          + probes.keySet());
    }
    return p.evidence;
  }

  /**
   * The processing activity {@link #renewWhileBusy} checks (busy or stuck); the caller keeps the
   * instance it gave the builder, this is for tests.
   *
   * @throws IllegalStateException when the builder was given no {@link Builder#activity}
   */
  HandlerActivity activity() {
    if (activity == null) {
      throw new IllegalStateException("no HandlerActivity configured: no activity is tracked");
    }
    return activity;
  }

  /** How old a broker's evidence may be for {@link #renewWhileBusy}. */
  public Duration evidenceBound() {
    return Duration.ofNanos(evidenceBoundNanos);
  }

  /** Whether this owner's view is valid: renewed or revalidated within {@code revalidateAfter}. */
  public boolean valid() {
    return everValid
        && clock.nanoTime() - lastValidNanos <= ownership.revalidateAfter().toNanos();
  }

  /**
   * Makes the view of {@code owned} valid before the owner processes them: re-reads the changelogs
   * when this owner has been silent for {@code revalidateAfter} (or never renewed). Validity is one
   * clock for every shard the caller owns, so pass all of them, not only the ones about to run.
   *
   * @return false when the own changelog could not be re-read (do not process yet)
   */
  public boolean ensureValid(Set<Integer> owned) {
    if (owned.isEmpty() || valid()) {
      return true;
    }
    if (!ownership.pollLoop().revalidate(owned)) {
      return false;
    }
    markValid(clock.nanoTime());
    return true;
  }

  private void markValid(long atNanos) {
    lastValidNanos = atNanos;
    everValid = true;
  }

  /**
   * One renewal round of the owner (see the class doc): probes, revalidation after a silence, then
   * {@code ownerAlive}, heartbeats, one failback (unless the builder turned failback off).
   *
   * @param leaseOwned the caller's shards whose lease names this region (restored ones; the caller
   *     decides which shards it serves)
   * @param position the position each heartbeat carries (a follower reads a change as progress)
   * @throws ProbeAbortedException passed through from a probe the caller aborted (e.g. the caller
   *     is closing): nothing is recorded for that probe and nothing is renewed
   */
  public RenewalOutcome renew(Set<Integer> leaseOwned, IntToLongFunction position) {
    long t0 = clock.nanoTime();
    Set<Integer> notReady = new TreeSet<>();
    if (leaseOwned.isEmpty()) {
      return new RenewalOutcome(RenewalOutcome.Kind.NOTHING_OWNED, Set.of(), notReady, null,
          Optional.empty());
    }
    String silent = askProbes();
    if (silent != null) {
      return new RenewalOutcome(RenewalOutcome.Kind.BROKER_SILENT, Set.of(), notReady,
          silent + ", so no heartbeat was written for shards " + leaseOwned, Optional.empty());
    }
    Set<Integer> owned = new TreeSet<>();
    for (int s : leaseOwned) {
      try {
        if (ownership.owns(s)) {
          owned.add(s);
        }
      } catch (StoreException e) {
        notReady.add(s);
      }
    }
    // after a silence, a heartbeat must not renew a lease a follower has taken over meanwhile; and
    // an owner that cannot re-read its own changelog processes nothing, so it tells the policy
    // nothing either: a witness lease it kept would only stop the peer from taking over
    if (!ensureValid(owned)) {
      return new RenewalOutcome(RenewalOutcome.Kind.REVALIDATION_FAILED, Set.of(), notReady,
          "re-reading the changelogs after a silence failed for shards " + owned, Optional.empty());
    }
    if (!owned.isEmpty()) {
      // valid from the round's start: the heartbeats below can only be later than that
      markValid(t0);
    }
    // the owner runs, every broker it depends on answers and its view is valid: a policy with an
    // outside lease may keep it, even for a shard it may not process yet (WITNESS before a grant)
    for (int s : leaseOwned) {
      try {
        ownership.pollLoop().ownerAlive(s);
      } catch (StoreException e) {
        notReady.add(s);
      }
    }
    Set<Integer> renewed = new TreeSet<>();
    // after this round's probes (askProbes has ended), so the heartbeats are requests sent after
    // them: the broker storing them answers for the next round when it acknowledges one
    long sent = clock.nanoTime();
    for (int s : owned) {
      try {
        if (ownership.owns(s)) { // the revalidation may have brought a takeover
          ownership.pollLoop().heartbeat(s, position.applyAsLong(s));
          renewed.add(s);
        }
      } catch (StoreException e) {
        notReady.add(s);
      }
    }
    watchHeartbeatAcks(renewed, round, sent);
    Optional<HandoverReport> fb = failback ? failBackOne(renewed) : Optional.empty();
    return new RenewalOutcome(RenewalOutcome.Kind.RENEWED, renewed, notReady, null, fb);
  }

  /**
   * Starts at most one failback among {@code renewed} ({@link OwnershipPollLoop#failBackIfDue}) on a
   * thread of its own and returns without waiting for it: the planned handover waits for every
   * batch of the shard begun with {@link OwnershipPollLoop#beginWork} and for the peer's
   * acknowledgement, up to the ownership's {@code catchUpTimeout} — longer than L + margin by
   * default — and the caller's next renewal rounds must keep the region's other leases meanwhile
   * (issue 21: run inline, it let a follower take the other shards over). While one runs, no other
   * is started. {@link #renew} calls it itself unless the builder turned {@link Builder#failback}
   * off.
   *
   * @param renewed the shards the round just renewed
   * @return the report of a failback that finished since the previous call, if any (each report is
   *     returned once)
   */
  public Optional<HandoverReport> failBackOne(Set<Integer> renewed) {
    return failbacks.startOne(renewed);
  }

  /**
   * For each probe whose broker stores the heartbeats: its acknowledgement of one of this round's
   * heartbeats is its answer for the next round (and evidence dated {@code sentNanos}, for {@link
   * #renewWhileBusy}'s bound).
   */
  private void watchHeartbeatAcks(Set<Integer> renewed, long roundNo, long sentNanos) {
    if (renewed.isEmpty()) {
      return;
    }
    for (Probe p : probes.values()) {
      IntFunction<CompletableFuture<?>> acks = p.heartbeatAcks;
      if (acks == null) {
        continue;
      }
      for (int s : renewed) {
        CompletableFuture<?> ack;
        try {
          ack = acks.apply(s);
        } catch (RuntimeException e) {
          continue; // no acknowledgement to watch: the next round asks the probe
        }
        ack.whenComplete((v, e) -> {
          if (e == null) {
            p.ackedRound.accumulateAndGet(roundNo, Math::max);
            p.evidence.answered(sentNanos);
          }
        });
      }
    }
  }

  /**
   * Starts no failback any more and waits for the one running, if any, to end — at most the
   * ownership's {@code catchUpTimeout} (which bounds its handover) plus a second. Call it when the
   * loop or ticker driving this stops, before the store and the changelog close: the handover runs
   * on a thread of its own and writes the lease into them.
   *
   * @return true when no failback runs any more
   */
  public boolean stopFailbacks() {
    return failbacks.stop(ownership.catchUpTimeout().plusSeconds(1));
  }

  /** Asks each probe without evidence since the previous round; the first silent one's reason. */
  private String askProbes() {
    long since = lastRoundNanos;
    round++;
    try {
      return askProbesSince(since);
    } finally {
      // after this round's own requests: only evidence sent later counts for the next round
      lastRoundNanos = clock.nanoTime();
    }
  }

  private String askProbesSince(long since) {
    for (Probe p : probes.values()) {
      if (p.evidence.answeredSince(since)) {
        continue; // answered since the last round (a fetch): no request needed
      }
      if (p.ackedRound.get() >= round - 1 && round > 1 && !p.evidence.failedSince(since)) {
        // it acknowledged a heartbeat of the previous round, sent after that round's probes (not
        // counted as a probe asked: none was)
        continue;
      }
      long sent = clock.nanoTime();
      String why;
      try {
        why = p.probe.answers(probeTimeout) ? null : "no answer within " + probeTimeout;
      } catch (ProbeAbortedException e) {
        // the caller stopped the request (it is closing): no evidence either way about the broker,
        // so neither a failure, nor the silent meter, nor a WARN that the peer takes over
        throw e;
      } catch (RuntimeException e) {
        why = e.getMessage() != null ? e.getMessage() : e.toString();
      }
      if (why == null) {
        p.evidence.answered(sent);
        p.answered.increment();
        if (p.silentReported) {
          p.silentReported = false;
          log.info("Tandem owner {}: the broker probe {} answers again", ownership.self(),
              p.probe.name());
        }
        continue;
      }
      p.evidence.failed(clock.nanoTime());
      p.silent.increment();
      if (!p.silentReported) {
        p.silentReported = true;
        log.warn("Tandem owner {}: the broker probe {} did not answer ({}); no lease is renewed"
            + " while it does not, so the peer region takes this region's shards over after"
            + " L + margin", ownership.self(), p.probe.name(), why);
      }
      return "the broker probe " + p.probe.name() + " did not answer (" + why + ")";
    }
    return null;
  }

  /**
   * Renews {@code renewable} while the caller processes and cannot run {@link #renew} (from another
   * thread): only while the processing is alive (when a {@link HandlerActivity} is given) and
   * every probe's broker answered within {@link #evidenceBound()}. Asks no probe. Keeps a valid view
   * valid; after a silence the caller still revalidates ({@link #ensureValid}) before it processes.
   * Its {@link RenewalOutcome.Kind#RENEWED} says leases were renewed, not that the view is valid
   * ({@link #valid()} says that).
   */
  public RenewalOutcome renewWhileBusy(Set<Integer> renewable, IntToLongFunction position) {
    long now = clock.nanoTime();
    if (renewable.isEmpty()) {
      return new RenewalOutcome(RenewalOutcome.Kind.NOTHING_OWNED, Set.of(), Set.of(), null,
          Optional.empty());
    }
    if (activity != null && !activity.alive(now)) {
      Duration running = activity.handlerRunningFor(now);
      return new RenewalOutcome(RenewalOutcome.Kind.STUCK, Set.of(), Set.of(),
          "the processing is stuck: " + (running != null ? "a handler has run for " + running
              : "the loop has not turned") + " (handlerTimeout " + activity.handlerTimeout() + ")",
          Optional.empty());
    }
    for (Probe p : probes.values()) {
      if (!p.evidence.answeredWithin(now, evidenceBoundNanos)) {
        return new RenewalOutcome(RenewalOutcome.Kind.BROKER_SILENT, Set.of(), Set.of(),
            "the broker of probe " + p.probe.name() + " has not answered within "
                + evidenceBound(), Optional.empty());
      }
    }
    // renewing is safe whether or not this view is valid: a heartbeat renews the epoch this replica
    // holds, and a takeover's higher epoch wins every merge. But only a renewal of a valid view
    // keeps it valid
    boolean valid = valid();
    List<Integer> renewed = new ArrayList<>();
    Set<Integer> notReady = new TreeSet<>();
    for (int s : renewable) {
      try {
        ownership.pollLoop().ownerAlive(s);
        if (ownership.owns(s)) {
          ownership.pollLoop().heartbeat(s, position.applyAsLong(s));
          renewed.add(s);
        }
      } catch (StoreException e) {
        notReady.add(s);
      }
    }
    if (valid && !renewed.isEmpty()) {
      markValid(now);
    }
    return new RenewalOutcome(RenewalOutcome.Kind.RENEWED, new TreeSet<>(renewed), notReady, null,
        Optional.empty());
  }

  /** Builds an {@link OwnerLiveness}. */
  public static final class Builder {
    private final ShardOwnership ownership;
    private final List<BrokerProbe> probes = new ArrayList<>();
    private final Map<String, IntFunction<CompletableFuture<?>>> heartbeatAcks =
        new LinkedHashMap<>();
    private Duration probeTimeout = Duration.ofSeconds(5);
    private Duration heartbeatInterval = Duration.ofSeconds(1);
    private HandlerActivity activity;
    private boolean failback = true;
    private TandemClock clock = TandemClock.system();
    private MeterRegistry registry;

    private Builder(ShardOwnership ownership) {
      this.ownership = Objects.requireNonNull(ownership, "ownership");
    }

    /**
     * A broker this owner depends on (required at least once; names unique): its own changelog's,
     * and one per trigger the application consumes from.
     */
    public Builder probe(BrokerProbe probe) {
      Objects.requireNonNull(probe, "probe");
      for (BrokerProbe p : probes) {
        if (p.name().equals(probe.name())) {
          throw new IllegalArgumentException("two broker probes named " + probe.name());
        }
      }
      probes.add(probe);
      return this;
    }

    /** The timeout each probe is asked with (default 5 s; keep it well below L). */
    public Builder probeTimeout(Duration timeout) {
      this.probeTimeout = positive(timeout, "probeTimeout");
      return this;
    }

    /** How often the caller renews (default 1 s): two of them bound a busy owner's evidence. */
    public Builder heartbeatInterval(Duration interval) {
      this.heartbeatInterval = positive(interval, "heartbeatInterval");
      return this;
    }

    /**
     * The processing's activity: {@link #renewWhileBusy} renews only while it is alive (no handler
     * beyond its handlerTimeout, the loop turning). Default: not tracked (always alive).
     */
    public Builder activity(HandlerActivity activity) {
      this.activity = Objects.requireNonNull(activity, "activity");
      return this;
    }

    /**
     * The broker of probe {@code probe} stores the heartbeats (the own changelog's broker): {@code
     * acknowledged} is its acknowledgement of a shard's heartbeat written just before (e.g. the
     * replication log's barrier of the own region). An acknowledged heartbeat of the previous round
     * answers for the broker, so that round asks it nothing; without one the probe is asked as
     * before. Default: none.
     *
     * @throws IllegalArgumentException at {@link #build} when no probe has that name
     */
    public Builder heartbeatsAcknowledgedBy(String probe,
        IntFunction<CompletableFuture<?>> acknowledged) {
      heartbeatAcks.put(Objects.requireNonNull(probe, "probe"),
          Objects.requireNonNull(acknowledged, "acknowledged"));
      return this;
    }

    /** Whether a round hands a shard back to its recovered home region (default true). */
    public Builder failback(boolean enabled) {
      this.failback = enabled;
      return this;
    }

    /** The monotonic clock (default: the system's). */
    public Builder clock(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Where the probe meters go (default: a new {@link SimpleMeterRegistry}). */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    private static Duration positive(Duration d, String name) {
      Objects.requireNonNull(d, name);
      if (d.isZero() || d.isNegative()) {
        throw new IllegalArgumentException(name + " must be > 0, got " + d);
      }
      return d;
    }

    /**
     * The liveness of the owner.
     *
     * @throws IllegalStateException when no {@link #probe} was given
     */
    public OwnerLiveness build() {
      if (probes.isEmpty()) {
        throw new IllegalStateException("an owner needs at least one broker probe (its own "
            + "changelog's broker): without one it would renew with its broker down");
      }
      if (registry == null) {
        registry = new SimpleMeterRegistry();
      }
      return new OwnerLiveness(this);
    }
  }
}
