package dev.tandem.consumer.kafka.internal;

import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Ids a follower holds, watched in this region's {@link IdempotencyStore} until their completion
 * (COMPLETED or DEAD_LETTERED, any origin) is applied there: the one mechanism behind both
 * followers' early release — {@link FollowerHold} (the poll loop ends its sliced poll on {@link
 * #applied()}) and the Spring starter's {@code HeldRecordRelease} (a held record's back-off waits in
 * {@link #await}). Not API: public because the starter (another module) uses it.
 *
 * <p>An id is watched with a count: two holders can wait on the same id (two partitions of one loop,
 * two container threads), and one of them ending its wait must not end the other's (review s8-r R2).
 * An id is present exactly while its count is above 0; {@link #watchedIds()} is what a leak would
 * show. The store listener ({@link #attach}, removed by {@link #close}) runs on the store's writing
 * threads: one {@code isEmpty()} per write while nothing is watched, a map look-up otherwise, never
 * blocks. A holder watches an id, THEN looks at the store once more: a completion applied between
 * its first look and the watch would otherwise go unnoticed.
 *
 * <p>Thread-safe: holders on any thread, the listener on the store's.
 */
public final class CompletionWatch implements AutoCloseable {

  /** One watched id: how many holders wait on it; opened when its completion is applied. */
  private static final class Watched {
    int holders; // changed only inside the map's compute for its key (atomic per id)
    final CountDownLatch completed = new CountDownLatch(1);
  }

  private final Map<String, Watched> watched = new ConcurrentHashMap<>();
  /** Set when a watched id's completion was applied; cleared by {@link #clearApplied()}. */
  private volatile boolean applied;
  private final StoreListener listener = new StoreListener() {
    @Override
    public void onRecord(IdRecord record, WriteOrigin origin) {
      if (!watched.isEmpty() && record.phase().isTerminal()) {
        Watched w = watched.get(record.id());
        if (w != null) {
          w.completed.countDown();
          applied = true;
        }
      }
    }
  };
  private IdempotencyStore store;

  /** A watch not attached to a store yet (its listener can be added elsewhere: {@link #listener()}). */
  public CompletionWatch() {
  }

  /**
   * Adds this watch's listener to {@code store}; {@link #close} removes it.
   *
   * @throws IllegalStateException if already attached
   */
  public synchronized CompletionWatch attach(IdempotencyStore store) {
    if (this.store != null) {
      throw new IllegalStateException("the completion watch is already attached to a store");
    }
    store.addListener(listener);
    this.store = store;
    return this;
  }

  /** The store listener (added by {@link #attach}; tests feed it writes directly). */
  public StoreListener listener() {
    return listener;
  }

  /** One holder more waits on {@code id}'s completion. */
  public void watch(String id) {
    watched.compute(id, (k, w) -> {
      Watched v = w == null ? new Watched() : w;
      v.holders++;
      return v;
    });
  }

  /** One holder of {@code id} stopped waiting; the last one ends the id's watch. */
  public void unwatch(String id) {
    watched.computeIfPresent(id, (k, w) -> --w.holders == 0 ? null : w);
  }

  /** Whether {@code id} is watched (some holder waits on it). */
  public boolean watches(String id) {
    return watched.containsKey(id);
  }

  /** The number of distinct ids watched now. */
  public int watchedIds() {
    return watched.size();
  }

  /**
   * Whether a watched id's completion was applied since {@link #clearApplied()} (any thread): the
   * poll loop's signal to drain at once.
   */
  public boolean applied() {
    return applied;
  }

  /** Clears {@link #applied()}; call it BEFORE looking at the store, so a later apply sets it again. */
  public void clearApplied() {
    applied = false;
  }

  /**
   * Waits up to {@code timeout} for {@code id}'s completion to be applied while it is watched.
   *
   * @return true if it was applied (also before this call, since the id's watch began); false on
   *     timeout, or when {@code id} is not watched (nothing would wake the wait)
   */
  public boolean await(String id, long timeout, TimeUnit unit) throws InterruptedException {
    Watched w = watched.get(id);
    return w != null && w.completed.await(timeout, unit);
  }

  /** Ends every watch (the holder stopped: nothing is held any more). */
  public void clear() {
    watched.clear();
  }

  /** Removes the listener from the store it was attached to (if any) and ends every watch. */
  @Override
  public synchronized void close() {
    if (store != null) {
      store.removeListener(listener);
      store = null;
    }
    clear();
  }
}
