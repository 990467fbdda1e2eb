package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ownership.HandoverReport;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.store.StoreException;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiFunction;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs failbacks apart from lease renewal (not API), one at a time: which shard is due is decided
 * on the caller's thread (that waits for nothing), the planned handover runs on a daemon thread of
 * its own. Why: the handover waits up to {@code catchUpTimeout} — 10 s by default, more than
 * L + margin — for the shard's batches and the peer's acknowledgement; run inside a renewal round it
 * held back the next rounds, so the region's other leases lapsed and the peer took them over
 * (issue 21). Invariant: at most one handover of this runner runs at any time, and none starts or
 * still runs once {@link #stop} returned true — its caller closes the store and the changelog next,
 * which no handover may still be writing to (before the split the failback ran on the loop thread,
 * so stopping the loop stopped it).
 */
public final class FailbackRunner {

  private static final Logger log = LoggerFactory.getLogger(ShardOwnership.class);

  private final RegionId self;
  private final IntFunction<Optional<RegionId>> due;
  private final BiFunction<Integer, RegionId, HandoverReport> failBack;
  private final AtomicReference<CompletableFuture<Optional<HandoverReport>>> running =
      new AtomicReference<>();
  /** Set by {@link #stop}: no failback starts any more. */
  private volatile boolean stopped;

  /**
   * @param due the home region of a shard whose failback is due now (waits for nothing)
   * @param failBack the handover of a shard to its home region (waits)
   */
  public FailbackRunner(RegionId self, IntFunction<Optional<RegionId>> due,
      BiFunction<Integer, RegionId, HandoverReport> failBack) {
    this.self = self;
    this.due = due;
    this.failBack = failBack;
  }

  /**
   * Starts the failback of the first due shard among {@code shards} unless one runs.
   *
   * @return the report of a failback that finished since the previous call (each returned once)
   */
  public Optional<HandoverReport> startOne(Set<Integer> shards) {
    if (stopped) {
      return Optional.empty();
    }
    CompletableFuture<Optional<HandoverReport>> last = running.get();
    Optional<HandoverReport> finished = Optional.empty();
    if (last != null) {
      if (!last.isDone() || !running.compareAndSet(last, null)) {
        return Optional.empty(); // one at a time: the next round decides again
      }
      finished = last.getNow(Optional.empty());
    }
    for (int s : new TreeSet<>(shards)) {
      Optional<RegionId> home;
      try {
        home = due.apply(s);
      } catch (StoreException | IllegalStateException e) {
        log.debug("failback of shard {} skipped: {}", s, e.getMessage());
        continue;
      }
      if (home.isPresent()) {
        start(s, home.get());
        return finished;
      }
    }
    return finished;
  }

  /**
   * Starts no failback any more and waits up to {@code timeout} for the one running to end (its
   * handover is bounded by the ownership's catchUpTimeout; it is not interrupted, which would abort
   * it half-way).
   *
   * @return true when none runs any more
   */
  public boolean stop(Duration timeout) {
    stopped = true;
    CompletableFuture<Optional<HandoverReport>> last = running.get();
    if (last == null) {
      return true;
    }
    try {
      last.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      // not done in time (the future itself never fails: start completes it either way)
    }
    log.warn("Tandem {}: a failback still runs after {}; stopping without it", self, timeout);
    return last.isDone();
  }

  private void start(int shard, RegionId to) {
    CompletableFuture<Optional<HandoverReport>> run = new CompletableFuture<>();
    if (!running.compareAndSet(null, run)) {
      return; // another caller started one meanwhile
    }
    if (stopped) {
      // stop() ran between startOne's check and the slot taken here: it may not have seen this run
      run.complete(Optional.empty());
      return;
    }
    Thread t = new Thread(() -> {
      try {
        run.complete(Optional.of(failBack.apply(shard, to)));
      } catch (RuntimeException | Error e) {
        log.warn("Tandem {}: failback of shard {} to {} failed", self, shard, to, e);
        run.complete(Optional.empty());
      }
    }, "tandem-failback-" + self.name() + "-" + shard);
    t.setDaemon(true);
    t.start();
  }
}
