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

  /** Locks the stripes of {@code keys} in ascending order; returns them for {@link #unlock}. */
  int[] lock(Collection<RecordKey> keys) {
    int[] idx = keys.stream().mapToInt(StripedLocks::stripe).distinct().toArray();
    Arrays.sort(idx);
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
