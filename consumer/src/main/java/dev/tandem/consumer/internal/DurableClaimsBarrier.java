package dev.tandem.consumer.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.store.Owner;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable-claims wait: before any handler of a batch runs, waits until its claims are in the own
 * region's changelog (the {@code claimsDurable} hook's barrier per shard). A new owner reading that
 * changelog at takeover then sees every claim whose handler may have run, so the duplicate bound it
 * reports counts it even if this process is killed right after the claim.
 *
 * <p>The wait is never skipped: a claim in no changelog is invisible to the taker, and the only
 * place that could record "these ids ran unrecorded" is that same changelog, which is what does not
 * answer. It is bounded instead: claims not acknowledged within the timeout are returned as not
 * durable (the processor parks them; the meter {@code tandem.consumer.claims.not.durable} counts the
 * batch). For one timeout after a timeout the own broker is presumed slow: batches do not wait again
 * (the poll loop stays responsive) and run only the claims already acknowledged.
 *
 * <p>Each claim waits for its OWN write: the barrier taken right after the batch's claims (one per
 * shard), or, for a resumed parked claim, the barrier taken after its original claim — whichever
 * completes first. A resume writes a renewal, and a barrier taken now covers it too; waiting only for
 * that would never end under a changelog steadily slower than the timeout (each retry's barrier lags
 * as much as the last). Per shard, claims run in batch order up to the first one not durable; it and
 * the shard's later claims are not durable (order within a partition is kept).
 *
 * <p>Times are real ({@code System.nanoTime}), as the wait itself is.
 */
public final class DurableClaimsBarrier {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.OnceProcessor.class);

  private final IntFunction<CompletableFuture<Void>> hook;
  private final Duration timeout;
  private final Owner owner;
  private final Counter notDurable;
  /** Whether a wait timed out, and when (System.nanoTime). */
  private volatile boolean timedOut;
  private volatile long timedOutAtNanos;

  /**
   * @param hook the barrier for a shard (e.g. the replication log's barrier of the own region)
   * @param timeout how long a batch waits at most
   */
  public DurableClaimsBarrier(IntFunction<CompletableFuture<Void>> hook, Duration timeout,
      Owner owner, MeterRegistry registry) {
    this.hook = Objects.requireNonNull(hook, "hook");
    this.timeout = Objects.requireNonNull(timeout, "timeout");
    this.owner = Objects.requireNonNull(owner, "owner");
    this.notDurable = Counter.builder(ConsumerMeterNames.CLAIMS_NOT_DURABLE)
        .tag("region", owner.region().name())
        .description("batches whose handlers were held back (try later): their claims were not in"
            + " the own region's changelog in time")
        .register(registry);
  }

  /**
   * Waits for the acquired claims of a batch (in batch order); sets each one's {@code fresh} and
   * {@code durable} barrier.
   *
   * @return the claims not durable (empty: every handler of the batch may run)
   */
  public Set<ClaimAttempt> await(List<ClaimAttempt> acquired) {
    if (acquired.isEmpty()) {
      return Set.of();
    }
    Map<Integer, CompletableFuture<Void>> barriers = new HashMap<>();
    for (ClaimAttempt r : acquired) {
      r.fresh = barriers.computeIfAbsent(r.shard(), this::barrier);
      r.durable = r.resumed == null ? r.fresh
          : firstSuccess(List.of(r.resumed.original(), r.resumed.latest(), r.fresh));
    }
    boolean coolingDown = !coolDownLeft().isZero();
    long deadline = System.nanoTime() + (coolingDown ? 0 : timeout.toNanos());
    Set<ClaimAttempt> out = Collections.newSetFromMap(new IdentityHashMap<>());
    Set<Integer> heldShards = new TreeSet<>();
    String failure = null;
    for (ClaimAttempt r : acquired) {
      int shard = r.shard();
      if (heldShards.contains(shard)) {
        out.add(r); // after a claim of its shard that is not durable: keeps the order
        continue;
      }
      try {
        r.durable.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt(); // the other waits fail at once too
        out.add(r);
        heldShards.add(shard);
        failure = e.toString();
      } catch (ExecutionException | TimeoutException | RuntimeException e) {
        out.add(r);
        heldShards.add(shard);
        failure = e.toString();
      }
    }
    if (!out.isEmpty()) {
      notDurable.increment();
      if (!coolingDown) {
        timedOutAtNanos = System.nanoTime(); // real time, as the wait itself
        timedOut = true;
        log.warn("Tandem {}: claims of shards {} not in the changelog within {} ({}); their handlers"
            + " do not run, the copies are retried", owner, heldShards, timeout, failure);
      }
    }
    return out;
  }

  /** How long the no-wait period after a timeout still lasts (zero: none). */
  public Duration coolDownLeft() {
    if (!timedOut) {
      return Duration.ZERO;
    }
    long left = timeout.toNanos() - (System.nanoTime() - timedOutAtNanos);
    return left > 0 ? Duration.ofNanos(left) : Duration.ZERO;
  }

  /** The hook's barrier for {@code shard} now; a hook that throws counts as not acknowledged. */
  private CompletableFuture<Void> barrier(int shard) {
    try {
      return Objects.requireNonNull(hook.apply(shard), "claimsDurable returned null");
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** Completes when the first of {@code fs} completes normally; fails once all of them failed. */
  static CompletableFuture<Void> firstSuccess(List<CompletableFuture<Void>> fs) {
    List<CompletableFuture<Void>> distinct = fs.stream().distinct().toList();
    if (distinct.size() == 1) {
      return distinct.get(0);
    }
    CompletableFuture<Void> out = new CompletableFuture<>();
    AtomicInteger failed = new AtomicInteger();
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
}
