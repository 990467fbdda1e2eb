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
 *   <li>Staleness: {@code published-at} older than {@code recordTtl − staleMargin} is dead-lettered
 *       {@code STALE}: its record may have expired, so it is never processed blindly.
 *   <li>Claim (batched per poll in {@link #processAll}: one store WriteBatch). {@code AlreadyCompleted}
 *       → skipped (a suppressed duplicate); {@code Conflict} → dead-lettered {@code CONFLICT};
 *       {@code InProgress} → wait up to {@code inProgressWait} for the other claim to end, else
 *       "try later" (not a duplicate); {@code DeadLettered} → skipped, or sent to the dead-letter path
 *       if this owner's claim is what dead-lettered it.
 *   <li>Handler, with the claim's lease renewed every {@code renewEvery} while it runs. Success →
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
  /** When a durable-claims wait last timed out (0: never); skips waits for one timeout after it. */
  private volatile long durableTimedOutAtNanos;
  private final io.micrometer.core.instrument.Counter claimsNotDurable;
  private final ScheduledExecutorService renewer;
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
    this.staleAfter = b.recordTtl.minus(b.staleMargin);
    this.deadLetterTimeout = b.deadLetterTimeout;
    this.signer = b.signer;
    this.fence = b.fence;
    this.claimsDurable = b.claimsDurable;
    this.claimsDurableTimeout = b.claimsDurableTimeout;
    this.claimsNotDurable = io.micrometer.core.instrument.Counter
        .builder("tandem.consumer.claims.not.durable").tag("region", owner.region().name())
        .description("batches whose handlers ran before their claims were in the changelog")
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

  /** The store owner (region and instance) this processor claims as. */
  public Owner owner() {
    return owner;
  }

  /** The claim lease (how long a claim lives without renewal). */
  public Duration claimLease() {
    return claimLease;
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
    List<LiveClaim> live = new ArrayList<>();
    for (int j = 0; j < claims.size(); j++) {
      Ready r = (Ready) steps[claimIndex.get(j)];
      r.claim = claims.get(j);
      if (r.claim instanceof ClaimResult.Acquired a) {
        // renewed from now on: later messages of the batch wait for the earlier handlers
        r.live = startRenewing(r.envelope.id(), r.message.shard(), a);
        live.add(r.live);
      }
    }
    awaitClaimsDurable(live);
    List<Outcome> out = new ArrayList<>(n);
    try {
      for (int i = 0; i < n; i++) {
        out.add(finish(steps[i], handler));
      }
    } finally {
      for (LiveClaim c : live) {
        c.stop();
      }
    }
    return out;
  }

  /**
   * Before any handler of the batch runs, waits until its claims are in the own region's changelog
   * (when a {@link Builder#claimsDurable} hook is set): a new owner reading that changelog at takeover
   * then sees every claim whose handler may have run, so the duplicate bound it reports counts it even
   * if this process is killed right after the claim. Bounded: past the timeout the handlers run anyway
   * (the own broker is slow or down; heartbeats stop then too) and the meter {@code
   * tandem.consumer.claims.not.durable} counts it.
   */
  private void awaitClaimsDurable(List<LiveClaim> live) {
    if (claimsDurable == null || live.isEmpty()) {
      return;
    }
    long now = System.nanoTime();
    long lastTimeout = durableTimedOutAtNanos;
    if (lastTimeout != 0 && now - lastTimeout < claimsDurableTimeout.toNanos()) {
      // the own changelog just failed to acknowledge in time: do not stall every batch again (the
      // poll loop must stay within max.poll.interval); counted, and tried again after the timeout
      claimsNotDurable.increment();
      return;
    }
    java.util.Set<Integer> shards = new java.util.TreeSet<>();
    for (LiveClaim c : live) {
      shards.add(c.shard);
    }
    long deadline = now + claimsDurableTimeout.toNanos();
    for (int shard : shards) {
      try {
        claimsDurable.apply(shard).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        claimsNotDurable.increment();
        return;
      } catch (ExecutionException | TimeoutException | RuntimeException e) {
        claimsNotDurable.increment();
        durableTimedOutAtNanos = System.nanoTime();
        log.warn("Tandem {}: claims of shard {} not in the changelog within {} ({}); handlers run"
            + " anyway", owner, shard, claimsDurableTimeout, e.toString());
        return; // one budget per batch: the other shards' claims are behind the same broker
      }
    }
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
          r.live = startRenewing(id, shard, a);
          awaitClaimsDurable(List.of(r.live)); // a claim made here, not in processAll's batch
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
            claim = store.claim(id, shard, r.envelope.digest(), r.epoch, claimLease);
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
        claim = store.claim(id, shard, r.envelope.digest(), r.epoch, claimLease);
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
    Context ctx = new Context(id, shard, a.attempt(), a.epoch(), r.message, live);
    long start = System.nanoTime();
    try {
      handler.handle(ctx);
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
    Context ctx = new Context(null, m.shard(), m.deliveryAttempt(), 0L, m, null);
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
    LiveClaim c = new LiveClaim(id, shard);
    c.task = renewer.scheduleAtFixedRate(c::renew, renewEvery.toNanos(), renewEvery.toNanos(),
        TimeUnit.NANOSECONDS);
    return c;
  }

  /** A claim being renewed while it waits for, or runs, its handler. */
  private final class LiveClaim {
    final String id;
    final int shard;
    volatile ScheduledFuture<?> task;
    volatile boolean lost;

    LiveClaim(String id, int shard) {
      this.id = id;
      this.shard = shard;
    }

    void renew() {
      try {
        IdRecord rec = store.renew(id, shard, claimLease);
        if (!rec.isClaimedBy(owner)) {
          // superseded (expired and re-claimed elsewhere, or a takeover): stop renewing
          lost = true;
          stop();
        }
      } catch (RuntimeException e) {
        log.warn("could not renew the claim of {} on shard {}", id, shard, e);
      }
    }

    void stop() {
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

    Context(String id, int shard, int attempt, long epoch, IncomingMessage message, LiveClaim live) {
      this.id = id;
      this.shard = shard;
      this.attempt = attempt;
      this.epoch = epoch;
      this.message = message;
      this.live = live;
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

  /** Stops the lease renewer; the store and the sink are the caller's to close. */
  @Override
  public void close() {
    renewer.shutdownNow();
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
    private Duration recordTtl = Duration.ofDays(7);
    private Duration staleMargin = Duration.ofHours(1);
    private Duration deadLetterTimeout = Duration.ofSeconds(30);
    private EnvelopeSigner signer;
    private ShardFence fence = ShardFence.OPEN;

    private Builder() {}

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

    /** The store's record TTL (default 7 days, as the store's); staleness is judged against it. */
    public Builder recordTtl(Duration ttl) {
      this.recordTtl = positive(ttl, "recordTtl");
      return this;
    }

    /** Safety margin below the TTL: older copies are {@code STALE} (default 1 hour). */
    public Builder staleMargin(Duration margin) {
      Objects.requireNonNull(margin, "staleMargin");
      if (margin.isNegative()) {
        throw new IllegalArgumentException("staleMargin must be >= 0, got " + margin);
      }
      this.staleMargin = margin;
      return this;
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
     * this process dies right after claiming. At most {@code timeout}, then the handlers run anyway
     * (counted). Default: no wait.
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
      if (staleMargin.compareTo(recordTtl) >= 0) {
        throw new IllegalArgumentException(
            "staleMargin " + staleMargin + " must be below recordTtl " + recordTtl);
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
