package dev.tandem.consumer.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.core.TandemClock;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import dev.tandem.store.RecordKey;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Claims acquired here whose handler did not run because they were not durable in time ({@link
 * DurableClaimsBarrier}), by key: the next delivery resumes them as the same attempt ({@link #adopt}).
 * They are kept, not released: a release would spend an attempt per broker hiccup (and dead-letter a
 * message after maxAttempts of them).
 *
 * <p>An entry leaves when it is resumed, when its id answers anything but this owner's live claim, on
 * FENCED ({@link #remove}), when its shard is forgotten ({@link #forget}, {@link #releaseAll}:
 * released), after {@code 2 x claimLease}, or — the oldest, released — when {@code maxParked} are
 * kept. An entry lost early only costs an attempt and a conservative re-run report.
 */
public final class ParkedClaims {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.OnceProcessor.class);

  /**
   * An acquired claim not durable in time. {@code original} is the barrier taken after the claim was
   * written (a failed one is replaced by a later barrier), {@code latest} the last one taken for it:
   * its resume waits for the first of them.
   */
  public record Parked(ClaimResult.Acquired claim, long epoch, long parkedAtNanos,
      CompletableFuture<Void> original, CompletableFuture<Void> latest) {}

  private final Map<RecordKey, Parked> parked = new ConcurrentHashMap<>();
  private final IdempotencyStore store;
  private final Owner owner;
  private final TandemClock clock;
  private final Duration claimLease;
  private final int maxParked;
  /**
   * How long a parked entry is kept: twice the claim lease. Its lease on this store runs out one lease
   * after it was parked (its renewals stop then); after that the entry only serves to tell the next
   * attempt of this owner that the expired claim never ran its handler, and that attempt comes with
   * the redelivery of the copy (after the retry delay, seconds). A second lease is slack for a slow
   * redelivery; beyond it the next attempt reports a re-run (conservative, never a silent one).
   */
  private final long maxAgeNanos;
  private final MeterRegistry registry;
  private volatile long lastSweepNanos;
  private volatile boolean overflowWarned;

  public ParkedClaims(IdempotencyStore store, TandemClock clock, Duration claimLease, int maxParked,
      MeterRegistry registry) {
    this.store = store;
    this.owner = store.owner();
    this.clock = clock;
    this.claimLease = claimLease;
    this.maxParked = maxParked;
    this.maxAgeNanos = claimLease.multipliedBy(2).toNanos();
    this.registry = registry;
    this.lastSweepNanos = clock.nanoTime();
  }

  /** The keys parked now. */
  public Set<RecordKey> keys() {
    return new HashSet<>(parked.keySet());
  }

  /**
   * Parks the acquired claim of {@code r} (its renewal already stopped). The caller serialises parks
   * with its close (no claim may be parked after {@link #releaseAll}).
   */
  public void keep(ClaimAttempt r) {
    ClaimResult.Acquired a = (ClaimResult.Acquired) r.claim;
    CompletableFuture<Void> original = r.resumed != null
        && !r.resumed.original().isCompletedExceptionally() ? r.resumed.original() : r.fresh;
    makeRoom();
    parked.put(r.key(), new Parked(a, r.epoch, clock.nanoTime(), original, r.fresh));
  }

  /** Drops the entry of {@code key} without releasing it (the shard moved on: FENCED). */
  public void remove(RecordKey key) {
    if (!parked.isEmpty()) {
      parked.remove(key);
    }
  }

  /**
   * The claim answer as the processor acts on it. This owner's own parked claim answers InProgress to
   * its next delivery: it is resumed (renewed, same attempt) instead, if the delivery is under the
   * claim's epoch (else it stays parked for one that is). An attempt that follows a parked claim of
   * ours whose lease ran out follows a claim whose handler never ran: it reports what that claim
   * followed. Any other answer means the parked claim is over (completed, dead-lettered, in conflict,
   * superseded): its entry goes.
   */
  public ClaimResult adopt(ClaimAttempt r, ClaimResult result) {
    if (parked.isEmpty()) {
      return result;
    }
    RecordKey key = r.key();
    Parked pk = parked.get(key);
    if (pk == null) {
      return result;
    }
    if (result instanceof ClaimResult.InProgress p && p.owner().equals(owner)) {
      // checked before removing: a delivery under another epoch leaves the entry for the right one
      if (pk.epoch() != r.epoch || !parked.remove(key, pk)) { // remove: one caller resumes it
        return result;
      }
      try {
        IdRecord now = store.renew(key.id(), key.shard(), claimLease); // a fresh lease
        if (now.isClaimedBy(owner) && now.generation() == pk.claim().generation()
            && now.attempt() == pk.claim().attempt()) {
          r.resumed = pk;
          return pk.claim();
        }
      } catch (IllegalStateException gone) {
        // the record is gone (shard dropped): the claim answer stands
      }
      return result;
    }
    if (result instanceof ClaimResult.Acquired a && a.previous() != null
        && a.previous().owner().equals(owner) && pk.claim().generation() == a.generation()
        && pk.claim().attempt() == a.previous().attempt() && parked.remove(key, pk)) {
      return new ClaimResult.Acquired(a.attempt(), a.generation(), a.epoch(), pk.claim().previous());
    }
    parked.remove(key, pk);
    return result;
  }

  /**
   * Releases the parked claims of {@code shards} (given up by this instance), so their next claimant
   * claims at once.
   *
   * @return how many were released
   */
  public int forget(Collection<Integer> shards) {
    if (parked.isEmpty() || shards.isEmpty()) {
      return 0;
    }
    int released = 0;
    for (Map.Entry<RecordKey, Parked> e : parked.entrySet()) {
      if (shards.contains(e.getKey().shard()) && parked.remove(e.getKey(), e.getValue())
          && abandon(e.getKey(), e.getValue().claim(), "forgotten")) {
        released++;
      }
    }
    return released;
  }

  /** On close: every parked claim is released (their handlers never ran). @return how many */
  public int releaseAll() {
    int released = 0;
    for (Map.Entry<RecordKey, Parked> e : parked.entrySet()) {
      if (parked.remove(e.getKey(), e.getValue())
          && abandon(e.getKey(), e.getValue().claim(), "closed")) {
        released++;
      }
    }
    return released;
  }

  /**
   * Before a claim is parked: drops the entries older than {@link #maxAgeNanos} (swept at most every
   * quarter lease), then, if still full, releases the oldest claim to make room — a newer claim is
   * more likely to be redelivered here soon.
   */
  private void makeRoom() {
    long now = clock.nanoTime();
    if (now - lastSweepNanos >= maxAgeNanos / 8 || parked.size() >= maxParked) {
      lastSweepNanos = now;
      for (Map.Entry<RecordKey, Parked> e : parked.entrySet()) {
        if (now - e.getValue().parkedAtNanos() > maxAgeNanos
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
        if (!overflowWarned) {
          overflowWarned = true;
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
  public boolean abandon(RecordKey key, ClaimResult.Acquired claim, String cause) {
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
      Counter.builder(ConsumerMeterNames.PARKED_RELEASED)
          .tag("region", owner.region().name()).tag("cause", cause)
          .description("claims whose handler never ran (not durable in time, or a close), released"
              + " so their next claimant claims at once")
          .register(registry).increment();
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
}
