package dev.tandem.consumer.internal;

import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Renews the claims of one processor while their handlers wait or run, on one daemon thread ({@code
 * tandem-lease-renewer-<instance>}): every {@code renewEvery}, each {@link LiveClaim} gets a fresh
 * lease. A renewal that finds the record no longer this claim's stops it, and marks it lost unless
 * the claim ended itself (its own completion, release or dead letter racing the renewal).
 *
 * <p>Invariant: a claim never expires under its running handler — the renewer is stopped only when
 * no call is under way ({@link #shutdownNow}, called by the processor's last exit after close).
 */
public final class ClaimRenewer {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.OnceProcessor.class);

  private final IdempotencyStore store;
  private final Owner owner;
  private final Duration claimLease;
  private final Duration renewEvery;
  private final ScheduledExecutorService executor;
  /** Every claim being renewed now (it waits for, or runs, its handler). */
  private final Set<LiveClaim> liveClaims = ConcurrentHashMap.newKeySet();

  public ClaimRenewer(IdempotencyStore store, Duration claimLease, Duration renewEvery) {
    this.store = store;
    this.owner = store.owner();
    this.claimLease = claimLease;
    this.renewEvery = renewEvery;
    this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "tandem-lease-renewer-" + owner.instance());
      t.setDaemon(true);
      return t;
    });
  }

  /** Starts renewing the acquired claim {@code a} of {@code id}; the first renewal is one period on. */
  public LiveClaim start(String id, int shard, ClaimResult.Acquired a) {
    LiveClaim c = new LiveClaim(id, shard, a.generation(), a.attempt());
    liveClaims.add(c);
    c.task = executor.scheduleAtFixedRate(c::renew, renewEvery.toNanos(), renewEvery.toNanos(),
        TimeUnit.NANOSECONDS);
    return c;
  }

  /** The renewal step of every live claim, to run by hand (tests of races with the renewer). */
  public List<Runnable> renewalSteps() {
    List<Runnable> out = new ArrayList<>();
    for (LiveClaim c : liveClaims) {
      out.add(c::renew);
    }
    return out;
  }

  /** Stops the renewer thread; only when no handler runs any more. */
  public void shutdownNow() {
    executor.shutdownNow();
  }

  /** Whether {@code rec} names {@code owner}'s completion of {@code attempt}. */
  public static boolean completedBy(IdRecord rec, Owner owner, int attempt) {
    for (var c : rec.completers()) {
      if (c.region().equals(owner.region()) && c.instance().equals(owner.instance())
          && c.attempt() == attempt) {
        return true;
      }
    }
    return false;
  }

  /** A claim being renewed while it waits for, or runs, its handler. */
  public final class LiveClaim {
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

    /** Whether a renewal found the claim superseded (lease expired and re-claimed, or taken over). */
    public boolean lost() {
      return lost;
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
      } catch (RuntimeException | Error e) {
        // Error too: escaping this periodic task it would cancel every later renewal of the claim,
        // silently (it lands in the task's future), and the lease would run out under its handler
        log.warn("could not renew the claim of {} on shard {}", id, shard, e);
      }
    }

    /** Whether {@code rec}'s head is this claim's own end: its completion, release or dead letter. */
    private boolean endedByThisClaim(IdRecord rec) {
      if (rec.generation() != generation) {
        return false;
      }
      if (rec.phase() == Phase.COMPLETED) {
        return completedBy(rec, owner, attempt);
      }
      return (rec.phase() == Phase.RELEASED || rec.phase() == Phase.DEAD_LETTERED)
          && rec.owner().equals(owner) && rec.attempt() == attempt;
    }

    /** Stops renewing (idempotent). */
    public void stop() {
      liveClaims.remove(this);
      ScheduledFuture<?> t = task;
      if (t != null) {
        t.cancel(false);
      }
    }
  }
}
