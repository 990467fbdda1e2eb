package dev.tandem.store;

import java.util.Arrays;
import java.util.Collection;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A fixed array of locks; a record's lock is chosen by the hash of its key, so operations on one id
 * are serialised while unrelated ids almost never wait for each other (1 in {@code STRIPES}).
 * Several stripes are always taken in ascending index order, so batches cannot deadlock.
 */
final class StripedLocks {

  static final int STRIPES = 1024;

  private final ReentrantLock[] locks = new ReentrantLock[STRIPES];

  StripedLocks() {
    for (int i = 0; i < STRIPES; i++) {
      locks[i] = new ReentrantLock();
    }
  }

  static int stripe(RecordKey key) {
    int h = key.hashCode();
    h ^= (h >>> 16); // spread the high bits, as HashMap does
    return h & (STRIPES - 1);
  }

  /**
   * Locks the stripe of one key and returns its index for {@link #unlockOne}: the one-record
   * operations (claim, complete) take this path, which allocates nothing (no index array).
   */
  int lockOne(RecordKey key) {
    int i = stripe(key);
    locks[i].lock();
    return i;
  }

  void unlockOne(int stripe) {
    locks[stripe].unlock();
  }

  /** Locks the stripes of {@code keys} in ascending order; returns them for {@link #unlock}. */
  int[] lock(Collection<RecordKey> keys) {
    int[] idx = new int[keys.size()];
    int n = 0;
    for (RecordKey k : keys) {
      idx[n++] = stripe(k);
    }
    if (n > 1) {
      // ascending and distinct (a stripe is a ReentrantLock: taking it twice would need two unlocks)
      Arrays.sort(idx);
      int m = 1;
      for (int i = 1; i < n; i++) {
        if (idx[i] != idx[m - 1]) {
          idx[m++] = idx[i];
        }
      }
      idx = m == n ? idx : Arrays.copyOf(idx, m);
    }
    int taken = 0;
    try {
      for (int i : idx) {
        locks[i].lock();
        taken++;
      }
    } catch (RuntimeException | Error e) {
      unlock(Arrays.copyOf(idx, taken));
      throw e;
    }
    return idx;
  }

  void unlock(int[] stripes) {
    for (int i = stripes.length - 1; i >= 0; i--) {
      locks[stripes[i]].unlock();
    }
  }
}
