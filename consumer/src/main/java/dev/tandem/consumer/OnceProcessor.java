package dev.tandem.consumer;

import dev.tandem.consumer.internal.ConsumerMetrics;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.EnvelopeException;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemClock;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import dev.tandem.store.RecordKey;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.IntToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transport-neutral core of "process once": for each received copy it reads and checks the
 * envelope, claims the id in the {@link IdempotencyStore}, runs the handler, and records the outcome.
 * The Kafka poll loop, the Service Bus processor and the Functions middleware all sit on it.
 *
 * <pre>{@code
 * OnceProcessor processor = OnceProcessor.builder()
 *     .store(store)
 *     .deadLetterSink(KafkaDeadLetterSink.create(producer, region))
 *     .meterRegistry(registry)
 *     .build();
 * Outcome outcome = processor.process(message, epoch, ctx -> orders.apply(ctx.payload()));
 * }</pre>
 *
 * <p>Per message, in this order:
 *
 * <ol>
 *   <li>Envelope: a missing {@code tandem-id} follows the {@link MissingIdPolicy}; a malformed
 *       envelope, a payload that does not match {@code tandem-digest} (checked on every path), or (when
 *       a signer is configured) a bad signature goes to the dead-letter path. Nothing is dropped.
 *   <li>Staleness: {@code published-at} older than the store's {@link IdempotencyStore#ttl() TTL}
 *       minus {@code staleMargin} is dead-lettered {@code STALE}: its record may have expired, so it is
 *       never processed blindly.
 *   <li>Claim (batched per poll in {@link #processAll}: one store WriteBatch). {@code AlreadyCompleted}
 *       → skipped (a suppressed duplicate); {@code Conflict} → dead-lettered {@code CONFLICT};
 *       {@code InProgress} → wait up to {@code inProgressWait} for the other claim to end, else
 *       "try later" (not a duplicate); {@code DeadLettered} → skipped, or sent to the dead-letter path
 *       if this owner's claim is what dead-lettered it.
 *   <li>Durability (with {@link Builder#claimsDurable}): no handler runs before its claim is in the own
 *       region's changelog; past the timeout the copy answers {@code CLAIMS_NOT_DURABLE} and its claim
 *       is resumed on the next delivery.
 *   <li>Handler, with the claim's lease renewed every {@code renewEvery} while it runs (also after
 *       {@link #close()}, until it returns). An attempt that follows a claim whose lease expired is
 *       reported ({@code tandem.consumer.reclaimed.expired}, a WARN, {@link
 *       ProcessingContext#previousClaim()}): its earlier claimant may have run the handler. Success →
 *       {@code complete}; an exception → {@code release}, so the next delivery is attempt k+1; once
 *       the store's {@code maxAttempts} is reached the record is DEAD_LETTERED in every region and the
 *       message goes to the dead-letter path.
 * </ol>
 *
 * <p>Thread-safe: any number of threads may call {@code process}; the store answers {@code Acquired}
 * once per attempt, so two threads never run the handler for the same id at once. Store failures
 * ({@code StoreException}) propagate: the transport must then redeliver, not acknowledge.
 */
public final class OnceProcessor implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(OnceProcessor.class);

  /** Prefix of ids derived under {@link MissingIdPolicy#DERIVE_FROM_PAYLOAD}. */
  public static final String DERIVED_ID_PREFIX = "sha256:";

  private final IdempotencyStore store;
  private final Owner owner;
  private final DeadLetterSink deadLetterSink;
  private final ConsumerMetrics metrics;
  private final TandemClock clock;
  private final MissingIdPolicy missingIdPolicy;
  private final Duration claimLease;
  private final Duration renewEvery;
  private final Duration inProgressWait;
  private final Duration retryBackoff;
  private final Duration staleAfter;
  private final Duration deadLetterTimeout;
  private final EnvelopeSigner signer;
  private final ShardFence fence;
  private final java.util.function.IntFunction<CompletableFuture<Void>> claimsDurable;
  private final Duration claimsDurableTimeout;
  /** Whether a durable-claims wait timed out, and when (System.nanoTime): see awaitClaimsDurable. */
  private volatile boolean durableTimedOut;
  private volatile long durableTimedOutAtNanos;
  private final io.micrometer.core.instrument.Counter claimsNotDurable;
  /**
   * Claims acquired here whose handler did not run because they were not durable in time, by key:
   * the next delivery resumes them as the same attempt (see {@link #adopt}). An entry leaves when it
   * is resumed, when its id answers anything but this owner's live claim, on FENCED, when its shard
   * is forgotten ({@link #forgetShards}, {@link #close}: released), after {@link #parkedMaxAgeNanos},
   * or — the oldest, released — when {@link #maxParked} are kept. An entry lost early only costs an
   * attempt and a conservative re-run report.
   */
  private final Map<RecordKey, Parked> parked = new ConcurrentHashMap<>();
  private final int maxParked;
  /**
   * How long a parked entry is kept: twice the claim lease. Its lease on this store runs out one lease
   * after it was parked (its renewals stop then); after that the entry only serves to tell the next
   * attempt of this owner that the expired claim never ran its handler, and that attempt comes with
   * the redelivery of the copy (after the retry delay, seconds). A second lease is slack for a slow
   * redelivery; beyond it the next attempt reports a re-run (conservative, never a silent one).
   */
  private final long parkedMaxAgeNanos;
  private volatile long lastParkedSweepNanos;
  private volatile boolean parkedOverflowWarned;
  private final MeterRegistry meterRegistry;
  private final ScheduledExecutorService renewer;
  /** Every claim being renewed now (it waits for, or runs, its handler). */
  private final java.util.Set<LiveClaim> liveClaims = ConcurrentHashMap.newKeySet();
  private final Duration closeTimeout;
  /** Guards {@link #inFlight} and {@link #closed}. */
  private final Object lifecycle = new Object();
  /** processAll calls under way (each may hold live claims and run handlers). */
  private int inFlight;
  private volatile boolean closed;
  /** Ids whose live claim (someone else's) a caller waits on; completed by the store listener. */
  private final Map<String, CompletableFuture<Void>> waiters = new ConcurrentHashMap<>();

  private OnceProcessor(Builder b) {
    this.store = b.store;
    this.owner = b.store.owner();
    this.deadLetterSink = b.deadLetterSink;
    this.metrics = new ConsumerMetrics(b.meterRegistry, owner.region().name());
    this.clock = b.clock;
    this.missingIdPolicy = b.missingIdPolicy;
    this.claimLease = b.claimLease;
    this.renewEvery = b.renewEvery != null ? b.renewEvery : b.claimLease.dividedBy(3);
    this.inProgressWait = b.inProgressWait;
    this.retryBackoff = b.retryBackoff;
    this.staleAfter = b.store.ttl().minus(b.effectiveStaleMargin(b.store.ttl()));
    this.closeTimeout = b.closeTimeout;
    this.maxParked = b.maxParked;
    this.parkedMaxAgeNanos = b.claimLease.multipliedBy(2).toNanos();
    this.meterRegistry = b.meterRegistry;
    this.lastParkedSweepNanos = b.clock.nanoTime();
    this.deadLetterTimeout = b.deadLetterTimeout;
    this.signer = b.signer;
    this.fence = b.fence;
    this.claimsDurable = b.claimsDurable;
    this.claimsDurableTimeout = b.claimsDurableTimeout;
    this.claimsNotDurable = io.micrometer.core.instrument.Counter
        .builder("tandem.consumer.claims.not.durable").tag("region", owner.region().name())
        .description("batches whose handlers were held back (try later): their claims were not in"
            + " the own region's changelog in time")
        .register(b.meterRegistry);
    this.renewer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "tandem-lease-renewer-" + owner.instance());
              t.setDaemon(true);
              return t;
            });
    // wakes callers waiting on another owner's claim as soon as the record moves (local or replicated)
    store.addListener(new StoreListener() {
      @Override
      public void onRecord(IdRecord record, WriteOrigin origin) {
        if (!waiters.isEmpty() && record.phase() != Phase.CLAIMED) {
          CompletableFuture<Void> w = waiters.remove(record.id());
          if (w != null) {
            w.complete(null);
          }
        }
      }
    });
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** This processor's store. */
  public IdempotencyStore store() {
    return store;
  }

  /**
   * Forgets the parked claims of {@code shards} (this instance no longer processes them: a rebalance
   * revoked them, or they were lost): each is RELEASED in the store, so the next instance to get the
   * shard claims the message at once — instead of waiting out a claim lease nobody renews and then
   * reporting a re-run of a handler that never ran. Call it before the shards' changes are flushed and
   * dropped, so the release reaches the changelog. A claim at the store's last attempt is not
   * released (a release would dead-letter it with no copy to route): it expires, and its next
   * claimant dead-letters and routes it. Counted as {@code tandem.consumer.parked.released} (cause
   * {@code forgotten}).
   *
   * @param shards the shards given up
   */
  public void forgetShards(java.util.Collection<Integer> shards) {
    Objects.requireNonNull(shards, "shards");
    if (parked.isEmpty() || shards.isEmpty()) {
      return;
    }
    int released = 0;
    for (Map.Entry<RecordKey, Parked> e : parked.entrySet()) {
      if (shards.contains(e.getKey().shard()) && parked.remove(e.getKey(), e.getValue())
          && abandon(e.getKey(), e.getValue().claim(), "forgotten")) {
        released++;
      }
    }
    if (released > 0) {
      log.info("Tandem {}: released {} parked claim(s) of shards {} given up; their next claimant"
          + " runs them at once", owner, released, shards);
    }
  }

  /** The keys of the parked claims (tests). */
  java.util.Set<RecordKey> parkedKeysForTest() {
    return new java.util.HashSet<>(parked.keySet());
  }

  /** The store owner (region and instance) this processor claims as. */
  public Owner owner() {
    return owner;
  }

  /** The claim lease (how long a claim lives without renewal). */
  public Duration claimLease() {
    return claimLease;
  }

  /** Where dead letters go (a wrapper checks it suits its transport). */
  public DeadLetterSink deadLetterSink() {
    return deadLetterSink;
  }

  /** How often a running handler's claim is renewed (default a third of the claim lease). */
  public Duration renewEvery() {
    return renewEvery;
  }

  /**
   * How old a message may be ({@code tandem-published-at}, or a transport's first enqueue time)
   * before it is {@code STALE}: the store's record TTL minus the staleness margin. A transport that
   * parks copies for later rechecks bounds them by it, so no parked copy outlives the records it is
   * checked against.
   */
  public Duration staleAfter() {
    return staleAfter;
  }

  /**
   * Sends {@code message} to the dead-letter sink without touching its record (the id's fate stays
   * with whoever claims it): for a transport that gives up on a copy it could not settle here, e.g.
   * a recheck past its bound. Logged and counted as every dead letter.
   *
   * @return {@link Outcome.DeadLettered}, or {@link Outcome.RetryLater} ({@code DEAD_LETTER_FAILED})
   *     when the sink failed
   */
  public Outcome deadLetterCopy(IncomingMessage message, DeadLetterReason reason, String detail) {
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(detail, "detail");
    return count(sendDeadLetter(message, safeId(message), reason, detail, false));
  }

  /** Processes one copy under epoch 0 (no shard leases). */
  public Outcome process(IncomingMessage message, MessageHandler handler) {
    return process(message, 0L, handler);
  }

  /** Processes one copy, claiming under the shard lease {@code epoch}. */
  public Outcome process(IncomingMessage message, long epoch, MessageHandler handler) {
    return processAll(List.of(message), s -> epoch, handler).get(0);
  }

  /**
   * Processes the copies of one poll in order: every claim is made up front in one store batch (one
   * WriteBatch, one changelog send), then the handlers run one after another.
   *
   * @param epochOfShard the shard lease epoch to claim each shard under
   * @return one outcome per message, in order
   */
  public List<Outcome> processAll(
      List<IncomingMessage> messages, IntToLongFunction epochOfShard, MessageHandler handler) {
    Objects.requireNonNull(handler, "handler");
    int n = messages.size();
    if (!enter()) {
      List<Outcome> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        out.add(count(new Outcome.RetryLater(null, Outcome.RetryReason.CLOSED, retryBackoff,
            "this processor is closed")));
      }
      return out;
    }
    List<LiveClaim> live = new ArrayList<>();
    try {
      Object[] steps = new Object[n];
      List<ClaimRequest> requests = new ArrayList<>(n);
      List<Integer> claimIndex = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        IncomingMessage m = messages.get(i);
        Object step = prepare(m);
        if (step instanceof Ready r) {
          long epoch = epochOfShard.applyAsLong(m.shard());
          r.epoch = epoch;
          if (!fence.holds(m.shard(), epoch)) {
            step = fenced(r.envelope.id(), m.shard(), epoch);
          } else if (!r.derived && isStale(r.envelope)) {
            step = new Stale(r);
          } else {
            requests.add(new ClaimRequest(r.envelope.id(), m.shard(), r.envelope.digest(), epoch,
                claimLease));
            claimIndex.add(i);
          }
        }
        steps[i] = step;
      }
      List<ClaimResult> claims = requests.isEmpty() ? List.of() : store.claimAll(requests);
      List<Ready> acquired = new ArrayList<>();
      for (int j = 0; j < claims.size(); j++) {
        Ready r = (Ready) steps[claimIndex.get(j)];
        r.claim = adopt(r, claims.get(j));
        if (r.claim instanceof ClaimResult.Acquired a) {
          // renewed from now on: later messages of the batch wait for the earlier handlers
          r.live = startRenewing(r.envelope.id(), r.message.shard(), a);
          live.add(r.live);
          acquired.add(r);
        }
      }
      java.util.Set<Ready> notDurable = awaitClaimsDurable(acquired);
      for (int i : claimIndex) {
        if (steps[i] instanceof Ready r && notDurable.contains(r)) {
          steps[i] = park(r);
        }
      }
      List<Outcome> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        // claims are made up front: once close() began, no handler of the batch starts any more
        // (close may have returned; the caller then closes the store under it)
        out.add(closed && startsAHandler(steps[i])
            ? count(notStarted(steps[i])) : finish(steps[i], handler));
      }
      return out;
    } finally {
      for (LiveClaim c : live) {
        c.stop();
      }
      exit();
    }
  }

  /**
   * Before any handler of the batch runs, waits until its claims are in the own region's changelog
   * (when a {@link Builder#claimsDurable} hook is set): a new owner reading that changelog at takeover
   * then sees every claim whose handler may have run, so the duplicate bound it reports counts it even
   * if this process is killed right after the claim.
   *
   * <p>The wait is never skipped: a claim in no changelog is invisible to the taker, and the only
   * place that could record "these ids ran unrecorded" is that same changelog, which is what does not
   * answer. It is bounded instead: claims not acknowledged within the timeout are parked and their
   * copies answered {@code CLAIMS_NOT_DURABLE} (try later; the meter {@code
   * tandem.consumer.claims.not.durable} counts the batch). For one timeout after a timeout the own
   * broker is presumed slow: batches do not wait again (the poll loop stays responsive) and run only
   * the claims already acknowledged.
   *
   * <p>Each claim waits for its OWN write: the barrier taken right after the batch's claims (one per
   * shard), or, for a resumed parked claim, the barrier taken after its original claim — whichever
   * completes first. A resume writes a renewal, and a barrier taken now covers it too; waiting only for
   * that would never end under a changelog steadily slower than the timeout (each retry's barrier
   * lags as much as the last). Per shard, claims run in batch order up to the first one not durable;
   * it and the shard's later claims are parked (order within a partition is kept).
   *
   * @return the claims not durable (empty: every handler of the batch may run)
   */
  private java.util.Set<Ready> awaitClaimsDurable(List<Ready> acquired) {
    if (claimsDurable == null || acquired.isEmpty()) {
      return java.util.Set.of();
    }
    Map<Integer, CompletableFuture<Void>> barriers = new java.util.HashMap<>();
    for (Ready r : acquired) {
      r.fresh = barriers.computeIfAbsent(r.message.shard(), this::barrier);
      r.durable = r.resumed == null ? r.fresh
          : firstSuccess(List.of(r.resumed.original(), r.resumed.latest(), r.fresh));
    }
    boolean coolingDown = !coolDownLeft().isZero();
    long deadline = System.nanoTime() + (coolingDown ? 0 : claimsDurableTimeout.toNanos());
    java.util.Set<Ready> notDurable =
        java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    java.util.Set<Integer> heldShards = new java.util.TreeSet<>();
    String failure = null;
    for (Ready r : acquired) {
      int shard = r.message.shard();
      if (heldShards.contains(shard)) {
        notDurable.add(r); // after a claim of its shard that is not durable: keeps the order
        continue;
      }
      try {
        r.durable.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt(); // the other waits fail at once too
        notDurable.add(r);
        heldShards.add(shard);
        failure = e.toString();
      } catch (ExecutionException | TimeoutException | RuntimeException e) {
        notDurable.add(r);
        heldShards.add(shard);
        failure = e.toString();
      }
    }
    if (!notDurable.isEmpty()) {
      claimsNotDurable.increment();
      if (!coolingDown) {
        durableTimedOutAtNanos = System.nanoTime(); // real time, as the wait itself
        durableTimedOut = true;
        log.warn("Tandem {}: claims of shards {} not in the changelog within {} ({}); their handlers"
            + " do not run, the copies are retried", owner, heldShards, claimsDurableTimeout, failure);
      }
    }
    return notDurable;
  }

  /** The hook's barrier for {@code shard} now; a hook that throws counts as not acknowledged. */
  private CompletableFuture<Void> barrier(int shard) {
    try {
      return Objects.requireNonNull(claimsDurable.apply(shard), "claimsDurable returned null");
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** Completes when the first of {@code fs} completes normally; fails once all of them failed. */
  private static CompletableFuture<Void> firstSuccess(List<CompletableFuture<Void>> fs) {
    List<CompletableFuture<Void>> distinct = fs.stream().distinct().toList();
    if (distinct.size() == 1) {
      return distinct.get(0);
    }
    CompletableFuture<Void> out = new CompletableFuture<>();
    java.util.concurrent.atomic.AtomicInteger failed =
        new java.util.concurrent.atomic.AtomicInteger();
    for (CompletableFuture<Void> f : distinct) {
      f.whenComplete((v, e) -> {
        if (e == null) {
          out.complete(null);
        } else if (failed.incrementAndGet() == distinct.size()) {
          out.completeExceptionally(e);
        }
      });
    }
    return out;
  }

  /** How long the no-wait period after a durable-claims timeout still lasts (zero: none). */
  private Duration coolDownLeft() {
    if (!durableTimedOut) {
      return Duration.ZERO;
    }
    long left = claimsDurableTimeout.toNanos() - (System.nanoTime() - durableTimedOutAtNanos);
    return left > 0 ? Duration.ofNanos(left) : Duration.ZERO;
  }

  /**
   * An acquired claim not durable in time: its handler does not run; the claim is kept for later.
   * {@code original} is the barrier taken after the claim was written (a failed one is replaced by a
   * later barrier), {@code latest} the last one taken for it: its resume waits for the first of them.
   */
  private record Parked(ClaimResult.Acquired claim, long epoch, long parkedAtNanos,
      CompletableFuture<Void> original, CompletableFuture<Void> latest) {}

  private Outcome park(Ready r) {
    ClaimResult.Acquired a = (ClaimResult.Acquired) r.claim;
    r.live.stop();
    RecordKey key = new RecordKey(r.message.shard(), r.envelope.id());
    CompletableFuture<Void> original = r.resumed != null
        && !r.resumed.original().isCompletedExceptionally() ? r.resumed.original() : r.fresh;
    Parked pk = new Parked(a, r.epoch, clock.nanoTime(), original, r.fresh);
    // kept, not released: a release would spend an attempt per broker hiccup (and dead-letter a
    // message after maxAttempts of them); the next delivery here resumes it, or it expires
    boolean kept;
    synchronized (lifecycle) {
      kept = !closed; // close() released the parked claims: none may be added after it
      if (kept) {
        makeRoomToPark();
        parked.put(key, pk);
      }
    }
    if (!kept) {
      abandon(key, a, "closed");
    }
    Duration left = coolDownLeft();
    return new Outcome.RetryLater(r.envelope.id(), Outcome.RetryReason.CLAIMS_NOT_DURABLE,
        left.compareTo(retryBackoff) > 0 ? left : retryBackoff,
        "claim (attempt " + a.attempt() + ") of shard " + r.message.shard()
            + " not in the own region's changelog in time; the handler did not run");
  }

  /**
   * The claim answer as this processor acts on it. This processor's own parked claim answers
   * InProgress to its next delivery: it is resumed (renewed, same attempt) instead, if the delivery is
   * under the claim's epoch (else it stays parked for one that is). An attempt that follows a parked
   * claim of ours whose lease ran out follows a claim whose handler never ran: it reports what that
   * claim followed. Any other answer means the parked claim is over (completed, dead-lettered, in
   * conflict, superseded): its entry goes.
   */
  private ClaimResult adopt(Ready r, ClaimResult result) {
    if (parked.isEmpty()) {
      return result;
    }
    RecordKey key = new RecordKey(r.message.shard(), r.envelope.id());
    Parked pk = parked.get(key);
    if (pk == null) {
      return result;
    }
    if (result instanceof ClaimResult.InProgress p && p.owner().equals(owner)) {
      // checked before removing: a delivery under another epoch leaves the entry for the right one
      if (pk.epoch != r.epoch || !parked.remove(key, pk)) { // remove: one caller resumes it
        return result;
      }
      try {
        IdRecord now = store.renew(key.id(), key.shard(), claimLease); // a fresh lease
        if (now.isClaimedBy(owner) && now.generation() == pk.claim.generation()
            && now.attempt() == pk.claim.attempt()) {
          r.resumed = pk;
          return pk.claim;
        }
      } catch (IllegalStateException gone) {
        // the record is gone (shard dropped): the claim answer stands
      }
      return result;
    }
    if (result instanceof ClaimResult.Acquired a && a.previous() != null
        && a.previous().owner().equals(owner) && pk.claim.generation() == a.generation()
        && pk.claim.attempt() == a.previous().attempt() && parked.remove(key, pk)) {
      return new ClaimResult.Acquired(a.attempt(), a.generation(), a.epoch(), pk.claim.previous());
    }
    parked.remove(key, pk);
    return result;
  }

  /**
   * Before a claim is parked: drops the entries older than {@link #parkedMaxAgeNanos} (swept at most
   * every quarter lease), then, if still full, releases the oldest claim to make room — a newer claim
   * is more likely to be redelivered here soon. Caller holds {@link #lifecycle}.
   */
  private void makeRoomToPark() {
    long now = clock.nanoTime();
    if (now - lastParkedSweepNanos >= parkedMaxAgeNanos / 8 || parked.size() >= maxParked) {
      lastParkedSweepNanos = now;
      for (Map.Entry<RecordKey, Parked> e : parked.entrySet()) {
        if (now - e.getValue().parkedAtNanos() > parkedMaxAgeNanos
            && parked.remove(e.getKey(), e.getValue())) {
          // its lease ran out long ago; still ours (nobody claimed it since)? then release it: its
          // handler never ran, and the next claimant need not report a re-run
          abandon(e.getKey(), e.getValue().claim(), "aged");
        }
      }
    }
    while (parked.size() >= maxParked) {
      Map.Entry<RecordKey, Parked> oldest = null;
      for (Map.Entry<RecordKey, Parked> e : parked.entrySet()) {
        if (oldest == null || e.getValue().parkedAtNanos() < oldest.getValue().parkedAtNanos()) {
          oldest = e;
        }
      }
      if (oldest == null) {
        break;
      }
      if (parked.remove(oldest.getKey(), oldest.getValue())) {
        abandon(oldest.getKey(), oldest.getValue().claim(), "evicted");
        if (!parkedOverflowWarned) {
          parkedOverflowWarned = true;
          log.warn("Tandem {}: {} parked claims (not durable in time) are kept at most; the oldest"
              + " are released to make room (counted as tandem.consumer.parked.released,"
              + " cause=evicted)", owner, maxParked);
        }
      }
    }
  }

  /**
   * Gives up a claim of this owner whose handler never ran: releases it in the store if the record is
   * still that claim, so the next claimant claims at once and reports no re-run. Not at the store's
   * last attempt (a release would dead-letter it with no copy to route; it expires instead and its
   * next claimant dead-letters and routes it), nor with a store that does not tell its maxAttempts.
   *
   * @return whether it was released
   */
  private boolean abandon(RecordKey key, ClaimResult.Acquired claim, String cause) {
    try {
      if (claim.attempt() >= store.maxAttempts()) {
        return false;
      }
      Optional<IdRecord> rec = store.get(key.id(), key.shard());
      if (rec.isEmpty() || !rec.get().isClaimedBy(owner)
          || rec.get().generation() != claim.generation() || rec.get().attempt() != claim.attempt()) {
        return false; // the claim is over (expired and re-claimed, completed, ...): nothing to give up
      }
      IdRecord after = store.release(key.id(), key.shard());
      if (after.phase() != Phase.RELEASED) {
        return false;
      }
      io.micrometer.core.instrument.Counter.builder("tandem.consumer.parked.released")
          .tag("region", owner.region().name()).tag("cause", cause)
          .description("claims whose handler never ran (not durable in time, or a close), released"
              + " so their next claimant claims at once")
          .register(meterRegistry).increment();
      log.debug("Tandem {}: released the unstarted claim of {} (shard {}, attempt {}): {}", owner,
          key.id(), key.shard(), claim.attempt(), cause);
      return true;
    } catch (UnsupportedOperationException e) {
      return false; // a store that does not tell its maxAttempts: the claim expires
    } catch (RuntimeException e) {
      log.warn("Tandem {}: could not release the unstarted claim of {} (shard {}); it expires after"
          + " its lease", owner, key.id(), key.shard(), e);
      return false;
    }
  }

  /** Whether {@code step}, finished, may run a handler. */
  private static boolean startsAHandler(Object step) {
    return step instanceof PassThrough || (step instanceof Ready r
        && (r.claim instanceof ClaimResult.Acquired || r.claim instanceof ClaimResult.InProgress));
  }

  /** The answer for a step whose handler did not start because the processor is closed. */
  private Outcome notStarted(Object step) {
    String id = null;
    if (step instanceof Ready r) {
      id = r.envelope.id();
      if (r.live != null) {
        r.live.stop();
        abandon(new RecordKey(r.message.shard(), id), (ClaimResult.Acquired) r.claim, "closed");
      }
    }
    return new Outcome.RetryLater(id, Outcome.RetryReason.CLOSED, retryBackoff,
        "this processor was closed before the handler started");
  }

  /**
   * The terminal phase of the copy's id if the store knows one, for a follower reading along (it
   * acknowledges a COMPLETED id without running the handler). Empty when the id is not terminal or the
   * copy carries no readable envelope.
   */
  public Optional<Phase> terminalPhase(IncomingMessage message) {
    Object step = prepare(message);
    if (step instanceof Ready r) {
      Optional<IdRecord> rec = store.get(r.envelope.id(), message.shard());
      if (rec.isPresent() && rec.get().isTerminal()) {
        return Optional.of(rec.get().phase());
      }
    }
    return Optional.empty();
  }

  /**
   * Reads and checks the envelope of {@code message}: the envelope (possibly with a derived id), or
   * empty when the message must go to the dead-letter path or passes through.
   */
  public Optional<Envelope> envelopeOf(IncomingMessage message) {
    return prepare(message) instanceof Ready r ? Optional.of(r.envelope) : Optional.empty();
  }

  // ---------------------------------------------------------------- steps

  /** A message whose envelope checked out; it gets claimed. */
  private static final class Ready {
    final IncomingMessage message;
    final Envelope envelope;
    final boolean derived;
    long epoch;
    ClaimResult claim;
    LiveClaim live;
    /** The parked claim this delivery resumed, if any. */
    Parked resumed;
    /** The barrier taken for this batch's claims of the shard, and what this claim waits for. */
    CompletableFuture<Void> fresh;
    CompletableFuture<Void> durable;

    Ready(IncomingMessage message, Envelope envelope, boolean derived) {
      this.message = message;
      this.envelope = envelope;
      this.derived = derived;
    }
  }

  private record Reject(IncomingMessage message, String id, DeadLetterReason reason, String detail) {}

  private record PassThrough(IncomingMessage message) {}

  private record Stale(Ready ready) {}

  private Object prepare(IncomingMessage m) {
    Envelope env;
    boolean derived = false;
    try {
      if (!EnvelopeCodec.hasId(m.headers())) {
        switch (missingIdPolicy) {
          case PASS_THROUGH:
            if (signer != null) {
              // with signatures required nothing unsigned reaches the handler, or anyone who can
              // write to the queue could bypass them by leaving the id out
              return new Reject(m, null, DeadLetterReason.BAD_SIGNATURE,
                  "message on shard " + m.shard() + " has no tandem-id and signatures are required");
            }
            return new PassThrough(m);
          case DERIVE_FROM_PAYLOAD:
            PayloadDigest d = PayloadDigest.of(m.payload());
            env = Envelope.of(DERIVED_ID_PREFIX + d.toHex(), d, m.shard(), 0L);
            derived = true;
            break;
          case REJECT:
          default:
            return new Reject(m, null, DeadLetterReason.MISSING_ID,
                "message on shard " + m.shard() + " has no tandem-id header (missingId=REJECT)");
        }
      } else {
        env = EnvelopeCodec.read(m.headers());
      }
    } catch (EnvelopeException e) {
      return new Reject(m, safeId(m), DeadLetterReason.MALFORMED_ENVELOPE,
          e.reason() + " " + e.header() + ": " + e.getMessage());
    }
    // the digest is checked on every path, including the one that writes first
    if (!env.digest().matches(m.payload())) {
      return new Reject(m, env.id(), DeadLetterReason.DIGEST_MISMATCH,
          "payload of " + env.id() + " does not hash to its tandem-digest " + env.digest());
    }
    if (signer != null) {
      EnvelopeSigner.Verification v = signer.verify(env);
      if (v != EnvelopeSigner.Verification.VALID) {
        return new Reject(m, env.id(), DeadLetterReason.BAD_SIGNATURE,
            "signature of " + env.id() + " is " + v);
      }
    }
    if (env.shard() != m.shard()) {
      // the publisher computes the shard once for every region; a copy on another partition means
      // the topics differ in partition count, and the store would key it under another shard
      return new Reject(m, env.id(), DeadLetterReason.MALFORMED_ENVELOPE,
          "tandem-shard " + env.shard() + " of " + env.id() + " differs from the shard it arrived on, "
              + m.shard() + " (do both regions' topics have the same partition count?)");
    }
    return new Ready(m, env, derived);
  }

  private static String safeId(IncomingMessage m) {
    String id = m.header(dev.tandem.core.TandemHeaders.ID);
    return id != null && id.length() <= dev.tandem.core.TandemHeaders.MAX_ID_LENGTH ? id : null;
  }

  private boolean isStale(Envelope env) {
    long age = clock.wallMillis() - env.publishedAt();
    return age > staleAfter.toMillis();
  }

  private Outcome finish(Object step, MessageHandler handler) {
    if (step instanceof Outcome o) {
      return count(o);
    }
    if (step instanceof Reject r) {
      return count(sendDeadLetter(r.message, r.id, r.reason, r.detail, false));
    }
    if (step instanceof PassThrough p) {
      return count(runPassThrough(p.message, handler));
    }
    if (step instanceof Stale s) {
      Ready r = s.ready;
      String detail = "published at " + r.envelope.publishedAt() + ", older than the record TTL minus "
          + "the margin (" + staleAfter + "): its record may have expired";
      return count(deadLetterRecord(r, DeadLetterReason.STALE, detail));
    }
    return count(finishClaimed((Ready) step, handler));
  }

  private Outcome finishClaimed(Ready r, MessageHandler handler) {
    String id = r.envelope.id();
    int shard = r.message.shard();
    ClaimResult claim = r.claim;
    for (int round = 0; ; round++) {
      if (claim instanceof ClaimResult.Acquired a) {
        if (r.live == null) {
          // a claim made here, not in processAll's batch
          r.claim = a;
          r.live = startRenewing(id, shard, a);
          if (closed) {
            return notStarted(r); // claimed after a wait that close() began during
          }
          if (!awaitClaimsDurable(List.of(r)).isEmpty()) {
            return park(r);
          }
          if (closed) {
            return notStarted(r);
          }
        }
        return runHandler(r, a, handler);
      } else if (claim instanceof ClaimResult.AlreadyCompleted) {
        metrics.duplicatesSuppressed.increment();
        return new Outcome.Skipped(id, Phase.COMPLETED);
      } else if (claim instanceof ClaimResult.Conflict c) {
        metrics.conflicts.increment();
        String detail = "id " + id + " was seen with " + c.digests().size()
            + " different payload digests " + c.digests() + "; this copy has " + r.envelope.digest();
        log.warn("Tandem conflict on shard {}: {}", shard, detail);
        return deadLetterRecord(r, DeadLetterReason.CONFLICT, detail);
      } else if (claim instanceof ClaimResult.DeadLettered d) {
        IdRecord rec = d.record();
        if (rec.owner().equals(owner)) {
          // this owner's claim (or an earlier delivery here) dead-lettered it: the message is ours
          // to route; sending twice after a crash is possible, never zero times
          return sendDeadLetter(r.message, id, reasonOf(rec), "dead-lettered in the store: "
              + rec.reason(), true);
        }
        metrics.duplicatesSuppressed.increment();
        return new Outcome.Skipped(id, Phase.DEAD_LETTERED);
      } else if (claim instanceof ClaimResult.InProgress p) {
        if (round == 0 && r.live == null) {
          // batch claims are made before the earlier handlers of the poll ran: the claim in the way
          // may have ended since (the same id twice in one poll), so look again before waiting
          Optional<IdRecord> now = store.get(id, shard);
          if (now.isPresent() && now.get().phase() != Phase.CLAIMED) {
            claim = adopt(r, store.claim(id, shard, r.envelope.digest(), r.epoch, claimLease));
            if (!(claim instanceof ClaimResult.InProgress)) {
              continue;
            }
            p = (ClaimResult.InProgress) claim;
          }
        }
        if (round == 0) {
          metrics.inProgress.increment();
        }
        if (round >= 1 || !waitForClaimEnd(id, shard, p)) {
          Duration after = p.leaseRemaining().compareTo(retryBackoff) < 0
              ? p.leaseRemaining() : retryBackoff;
          return new Outcome.RetryLater(id, Outcome.RetryReason.IN_PROGRESS, after,
              "claimed by " + p.owner() + ", lease remaining " + p.leaseRemaining());
        }
        if (!fence.holds(shard, r.epoch)) {
          return fenced(id, shard, r.epoch);
        }
        claim = adopt(r, store.claim(id, shard, r.envelope.digest(), r.epoch, claimLease));
      } else {
        throw new IllegalStateException("unknown claim result " + claim);
      }
    }
  }

  /**
   * Waits up to {@code inProgressWait} for another owner's claim to end (completed, released, dead
   * lettered); true if it did, so the caller should claim again.
   */
  private boolean waitForClaimEnd(String id, int shard, ClaimResult.InProgress p) {
    if (inProgressWait.isZero()) {
      return false;
    }
    CompletableFuture<Void> w = waiters.computeIfAbsent(id, k -> new CompletableFuture<>());
    try {
      // re-read after registering, so a change between the claim and the registration is not missed
      Optional<IdRecord> now = store.get(id, shard);
      if (now.isPresent() && now.get().phase() != Phase.CLAIMED) {
        return true;
      }
      Duration wait = inProgressWait.compareTo(p.leaseRemaining()) < 0
          ? inProgressWait : p.leaseRemaining().plusMillis(50);
      w.get(wait.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (ExecutionException e) {
      return false;
    } finally {
      waiters.remove(id, w);
    }
  }

  private Outcome runHandler(Ready r, ClaimResult.Acquired a, MessageHandler handler) {
    String id = r.envelope.id();
    int shard = r.message.shard();
    LiveClaim live = r.live;
    if (!fence.holds(shard, r.epoch)) {
      // the claim stays: a claim of an older epoch is superseded by the new owner's claim
      live.stop();
      return fenced(id, shard, r.epoch);
    }
    ClaimResult.PreviousClaim previous = a.previous();
    if (previous != null && previous.reason() == ClaimResult.PreviousClaim.Reason.LEASE_EXPIRED) {
      // an earlier claimant (a killed or hung instance, maybe of this region) may have run the
      // handler: this run may be a duplicate no takeover bound counts, so it is reported here
      metrics.reclaimedExpired.increment();
      log.warn("Tandem re-runs {} (shard {}) as attempt {}: the claim of {} (attempt {}, epoch {}) "
          + "expired without a completion, its handler may have run; a possible duplicate "
          + "(the handler sees attempt > 1 and previousClaim())", id, shard, a.attempt(),
          previous.owner(), previous.attempt(), previous.epoch());
    } else if (previous != null && previous.reason() == ClaimResult.PreviousClaim.Reason.TAKEN_OVER) {
      log.info("Tandem runs {} (shard {}) as attempt {}, taking over the live claim of {} (attempt "
          + "{}, epoch {}); the takeover's bound counts it", id, shard, a.attempt(),
          previous.owner(), previous.attempt(), previous.epoch());
    }
    Context ctx = new Context(id, shard, a.attempt(), a.epoch(), r.message, live, previous);
    long start = System.nanoTime();
    try {
      handler.handle(ctx);
    } catch (Error e) {
      live.stop(); // the claim expires; whoever claims it next reports the re-run
      throw e;
    } catch (Exception e) {
      live.stop();
      metrics.handler.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
      metrics.handlerFailures.increment();
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      IdRecord rec = store.release(id, shard);
      if (rec.phase() == Phase.DEAD_LETTERED) {
        String detail = "handler failed on attempt " + a.attempt() + " (the last allowed): " + e;
        log.warn("Tandem dead-letters {} on shard {}: {}", id, shard, detail);
        return sendDeadLetter(r.message, id, DeadLetterReason.MAX_ATTEMPTS, detail, true);
      }
      log.debug("handler of {} failed on attempt {}, released for a retry", id, a.attempt(), e);
      return new Outcome.RetryLater(id, Outcome.RetryReason.HANDLER_FAILED, retryBackoff,
          "attempt " + a.attempt() + " failed: " + e);
    }
    live.stop();
    metrics.handler.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    IdRecord rec = store.complete(id, shard, null);
    boolean lost = live.lost;
    if (!lost && !completedByUs(rec, a.attempt())) {
      lost = true;
    }
    if (lost) {
      metrics.claimsLost.increment();
      log.warn("Tandem claim of {} (shard {}, attempt {}, epoch {}) was lost while its handler ran; "
          + "completion recorded anyway", id, shard, a.attempt(), a.epoch());
    }
    if (rec.isDetectedDuplicate()) {
      log.warn("Tandem detected a cross-region duplicate of {}: completers {}", id, rec.completers());
    }
    return new Outcome.Processed(id, a.attempt(), a.epoch(), lost);
  }

  private boolean completedByUs(IdRecord rec, int attempt) {
    for (var c : rec.completers()) {
      if (c.region().equals(owner.region()) && c.instance().equals(owner.instance())
          && c.attempt() == attempt) {
        return true;
      }
    }
    return false;
  }

  private Outcome runPassThrough(IncomingMessage m, MessageHandler handler) {
    Context ctx = new Context(null, m.shard(), m.deliveryAttempt(), 0L, m, null, null);
    try {
      handler.handle(ctx);
    } catch (Exception e) {
      metrics.handlerFailures.increment();
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      return new Outcome.RetryLater(null, Outcome.RetryReason.HANDLER_FAILED, retryBackoff,
          "pass-through handler failed: " + e);
    }
    return new Outcome.PassedThrough(null);
  }

  /** Marks the id DEAD_LETTERED in the store (every region learns it), then routes the copy. */
  private Outcome deadLetterRecord(Ready r, DeadLetterReason reason, String detail) {
    String id = r.envelope.id();
    IdRecord rec = store.deadLetter(id, r.message.shard(), reason.name());
    if (rec.phase() == Phase.COMPLETED && reason == DeadLetterReason.STALE) {
      // completion beats a dead letter: this stale copy is a duplicate of a processed message
      metrics.duplicatesSuppressed.increment();
      return new Outcome.Skipped(id, Phase.COMPLETED);
    }
    return sendDeadLetter(r.message, id, reason, detail, true);
  }

  private Outcome sendDeadLetter(
      IncomingMessage m, String id, DeadLetterReason reason, String detail, boolean stored) {
    log.warn("Tandem dead letter {} (shard {}, id {}): {}", reason, m.shard(), id, detail);
    try {
      deadLetterSink.send(new DeadLetter(id, reason, detail, m))
          .get(deadLetterTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return deadLetterFailed(id, reason, e);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      return deadLetterFailed(id, reason, e instanceof ExecutionException ? e.getCause() : e);
    }
    metrics.deadLetters(reason).increment();
    return new Outcome.DeadLettered(id, reason, detail);
  }

  private Outcome deadLetterFailed(String id, DeadLetterReason reason, Throwable e) {
    log.error("Tandem could not store the dead letter of {} ({}); it will be redelivered", id, reason,
        e);
    return new Outcome.RetryLater(id, Outcome.RetryReason.DEAD_LETTER_FAILED, retryBackoff,
        "dead-letter sink failed: " + e);
  }

  private static DeadLetterReason reasonOf(IdRecord rec) {
    String r = rec.reason();
    if (r != null) {
      try {
        return DeadLetterReason.valueOf(r.toUpperCase(Locale.ROOT).replace('-', '_'));
      } catch (IllegalArgumentException ignored) {
        // a reason written by an operator or a newer version: reported as max attempts
      }
    }
    return DeadLetterReason.MAX_ATTEMPTS;
  }

  private Outcome.RetryLater fenced(String id, int shard, long epoch) {
    if (id != null && !parked.isEmpty()) {
      parked.remove(new RecordKey(shard, id)); // the shard moved on: nothing of it to resume here
    }
    return new Outcome.RetryLater(id, Outcome.RetryReason.FENCED, Duration.ZERO,
        "shard " + shard + " is no longer held under epoch " + epoch);
  }

  private Outcome count(Outcome o) {
    if (o instanceof Outcome.Processed) {
      metrics.processed.increment();
    } else if (o instanceof Outcome.Skipped) {
      metrics.duplicates.increment();
    } else if (o instanceof Outcome.RetryLater) {
      metrics.retries.increment();
    } else if (o instanceof Outcome.DeadLettered) {
      metrics.deadLettered.increment();
    } else if (o instanceof Outcome.PassedThrough) {
      metrics.passedThrough.increment();
    }
    return o;
  }

  // ---------------------------------------------------------------- lease renewal

  private LiveClaim startRenewing(String id, int shard, ClaimResult.Acquired a) {
    LiveClaim c = new LiveClaim(id, shard, a.generation(), a.attempt());
    liveClaims.add(c);
    c.task = renewer.scheduleAtFixedRate(c::renew, renewEvery.toNanos(), renewEvery.toNanos(),
        TimeUnit.NANOSECONDS);
    return c;
  }

  /** The renewal step of every live claim, to run by hand (tests of races with the renewer). */
  List<Runnable> renewalStepsForTest() {
    List<Runnable> out = new ArrayList<>();
    for (LiveClaim c : liveClaims) {
      out.add(c::renew);
    }
    return out;
  }

  /** A claim being renewed while it waits for, or runs, its handler. */
  private final class LiveClaim {
    final String id;
    final int shard;
    final long generation;
    final int attempt;
    volatile ScheduledFuture<?> task;
    volatile boolean lost;

    LiveClaim(String id, int shard, long generation, int attempt) {
      this.id = id;
      this.shard = shard;
      this.generation = generation;
      this.attempt = attempt;
    }

    void renew() {
      try {
        IdRecord rec = store.renew(id, shard, claimLease);
        if (rec.isClaimedBy(owner) && rec.generation() == generation && rec.attempt() == attempt) {
          return; // still ours
        }
        // not ours any more: either this claimant ended it itself (a renewal racing the completion
        // or the release of its own handler reads the record after it) — nothing lost — or it was
        // superseded (expired and re-claimed elsewhere, or a takeover)
        if (!endedByThisClaim(rec)) {
          lost = true;
        }
        stop();
      } catch (RuntimeException e) {
        log.warn("could not renew the claim of {} on shard {}", id, shard, e);
      }
    }

    /** Whether {@code rec}'s head is this claim's own end: its completion, release or dead letter. */
    private boolean endedByThisClaim(IdRecord rec) {
      if (rec.generation() != generation) {
        return false;
      }
      if (rec.phase() == Phase.COMPLETED) {
        return completedByUs(rec, attempt);
      }
      return (rec.phase() == Phase.RELEASED || rec.phase() == Phase.DEAD_LETTERED)
          && rec.owner().equals(owner) && rec.attempt() == attempt;
    }

    void stop() {
      liveClaims.remove(this);
      ScheduledFuture<?> t = task;
      if (t != null) {
        t.cancel(false);
      }
    }
  }

  private static final class Context implements ProcessingContext {
    private final String id;
    private final int shard;
    private final int attempt;
    private final long epoch;
    private final IncomingMessage message;
    private final LiveClaim live;
    private final ClaimResult.PreviousClaim previous;

    Context(String id, int shard, int attempt, long epoch, IncomingMessage message, LiveClaim live,
        ClaimResult.PreviousClaim previous) {
      this.id = id;
      this.shard = shard;
      this.attempt = attempt;
      this.epoch = epoch;
      this.message = message;
      this.live = live;
      this.previous = previous;
    }

    @Override
    public Optional<ClaimResult.PreviousClaim> previousClaim() {
      return Optional.ofNullable(previous);
    }

    @Override
    public String id() {
      return id;
    }

    @Override
    public int shard() {
      return shard;
    }

    @Override
    public int attempt() {
      return attempt;
    }

    @Override
    public long epoch() {
      return epoch;
    }

    @Override
    public int deliveryAttempt() {
      return message.deliveryAttempt();
    }

    @Override
    public byte[] payload() {
      return message.payload();
    }

    @Override
    public Object transportMessage() {
      return message.transportMessage();
    }

    @Override
    public boolean claimLost() {
      return live != null && live.lost;
    }
  }

  /** {@link #close(Duration)} with the builder's {@code closeTimeout} (default 30 s). */
  @Override
  public void close() {
    close(closeTimeout);
  }

  /**
   * Refuses new work (later calls answer {@link Outcome.RetryReason#CLOSED}), waits up to {@code
   * timeout} for the calls under way to return, and stops the lease renewer. The store and the sink
   * are the caller's to close, after this. No handler starts once close has begun: the messages of a
   * batch under way whose handlers had not started answer {@code CLOSED} and their claims are
   * released, as are the parked claims (see {@link #forgetShards}), so the next instance claims them
   * at once.
   *
   * <p>A handler still running after {@code timeout} keeps its claim renewed until it returns (the
   * renewer then stops with the last call): a claim never expires under its running handler, on close
   * as at any other time, or another instance would run the message again while it runs. Its
   * completion is recorded as usual when it returns — keep the store open until then, or the claim
   * expires when the renewals fail and the next claimant reports a re-run. Logged at WARN.
   */
  public void close(Duration timeout) {
    Objects.requireNonNull(timeout, "timeout");
    synchronized (lifecycle) {
      if (closed) {
        return;
      }
      closed = true;
      long deadline = System.nanoTime() + timeout.toNanos();
      try {
        while (inFlight > 0) {
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            break;
          }
          TimeUnit.NANOSECONDS.timedWait(lifecycle, left);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      releaseParked();
      if (inFlight == 0) {
        renewer.shutdownNow();
        return;
      }
      log.warn("Tandem {}: {} call(s) still running their handlers {} after close; their claims stay"
          + " renewed until they return", owner, inFlight, timeout);
    }
  }

  /** On close: the parked claims are released (their handlers never ran), for the next instance. */
  private void releaseParked() {
    int released = 0;
    for (Map.Entry<RecordKey, Parked> e : parked.entrySet()) {
      if (parked.remove(e.getKey(), e.getValue())
          && abandon(e.getKey(), e.getValue().claim(), "closed")) {
        released++;
      }
    }
    if (released > 0) {
      log.info("Tandem {}: released {} parked claim(s) on close; their next claimant runs them at"
          + " once", owner, released);
    }
  }

  /** Counts a call in; false once closed. */
  private boolean enter() {
    synchronized (lifecycle) {
      if (closed) {
        return false;
      }
      inFlight++;
      return true;
    }
  }

  /** Counts a call out; the last one out after a close stops the renewer. */
  private void exit() {
    synchronized (lifecycle) {
      inFlight--;
      if (inFlight == 0) {
        lifecycle.notifyAll();
        if (closed) {
          renewer.shutdownNow();
        }
      }
    }
  }

  /** Builds an {@link OnceProcessor}; {@code store} and {@code deadLetterSink} are required. */
  public static final class Builder {
    private IdempotencyStore store;
    private DeadLetterSink deadLetterSink;
    private MeterRegistry meterRegistry;
    private TandemClock clock = TandemClock.system();
    private MissingIdPolicy missingIdPolicy = MissingIdPolicy.REJECT;
    private Duration claimLease = Duration.ofSeconds(60);
    private java.util.function.IntFunction<CompletableFuture<Void>> claimsDurable;
    private Duration claimsDurableTimeout = Duration.ofSeconds(5);
    private Duration renewEvery;
    private Duration inProgressWait = Duration.ZERO;
    private Duration retryBackoff = Duration.ofSeconds(1);
    private Duration staleMargin;
    private Duration closeTimeout = Duration.ofSeconds(30);
    private Duration deadLetterTimeout = Duration.ofSeconds(30);
    private EnvelopeSigner signer;
    private ShardFence fence = ShardFence.OPEN;
    private int maxParked = 10_000;

    private Builder() {}

    /** How many parked claims are kept at most (tests shrink it). */
    Builder maxParked(int max) {
      this.maxParked = max;
      return this;
    }

    /** The idempotency store (required); its owner is who claims. */
    public Builder store(IdempotencyStore store) {
      this.store = Objects.requireNonNull(store, "store");
      return this;
    }

    /** Where dead letters go (required). */
    public Builder deadLetterSink(DeadLetterSink sink) {
      this.deadLetterSink = Objects.requireNonNull(sink, "deadLetterSink");
      return this;
    }

    /** Where meters go (default: a new {@link SimpleMeterRegistry}). */
    public Builder meterRegistry(MeterRegistry registry) {
      this.meterRegistry = Objects.requireNonNull(registry, "meterRegistry");
      return this;
    }

    /** The clock for staleness (default: the system's). */
    public Builder clock(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** What to do with a message without {@code tandem-id} (default {@link MissingIdPolicy#REJECT}). */
    public Builder missingIdPolicy(MissingIdPolicy policy) {
      this.missingIdPolicy = Objects.requireNonNull(policy, "missingIdPolicy");
      return this;
    }

    /**
     * How long a claim lives without renewal (default 60 s). A crashed consumer's message is
     * processed again only after this; it must exceed GC pauses and the renewal period.
     */
    public Builder claimLease(Duration lease) {
      this.claimLease = positive(lease, "claimLease");
      return this;
    }

    /** How often a running handler's claim is renewed (default: a third of the lease). */
    public Builder renewEvery(Duration every) {
      this.renewEvery = positive(every, "renewEvery");
      return this;
    }

    /**
     * How long to wait for another owner's live claim to end before answering "try later"
     * (default zero: answer at once and let the transport redeliver).
     */
    public Builder inProgressWait(Duration wait) {
      Objects.requireNonNull(wait, "inProgressWait");
      if (wait.isNegative()) {
        throw new IllegalArgumentException("inProgressWait must be >= 0, got " + wait);
      }
      this.inProgressWait = wait;
      return this;
    }

    /** The redelivery delay suggested after a handler failure or an in-progress claim (default 1 s). */
    public Builder retryBackoff(Duration backoff) {
      Objects.requireNonNull(backoff, "retryBackoff");
      if (backoff.isNegative()) {
        throw new IllegalArgumentException("retryBackoff must be >= 0, got " + backoff);
      }
      this.retryBackoff = backoff;
      return this;
    }

    /**
     * Safety margin below the store's record TTL ({@link IdempotencyStore#ttl()}): copies published
     * longer than {@code ttl − margin} ago are {@code STALE}, since their record may have expired
     * (default: 1 hour, or a tenth of the TTL if that is less). Must be below the TTL.
     */
    public Builder staleMargin(Duration margin) {
      Objects.requireNonNull(margin, "staleMargin");
      if (margin.isNegative()) {
        throw new IllegalArgumentException("staleMargin must be >= 0, got " + margin);
      }
      this.staleMargin = margin;
      return this;
    }

    /**
     * How long {@link OnceProcessor#close()} waits for the handlers under way (default 30 s); a
     * handler still running then keeps its claim renewed until it returns.
     */
    public Builder closeTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "closeTimeout");
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("closeTimeout must be >= 0, got " + timeout);
      }
      this.closeTimeout = timeout;
      return this;
    }

    /** The staleness margin for a store TTL of {@code ttl}: as set, or the default. */
    Duration effectiveStaleMargin(Duration ttl) {
      if (staleMargin != null) {
        return staleMargin;
      }
      Duration tenth = ttl.dividedBy(10);
      return tenth.compareTo(Duration.ofHours(1)) < 0 ? tenth : Duration.ofHours(1);
    }

    /** How long to wait for the dead-letter sink to store a letter (default 30 s). */
    public Builder deadLetterTimeout(Duration timeout) {
      this.deadLetterTimeout = positive(timeout, "deadLetterTimeout");
      return this;
    }

    /**
     * Require valid signatures, checked with {@code signer}'s keys (default: none required). Then
     * every copy must carry a signed envelope: an unsigned copy, one without {@code tandem-id}
     * (whatever the {@link MissingIdPolicy}) or one whose signature does not verify is dead-lettered
     * {@code BAD_SIGNATURE} before the claim and writes nothing to the store.
     */
    public Builder requireSignatures(EnvelopeSigner signer) {
      this.signer = Objects.requireNonNull(signer, "signer");
      return this;
    }

    /**
     * Makes each batch wait, before its handlers run, until {@code durable.apply(shard)} completes for
     * every shard it claimed in — typically {@code shard -> replicationLog.barrier(shard, ownRegion)},
     * so the claims are in the own region's changelog and a takeover counts them in its bound even if
     * this process dies right after claiming. At most {@code timeout}: then the handlers of the
     * claims not acknowledged do not run; their copies answer {@link
     * Outcome.RetryReason#CLAIMS_NOT_DURABLE} and the claims are resumed on the next delivery
     * (counted as {@code tandem.consumer.claims.not.durable}). Default: no wait.
     */
    public Builder claimsDurable(
        java.util.function.IntFunction<CompletableFuture<Void>> durable, Duration timeout) {
      this.claimsDurable = Objects.requireNonNull(durable, "durable");
      this.claimsDurableTimeout = positive(timeout, "timeout");
      return this;
    }

    /** The shard-ownership fence (default {@link ShardFence#OPEN}). */
    public Builder fence(ShardFence fence) {
      this.fence = Objects.requireNonNull(fence, "fence");
      return this;
    }

    /** Builds the processor. */
    public OnceProcessor build() {
      Objects.requireNonNull(store, "store is required");
      Objects.requireNonNull(deadLetterSink, "deadLetterSink is required");
      // staleness is judged against the store's own TTL: there is no second TTL to disagree with it
      Duration ttl = Objects.requireNonNull(store.ttl(), "store.ttl()");
      if (effectiveStaleMargin(ttl).compareTo(ttl) >= 0) {
        throw new IllegalArgumentException(
            "staleMargin " + staleMargin + " must be below the store's record TTL " + ttl);
      }
      if (renewEvery != null && renewEvery.compareTo(claimLease) >= 0) {
        throw new IllegalArgumentException(
            "renewEvery " + renewEvery + " must be shorter than claimLease " + claimLease);
      }
      if (meterRegistry == null) {
        meterRegistry = new SimpleMeterRegistry();
      }
      return new OnceProcessor(this);
    }

    private static Duration positive(Duration d, String name) {
      Objects.requireNonNull(d, name);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(name + " must be positive, got " + d);
      }
      return d;
    }
  }
}
