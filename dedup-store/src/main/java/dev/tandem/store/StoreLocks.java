package dev.tandem.store;

import java.util.Collection;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

/**
 * The store's locks and their order. Lock order, always: id stripes (ascending) → lease lock →
 * engine read lock. The engine write lock (bucket drops, shard drops, close) is taken alone, never
 * while holding a stripe — so a drop waits for the operations in flight and no operation sees a
 * half-dropped bucket. Also holds the closed flag, read and written under the engine lock.
 */
final class StoreLocks {

  private final StripedLocks stripes = new StripedLocks();
  private final ReentrantLock leaseLock = new ReentrantLock();
  private final ReentrantReadWriteLock engineLock = new ReentrantReadWriteLock();
  private final String what;
  private volatile boolean closed;

  /** @param what names the store in the "closed" exception (its directory) */
  StoreLocks(String what) {
    this.what = what;
  }

  /**
   * Runs {@code body} holding the stripes of {@code keys}, the lease lock if {@code leases}, and the
   * engine read lock; throws if the store is closed.
   */
  <T> T locked(Collection<RecordKey> keys, boolean leases, Supplier<T> body) {
    int[] held = stripes.lock(keys);
    try {
      if (leases) {
        leaseLock.lock();
      }
      try {
        return shared(body);
      } finally {
        if (leases) {
          leaseLock.unlock();
        }
      }
    } finally {
      stripes.unlock(held);
    }
  }

  /**
   * Takes {@code key}'s stripe, then the engine read lock (the lock order of {@link #locked} without
   * the lease lock), and returns the stripe for {@link #unlockOne}; throws, holding nothing, if the
   * store is closed. The one-record operations use this pair instead of {@link #locked}: no key
   * collection, index array or body lambda per operation.
   */
  int lockOne(RecordKey key) {
    int stripe = stripes.lockOne(key);
    engineLock.readLock().lock();
    if (closed) {
      engineLock.readLock().unlock();
      stripes.unlockOne(stripe);
      checkOpen();
    }
    return stripe;
  }

  /** Releases what {@link #lockOne} took, in reverse order. */
  void unlockOne(int stripe) {
    engineLock.readLock().unlock();
    stripes.unlockOne(stripe);
  }

  /** Runs {@code body} under the engine read lock (keeps buckets from being dropped meanwhile). */
  <T> T shared(Supplier<T> body) {
    engineLock.readLock().lock();
    try {
      checkOpen();
      return body.get();
    } finally {
      engineLock.readLock().unlock();
    }
  }

  /**
   * Runs {@code body} under the engine read lock if it is free now, else answers {@code busy}
   * (a gauge must not wait for a drop or close); also {@code busy} once closed.
   */
  <T> T sharedOrElse(Supplier<T> body, T busy) {
    if (!engineLock.readLock().tryLock()) {
      return busy;
    }
    try {
      return closed ? busy : body.get();
    } finally {
      engineLock.readLock().unlock();
    }
  }

  /** Runs {@code body} alone (no operation in flight); {@code body} sees whether it is closed. */
  void exclusive(Runnable body) {
    engineLock.writeLock().lock();
    try {
      body.run();
    } finally {
      engineLock.writeLock().unlock();
    }
  }

  boolean isClosed() {
    return closed;
  }

  /** Marks the store closed; call inside {@link #exclusive}. */
  void markClosed() {
    closed = true;
  }

  void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the store at " + what + " is closed");
    }
  }
}
