package dev.tandem.store;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;

/**
 * The two record caches of the store, in front of RocksDB. Both are filled only after RocksDB
 * accepted the write (or returned the record), under the key's stripe, and neither ever holds
 * absence: a miss only means a RocksDB read.
 *
 * <ul>
 *   <li>{@link #terminal}: COMPLETED and DEAD_LETTERED records, size-bounded ({@code
 *       cacheMaxEntries}), answering the "already done?" reads; updated when a terminal record grows
 *       through a remote apply, invalidated when a re-drive makes a dead letter non-terminal.
 *   <li>{@link #recent}: the non-terminal records this process last wrote or read, with their
 *       bucket, so the write that follows (a complete after its claim, a release, a renew) merges
 *       into the record in hand instead of reading and decoding it again. Invariant: an entry equals
 *       what RocksDB holds for the key; removed when the record turns terminal (the terminal cache
 *       takes over).
 * </ul>
 *
 * Both are cleared wherever RocksDB loses records behind the store's back (bucket drops, shard
 * drops, close).
 */
final class RecordCaches {

  /**
   * Bound of {@link #recent}: enough for every claim in flight of a busy consumer (claimAll batches
   * of a few hundred, several partitions); an evicted entry only costs a RocksDB read.
   */
  static final int RECENT_MAX_ENTRIES = 8192;

  final Cache<RecordKey, IdRecord> terminal;
  final Cache<RecordKey, RocksEngine.Stored> recent;

  RecordCaches(long terminalMaxEntries) {
    this.terminal = Caffeine.newBuilder().maximumSize(terminalMaxEntries).recordStats().build();
    this.recent = Caffeine.newBuilder().maximumSize(RECENT_MAX_ENTRIES).build();
  }

  /** RocksDB accepted {@code now} for {@code key}: the cache of its kind holds it, the other not. */
  void accepted(RecordKey key, RocksEngine.Stored now) {
    if (now.record().isTerminal()) {
      terminal.put(key, now.record());
      recent.invalidate(key);
    } else {
      terminal.invalidate(key); // a re-drive makes a dead letter non-terminal again
      recent.put(key, now);
    }
  }

  /** A record read from RocksDB under its stripe: a non-terminal one is kept in {@link #recent}. */
  void read(RecordKey key, RocksEngine.Stored s) {
    if (!s.record().isTerminal()) {
      recent.put(key, s);
    }
  }

  void dropShard(int shard) {
    terminal.asMap().keySet().removeIf(k -> k.shard() == shard);
    recent.asMap().keySet().removeIf(k -> k.shard() == shard);
  }

  void clear() {
    terminal.invalidateAll();
    recent.invalidateAll();
  }
}
