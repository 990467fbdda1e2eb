package dev.tandem.consumer.internal;

import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Callers waiting for another owner's live claim of an id to end (completed, released, dead
 * lettered), woken by the store's listener as soon as the record moves — by a local write or a
 * replicated one — instead of polling.
 */
public final class InProgressWaiters {

  private final IdempotencyStore store;
  private final Duration maxWait;
  /** Ids whose live claim (someone else's) a caller waits on; completed by the store listener. */
  private final Map<String, CompletableFuture<Void>> waiters = new ConcurrentHashMap<>();

  /** Wakes the callers waiting on an id whose record left CLAIMED. */
  private final StoreListener listener = new StoreListener() {
    @Override
    public void onRecord(IdRecord record, WriteOrigin origin) {
      if (!waiters.isEmpty() && record.phase() != Phase.CLAIMED) {
        CompletableFuture<Void> w = waiters.remove(record.id());
        if (w != null) {
          w.complete(null);
        }
      }
    }
  };

  /**
   * Registers a listener on {@code store}; {@link #close()} removes it.
   *
   * @param maxWait how long a caller waits at most ({@code inProgressWait}; zero: never waits)
   */
  public InProgressWaiters(IdempotencyStore store, Duration maxWait) {
    this.store = store;
    this.maxWait = maxWait;
    store.addListener(listener);
  }

  /**
   * Removes the listener from the store (which outlives the processor: without this, every processor
   * built on it would stay reachable from its listener list). A caller still waiting then waits out
   * its bounded wait.
   */
  public void close() {
    store.removeListener(listener);
  }

  /**
   * Waits up to the configured wait (or the claim's remaining lease and a little, if shorter) for the
   * claim of {@code id} to end; true if it did, so the caller should claim again.
   */
  public boolean awaitEnd(String id, int shard, Duration leaseRemaining) {
    if (maxWait.isZero()) {
      return false;
    }
    CompletableFuture<Void> w = waiters.computeIfAbsent(id, k -> new CompletableFuture<>());
    try {
      // re-read after registering, so a change between the claim and the registration is not missed
      Optional<IdRecord> now = store.get(id, shard);
      if (now.isPresent() && now.get().phase() != Phase.CLAIMED) {
        return true;
      }
      Duration wait = maxWait.compareTo(leaseRemaining) < 0
          ? maxWait : leaseRemaining.plusMillis(50);
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
}
