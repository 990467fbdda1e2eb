package dev.tandem.consumer;

import dev.tandem.consumer.internal.ClaimAttempt;
import dev.tandem.consumer.internal.ClaimRenewer;
import dev.tandem.consumer.internal.ConsumerMetrics;
import dev.tandem.consumer.internal.DeadLetterRouter;
import dev.tandem.consumer.internal.DurableClaimsBarrier;
import dev.tandem.consumer.internal.EnvelopeCheck;
import dev.tandem.consumer.internal.EnvelopeChecker;
import dev.tandem.consumer.internal.HandlerContext;
import dev.tandem.consumer.internal.InProgressWaiters;
import dev.tandem.consumer.internal.ParkedClaims;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.TandemClock;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import dev.tandem.store.RecordKey;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
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
 *
 * <p>This class is the flow only; its parts live in {@code dev.tandem.consumer.internal}: {@code
 * EnvelopeChecker} (the sealed {@code EnvelopeCheck}), {@code DurableClaimsBarrier}, {@code
 * ParkedClaims}, {@code InProgressWaiters}, {@code ClaimRenewer}, {@code DeadLetterRouter}.
 *
 * <p>Why over 500 lines (about 890): its public {@link Builder} (200 lines, one documented option
 * each) must stay nested — users, Spring, Azure and the Kafka consumer name the type {@code
 * OnceProcessor.Builder}; the public methods carry their contracts (180 lines of Javadoc); and the
 * flow itself (batch claims, the answer per claim result, handler, complete / release, close's
 * "no handler starts after close") is kept in one class on purpose, as its invariants span those
 * steps. Every concept that stands alone has moved out.
 */
public final class OnceProcessor implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(OnceProcessor.class);

  /** Prefix of ids derived under {@link MissingIdPolicy#DERIVE_FROM_PAYLOAD}. */
  public static final String DERIVED_ID_PREFIX = EnvelopeChecker.DERIVED_ID_PREFIX;

  private final IdempotencyStore store;
  private final Owner owner;
  private final DeadLetterSink deadLetterSink;
  private final ConsumerMetrics metrics;
  private final TandemClock clock;
  private final Duration claimLease;
  private final Duration renewEvery;
  private final Duration retryBackoff;
  private final Duration staleAfter;
  private final ShardFence fence;
  private final Duration closeTimeout;
  private final EnvelopeChecker envelopes;
  /** The claims-durable wait's bound; null when no claimsDurable hook is set. */
  private final Duration claimsDurableTimeout;
  /** Null when no claimsDurable hook is set: handlers then run right after their claims. */
  private final DurableClaimsBarrier durable;
  private final ParkedClaims parked;
  private final InProgressWaiters waiters;
  private final ClaimRenewer renewer;
  private final DeadLetterRouter deadLetters;
  /** Guards {@link #inFlight}, {@link #closed} and parking (no claim is parked after close). */
  private final Object lifecycle = new Object();
  /** processAll calls under way (each may hold live claims and run handlers). */
  private int inFlight;
  private volatile boolean closed;

  private OnceProcessor(Builder b) {
    this.store = b.store;
    this.owner = b.store.owner();
    this.deadLetterSink = b.deadLetterSink;
    this.metrics = new ConsumerMetrics(b.meterRegistry, owner.region().name());
    this.clock = b.clock;
    this.claimLease = b.claimLease;
    this.renewEvery = b.renewEvery != null ? b.renewEvery : b.claimLease.dividedBy(3);
    this.retryBackoff = b.retryBackoff;
    this.staleAfter = b.store.ttl().minus(b.effectiveStaleMargin(b.store.ttl()));
    this.closeTimeout = b.closeTimeout;
    this.fence = b.fence;
    this.envelopes = new EnvelopeChecker(b.missingIdPolicy, b.signer);
    this.claimsDurableTimeout = b.claimsDurable == null ? null : b.claimsDurableTimeout;
    this.durable = b.claimsDurable == null ? null
        : new DurableClaimsBarrier(b.claimsDurable, b.claimsDurableTimeout, owner, b.meterRegistry);
    this.parked = new ParkedClaims(store, b.clock, b.claimLease, b.maxParked, b.meterRegistry);
    this.renewer = new ClaimRenewer(store, claimLease, renewEvery);
    this.deadLetters = new DeadLetterRouter(store, b.deadLetterSink, b.deadLetterTimeout,
        b.retryBackoff, metrics);
    // wakes callers waiting on another owner's claim as soon as the record moves (local or replicated)
    this.waiters = new InProgressWaiters(store, b.inProgressWait);
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
  public void forgetShards(Collection<Integer> shards) {
    Objects.requireNonNull(shards, "shards");
    int released = parked.forget(shards);
    if (released > 0) {
      log.info("Tandem {}: released {} parked claim(s) of shards {} given up; their next claimant"
          + " runs them at once", owner, released, shards);
    }
  }

  /** The keys of the parked claims (tests). */
  Set<RecordKey> parkedKeysForTest() {
    return parked.keys();
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
    return count(deadLetters.send(message, EnvelopeChecker.safeId(message), reason, detail));
  }

  /** Processes one copy under epoch 0 (no shard leases). */
  public Outcome process(IncomingMessage message, MessageHandler handler) {
    return process(message, 0L, handler);
  }

  /** Processes one copy, claiming under the shard lease {@code epoch}. */
  public Outcome process(IncomingMessage message, long epoch, MessageHandler handler) {
    return processAll(List.of(message), s -> epoch, handler).get(0);
  }

  // ---------------------------------------------------------------- steps of a batch

  /** Where one copy of a batch stands between its envelope check and its handler. */
  private sealed interface Step permits Decided, Rejected, Passing, Stale, Claiming {}

  /** Answered without a handler (fenced, or parked: not durable in time). */
  private record Decided(Outcome outcome) implements Step {}

  /** The envelope check sent it to the dead-letter path. */
  private record Rejected(EnvelopeCheck.Reject reject) implements Step {}

  /** No id, passed through unclaimed. */
  private record Passing(IncomingMessage message) implements Step {}

  /** Older than the record TTL minus the margin: dead-lettered STALE. */
  private record Stale(ClaimAttempt attempt) implements Step {}

  /** Claimed (whatever the store answered). */
  private record Claiming(ClaimAttempt attempt) implements Step {}

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
    List<ClaimRenewer.LiveClaim> live = new ArrayList<>();
    try {
      Step[] steps = new Step[n];
      List<ClaimRequest> requests = new ArrayList<>(n);
      List<ClaimAttempt> claiming = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        IncomingMessage m = messages.get(i);
        EnvelopeCheck check = envelopes.check(m);
        if (check instanceof EnvelopeCheck.Reject rj) {
          steps[i] = new Rejected(rj);
        } else if (check instanceof EnvelopeCheck.PassThrough) {
          steps[i] = new Passing(m);
        } else {
          ClaimAttempt r = ClaimAttempt.of((EnvelopeCheck.Valid) check);
          r.epoch = epochOfShard.applyAsLong(m.shard());
          if (!fence.holds(m.shard(), r.epoch)) {
            steps[i] = new Decided(fenced(r.id(), m.shard(), r.epoch));
          } else if (!r.derived && isStale(r.envelope)) {
            steps[i] = new Stale(r);
          } else {
            requests.add(new ClaimRequest(r.id(), m.shard(), r.envelope.digest(), r.epoch,
                claimLease));
            claiming.add(r);
            steps[i] = new Claiming(r);
          }
        }
      }
      List<ClaimResult> claims = requests.isEmpty() ? List.of() : store.claimAll(requests);
      List<ClaimAttempt> acquired = new ArrayList<>();
      for (int j = 0; j < claims.size(); j++) {
        ClaimAttempt r = claiming.get(j);
        r.claim = parked.adopt(r, claims.get(j));
        if (r.claim instanceof ClaimResult.Acquired a) {
          // renewed from now on: later messages of the batch wait for the earlier handlers
          r.live = renewer.start(r.id(), r.shard(), a);
          live.add(r.live);
          acquired.add(r);
        }
      }
      Set<ClaimAttempt> notDurable = durable == null ? Set.of() : durable.await(acquired);
      for (int i = 0; i < n; i++) {
        if (steps[i] instanceof Claiming c && notDurable.contains(c.attempt())) {
          steps[i] = new Decided(park(c.attempt()));
        }
      }
      List<Outcome> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        // claims are made up front: once close() began, no handler of the batch starts any more
        // (close may have returned; the caller then closes the store under it)
        out.add(closed && startsAHandler(steps[i])
            ? count(notStarted(steps[i])) : count(finish(steps[i], handler)));
      }
      return out;
    } finally {
      for (ClaimRenewer.LiveClaim c : live) {
        c.stop();
      }
      exit();
    }
  }

  /**
   * An acquired claim not durable in time: its handler does not run; the claim is kept for the next
   * delivery here ({@link ParkedClaims}), or released if close() already began.
   */
  private Outcome park(ClaimAttempt r) {
    ClaimResult.Acquired a = (ClaimResult.Acquired) r.claim;
    r.live.stop();
    boolean kept;
    synchronized (lifecycle) {
      kept = !closed; // close() released the parked claims: none may be added after it
      if (kept) {
        parked.keep(r);
      }
    }
    if (!kept) {
      parked.abandon(r.key(), a, "closed");
    }
    Duration left = durable.coolDownLeft();
    return new Outcome.RetryLater(r.id(), Outcome.RetryReason.CLAIMS_NOT_DURABLE,
        left.compareTo(retryBackoff) > 0 ? left : retryBackoff,
        "claim (attempt " + a.attempt() + ") of shard " + r.shard()
            + " not in the own region's changelog in time; the handler did not run");
  }

  /** Whether {@code step}, finished, may run a handler. */
  private static boolean startsAHandler(Step step) {
    return step instanceof Passing || (step instanceof Claiming c
        && (c.attempt().claim instanceof ClaimResult.Acquired
            || c.attempt().claim instanceof ClaimResult.InProgress));
  }

  /** The answer for a step whose handler did not start because the processor is closed. */
  private Outcome notStarted(Step step) {
    return step instanceof Claiming c ? notStarted(c.attempt())
        : new Outcome.RetryLater(null, Outcome.RetryReason.CLOSED, retryBackoff,
            "this processor was closed before the handler started");
  }

  private Outcome notStarted(ClaimAttempt r) {
    if (r.live != null) {
      r.live.stop();
      parked.abandon(r.key(), (ClaimResult.Acquired) r.claim, "closed");
    }
    return new Outcome.RetryLater(r.id(), Outcome.RetryReason.CLOSED, retryBackoff,
        "this processor was closed before the handler started");
  }

  /**
   * How long a batch waits at most for its claims to be durable in the own changelog before its
   * first handler ({@link Builder#claimsDurable}); empty without that hook (no wait). A poll loop
   * uses it to tell that wait, which ends by itself, from a stuck loop.
   */
  public Optional<Duration> claimsDurableTimeout() {
    return Optional.ofNullable(claimsDurableTimeout);
  }

  /**
   * The terminal phase of the copy's id if the store knows one, for a follower reading along (it
   * acknowledges a COMPLETED id without running the handler). Empty when the id is not terminal or the
   * copy carries no readable envelope.
   */
  public Optional<Phase> terminalPhase(IncomingMessage message) {
    if (envelopes.check(message) instanceof EnvelopeCheck.Valid v) {
      Optional<IdRecord> rec = store.get(v.envelope().id(), message.shard());
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
    return envelopes.check(message) instanceof EnvelopeCheck.Valid v
        ? Optional.of(v.envelope()) : Optional.empty();
  }

  private boolean isStale(Envelope env) {
    long age = clock.wallMillis() - env.publishedAt();
    return age > staleAfter.toMillis();
  }

  private Outcome finish(Step step, MessageHandler handler) {
    if (step instanceof Decided d) {
      return d.outcome();
    }
    if (step instanceof Rejected rj) {
      EnvelopeCheck.Reject r = rj.reject();
      return deadLetters.send(r.message(), r.id(), r.reason(), r.detail());
    }
    if (step instanceof Passing p) {
      return runPassThrough(p.message(), handler);
    }
    if (step instanceof Stale s) {
      ClaimAttempt r = s.attempt();
      String detail = "published at " + r.envelope.publishedAt() + ", older than the record TTL minus "
          + "the margin (" + staleAfter + "): its record may have expired";
      return deadLetters.deadLetterRecord(r, DeadLetterReason.STALE, detail);
    }
    return finishClaimed(((Claiming) step).attempt(), handler);
  }

  private Outcome finishClaimed(ClaimAttempt r, MessageHandler handler) {
    String id = r.id();
    int shard = r.shard();
    ClaimResult claim = r.claim;
    for (int round = 0; ; round++) {
      if (claim instanceof ClaimResult.Acquired a) {
        if (r.live == null) {
          // a claim made here, not in processAll's batch
          r.claim = a;
          r.live = renewer.start(id, shard, a);
          if (closed) {
            return notStarted(r); // claimed after a wait that close() began during
          }
          if (durable != null && !durable.await(List.of(r)).isEmpty()) {
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
        return deadLetters.deadLetterRecord(r, DeadLetterReason.CONFLICT, detail);
      } else if (claim instanceof ClaimResult.DeadLettered d) {
        IdRecord rec = d.record();
        if (rec.owner().equals(owner)) {
          // this owner's claim (or an earlier delivery here) dead-lettered it: the message is ours
          // to route; sending twice after a crash is possible, never zero times
          return deadLetters.send(r.message, id, DeadLetterRouter.reasonOf(rec),
              "dead-lettered in the store: " + rec.reason());
        }
        metrics.duplicatesSuppressed.increment();
        return new Outcome.Skipped(id, Phase.DEAD_LETTERED);
      } else if (claim instanceof ClaimResult.InProgress p) {
        if (round == 0 && r.live == null) {
          // batch claims are made before the earlier handlers of the poll ran: the claim in the way
          // may have ended since (the same id twice in one poll), so look again before waiting
          Optional<IdRecord> now = store.get(id, shard);
          if (now.isPresent() && now.get().phase() != Phase.CLAIMED) {
            claim = parked.adopt(r, store.claim(id, shard, r.envelope.digest(), r.epoch, claimLease));
            if (!(claim instanceof ClaimResult.InProgress)) {
              continue;
            }
            p = (ClaimResult.InProgress) claim;
          }
        }
        if (round == 0) {
          metrics.inProgress.increment();
        }
        if (round >= 1 || !waiters.awaitEnd(id, shard, p.leaseRemaining())) {
          Duration after = p.leaseRemaining().compareTo(retryBackoff) < 0
              ? p.leaseRemaining() : retryBackoff;
          return new Outcome.RetryLater(id, Outcome.RetryReason.IN_PROGRESS, after,
              "claimed by " + p.owner() + ", lease remaining " + p.leaseRemaining());
        }
        if (!fence.holds(shard, r.epoch)) {
          return fenced(id, shard, r.epoch);
        }
        claim = parked.adopt(r, store.claim(id, shard, r.envelope.digest(), r.epoch, claimLease));
      } else {
        throw new IllegalStateException("unknown claim result " + claim);
      }
    }
  }

  private Outcome runHandler(ClaimAttempt r, ClaimResult.Acquired a, MessageHandler handler) {
    String id = r.id();
    int shard = r.shard();
    ClaimRenewer.LiveClaim live = r.live;
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
    HandlerContext ctx =
        new HandlerContext(id, shard, a.attempt(), a.epoch(), r.message, live, previous);
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
        return deadLetters.send(r.message, id, DeadLetterReason.MAX_ATTEMPTS, detail);
      }
      log.debug("handler of {} failed on attempt {}, released for a retry", id, a.attempt(), e);
      return new Outcome.RetryLater(id, Outcome.RetryReason.HANDLER_FAILED, retryBackoff,
          "attempt " + a.attempt() + " failed: " + e);
    }
    live.stop();
    metrics.handler.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    IdRecord rec = store.complete(id, shard, null);
    boolean lost = live.lost() || !ClaimRenewer.completedBy(rec, owner, a.attempt());
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

  private Outcome runPassThrough(IncomingMessage m, MessageHandler handler) {
    HandlerContext ctx = new HandlerContext(null, m.shard(), m.deliveryAttempt(), 0L, m, null, null);
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

  private Outcome.RetryLater fenced(String id, int shard, long epoch) {
    if (id != null) {
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

  /** The renewal step of every live claim, to run by hand (tests of races with the renewer). */
  List<Runnable> renewalStepsForTest() {
    return renewer.renewalSteps();
  }

  // ---------------------------------------------------------------- lifecycle

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
      // the store outlives this processor: its listener goes (the calls under way had their wait)
      waiters.close();
      int released = parked.releaseAll(); // their handlers never ran: for the next instance
      if (released > 0) {
        log.info("Tandem {}: released {} parked claim(s) on close; their next claimant runs them at"
            + " once", owner, released);
      }
      if (inFlight == 0) {
        renewer.shutdownNow();
        return;
      }
      log.warn("Tandem {}: {} call(s) still running their handlers {} after close; their claims stay"
          + " renewed until they return", owner, inFlight, timeout);
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
    private IntFunction<CompletableFuture<Void>> claimsDurable;
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
        IntFunction<CompletableFuture<Void>> durable, Duration timeout) {
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
