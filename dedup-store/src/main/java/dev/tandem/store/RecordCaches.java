package dev.tandem.store;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.stats.ConcurrentStatsCounter;
import com.github.benmanes.caffeine.cache.stats.StatsCounter;
import java.util.ArrayList;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The two record caches of the store, in front of RocksDB. Both are filled only after RocksDB
 * accepted the write (or returned the record), under the key's stripe, and neither ever holds
 * absence: a miss only means a RocksDB read.
 *
 * <ul>
 *   <li>{@link #terminal}: COMPLETED and DEAD_LETTERED records, size-bounded ({@code
 *       cacheMaxEntries}), answering the "already done?" reads; updated when a terminal record grows
 *       through a remote apply, invalidated when a re-drive makes a dead letter non-terminal.
 *   <li>{@code recent}: the non-terminal records this process last wrote or read, with their
 *       bucket, so the write that follows (a complete after its claim, a release, a renew) merges
 *       into the record in hand instead of reading and decoding it again. Invariant: an entry equals
 *       what RocksDB holds for the key; removed when the record turns terminal (the terminal cache
 *       takes over).
 * </ul>
 *
 * Both are cleared wherever RocksDB loses records behind the store's back (bucket drops, shard
 * drops, close).
 *
 * <p>Shapes chosen for the hot path (issue 20, the cache-hit check against {@code
 * ConcurrentHashMap.get}):
 *
 * <ul>
 *   <li>The terminal cache is keyed by the id alone (a {@code String}, whose hash is cached), so a
 *       look-up needs no key object: the value is the record, whose shard is compared, or — for the
 *       rare id held in several shards — an {@code IdRecord[]} of them. Caffeine features: the size
 *       bound and the statistics (the {@code cache.*} meters and {@link StoreStats} publish them),
 *       nothing else (no expiry: the TTL clears the cache with the buckets, {@link TtlMaintenance}).
 *       Its size counts ids, which is the records held except for ids held in several shards.
 *   <li>{@code recent} is a fixed array of {@value #RECENT_SLOTS} slots, the slot chosen by the key's
 *       hash; a put overwrites whatever the slot held (another key's entry, which then costs that key
 *       one RocksDB read). A put or a read allocates nothing, unlike a Caffeine put (node and
 *       write-buffer task per claim and again per complete). The invariant above holds per key:
 *       an entry of a key is only written, read or removed under that key's stripe, and a removal
 *       compares and sets, so it never removes another key's entry by mistake (and if it did, that
 *       would only cost a read).
 * </ul>
 */
final class RecordCaches {

  /**
   * Slots of {@code recent}: enough for every claim in flight of a busy consumer (claimAll batches of
   * a few hundred, several partitions); an overwritten entry only costs a RocksDB read.
   */
  static final int RECENT_SLOTS = 8192;

  /** id → terminal {@link IdRecord}, or {@code IdRecord[]} when several shards hold the id. */
  final Cache<String, Object> terminal;
  /**
   * The terminal cache's hit and miss counts, kept by {@link #terminal(int, String)} itself: a look-up
   * that finds the id under another shard is a miss of the store, while Caffeine would count it a
   * hit. {@code terminal.stats()} reads this counter (evictions are still counted by Caffeine).
   */
  private final StatsCounter stats = new ConcurrentStatsCounter();
  private final AtomicReferenceArray<RocksEngine.Stored> recent =
      new AtomicReferenceArray<>(RECENT_SLOTS);

  RecordCaches(long terminalMaxEntries) {
    this.terminal =
        Caffeine.newBuilder().maximumSize(terminalMaxEntries).recordStats(() -> stats).build();
  }

  // ---- terminal

  /** The cached terminal record of (shard, id), or null. Allocates nothing. */
  IdRecord terminal(int shard, String id) {
    // asMap().get: a read the eviction policy learns from, without Caffeine's own hit/miss count
    IdRecord r = ofShard(terminal.asMap().get(id), shard);
    if (r != null) {
      stats.recordHits(1);
    } else {
      stats.recordMisses(1);
    }
    return r;
  }

  private static IdRecord ofShard(Object v, int shard) {
    if (v instanceof IdRecord r) {
      return r.shard() == shard ? r : null;
    }
    if (v != null) {
      for (IdRecord r : (IdRecord[]) v) {
        if (r.shard() == shard) {
          return r;
        }
      }
    }
    return null;
  }

  /** Puts a terminal record (replacing the cached one of its shard). Caller holds its stripe. */
  void putTerminal(IdRecord record) {
    if (terminal.asMap().putIfAbsent(record.id(), record) != null) {
      terminal.asMap().compute(record.id(), (id, old) -> with(old, record));
    }
  }

  /** Removes the cached record of (shard, id), if any. Caller holds its stripe. */
  void invalidateTerminal(int shard, String id) {
    // a quiet look first: a claim (the common non-terminal write) finds nothing to remove, and a
    // Caffeine remove would cost more than this read
    Object v = terminal.policy().getIfPresentQuietly(id);
    if (v != null && holds(v, shard)) {
      terminal.asMap().computeIfPresent(id, (k, old) -> without(old, shard));
    }
  }

  private static boolean holds(Object v, int shard) {
    if (v instanceof IdRecord r) {
      return r.shard() == shard;
    }
    for (IdRecord r : (IdRecord[]) v) {
      if (r.shard() == shard) {
        return true;
      }
    }
    return false;
  }

  private static Object with(Object old, IdRecord record) {
    if (old == null) {
      return record;
    }
    IdRecord[] all = old instanceof IdRecord r ? new IdRecord[] {r} : (IdRecord[]) old;
    for (int i = 0; i < all.length; i++) {
      if (all[i].shard() == record.shard()) {
        if (all.length == 1) {
          return record;
        }
        IdRecord[] copy = all.clone();
        copy[i] = record;
        return copy;
      }
    }
    IdRecord[] grown = java.util.Arrays.copyOf(all, all.length + 1);
    grown[all.length] = record;
    return grown;
  }

  private static Object without(Object old, int shard) {
    if (old instanceof IdRecord r) {
      return r.shard() == shard ? null : r;
    }
    IdRecord[] all = (IdRecord[]) old;
    ArrayList<IdRecord> kept = new ArrayList<>(all.length);
    for (IdRecord r : all) {
      if (r.shard() != shard) {
        kept.add(r);
      }
    }
    if (kept.isEmpty()) {
      return null;
    }
    return kept.size() == 1 ? kept.get(0) : kept.toArray(new IdRecord[0]);
  }

  // ---- recent

  private static int slot(int shard, String id) {
    int h = 31 * shard + id.hashCode(); // RecordKey's hash, without the key object
    h ^= (h >>> 16);
    return h & (RECENT_SLOTS - 1);
  }

  private static boolean isOf(RocksEngine.Stored s, int shard, String id) {
    return s.record().shard() == shard && s.record().id().equals(id);
  }

  /** The recent entry of {@code key}, or null. Caller holds the key's stripe. */
  RocksEngine.Stored recent(RecordKey key) {
    RocksEngine.Stored s = recent.get(slot(key.shard(), key.id()));
    return s != null && isOf(s, key.shard(), key.id()) ? s : null;
  }

  /** Forgets the recent entry of {@code key}, if the slot holds it. Caller holds the stripe. */
  void invalidateRecent(RecordKey key) {
    int i = slot(key.shard(), key.id());
    RocksEngine.Stored s = recent.get(i);
    if (s != null && isOf(s, key.shard(), key.id())) {
      recent.compareAndSet(i, s, null); // another key's newer entry stays
    }
  }

  private void putRecent(RecordKey key, RocksEngine.Stored s) {
    recent.set(slot(key.shard(), key.id()), s);
  }

  // ---- both

  /** RocksDB accepted {@code now} for {@code key}: the cache of its kind holds it, the other not. */
  void accepted(RecordKey key, RocksEngine.Stored now) {
    if (now.record().isTerminal()) {
      putTerminal(now.record());
      invalidateRecent(key);
    } else {
      invalidateTerminal(key.shard(), key.id()); // a re-drive makes a dead letter non-terminal
      putRecent(key, now);
    }
  }

  /** A record read from RocksDB under its stripe: a non-terminal one is kept in {@code recent}. */
  void read(RecordKey key, RocksEngine.Stored s) {
    if (!s.record().isTerminal()) {
      putRecent(key, s);
    }
  }

  /** Under the engine write lock (no operation in flight). */
  void dropShard(int shard) {
    for (String id : new ArrayList<>(terminal.asMap().keySet())) {
      terminal.asMap().computeIfPresent(id, (k, old) -> without(old, shard));
    }
    for (int i = 0; i < RECENT_SLOTS; i++) {
      RocksEngine.Stored s = recent.get(i);
      if (s != null && s.record().shard() == shard) {
        recent.set(i, null);
      }
    }
  }

  /** Under the engine write lock (no operation in flight). */
  void clear() {
    terminal.invalidateAll();
    for (int i = 0; i < RECENT_SLOTS; i++) {
      recent.set(i, null);
    }
  }
}
