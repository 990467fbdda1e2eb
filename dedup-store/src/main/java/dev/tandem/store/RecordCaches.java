package dev.tandem.store;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
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
 * <p>The terminal cache is not a general-purpose cache (issue 20: its hit is the check {@code
 * StoreBenchmark.tandemCheckHit} measures against a bare {@code ConcurrentHashMap.get}). A terminal
 * record never turns back (but for a re-drive, which invalidates it), and a duplicate arrives soon
 * after its original, so recency or frequency bookkeeping on every read (what Caffeine's W-TinyLFU
 * does: a read-buffer CAS, the node's access-order reads, the drain) buys little here. Its shape:
 *
 * <ul>
 *   <li>One {@code ConcurrentHashMap<String, IdRecord>} per shard (an array indexed by the shard,
 *       copied on growth and published by a volatile write), keyed by the id alone: a hit is an
 *       array load and a map {@code get}, no key object, and the record itself is not read to
 *       compare its shard. Shards at or above {@value #CACHED_SHARDS} are not cached (their reads go
 *       to RocksDB; a Kafka topic has far fewer partitions).
 *   <li>Eviction in insertion order, oldest first, by a ring of the (shard, id) inserted, under the
 *       cache's monitor (writes only; reads take no lock). The bound is exact: every cached entry
 *       has a ring slot, and a put of a new entry into a full ring first evicts the oldest slot's
 *       entry, so the entries never exceed {@code cacheMaxEntries}. A replacement (a record grown
 *       by a remote apply) keeps its slot. An entry removed before its slot comes up (a re-drive,
 *       then its new completion) leaves a stale slot: when that slot comes up it evicts the entry
 *       early (one RocksDB read later, never a wrong answer), and until then the cache holds one
 *       entry fewer than the bound. A shard drop compacts the ring.
 *   <li>Hit and miss counts per thread ({@link PerThreadCounts}): a plain store into the thread's
 *       own cell, no CAS and no cache line shared by two checking threads; puts, evictions and the
 *       size are counted under the monitor. The {@code cache.*} meters read them ({@link
 *       StoreMetrics#cache}).
 *   <li>Trade-off: a hot id inserted long ago is evicted before a cold id inserted later (Caffeine
 *       would keep the hot one). For duplicate detection the order of arrival is the order of
 *       need; a miss costs one RocksDB read and refills the entry.
 *   <li>{@code recent} is a fixed array of {@value #RECENT_SLOTS} slots, the slot chosen by the key's
 *       hash; a put overwrites whatever the slot held (another key's entry, which then costs that key
 *       one RocksDB read). A put or a read allocates nothing. The invariant above holds per key:
 *       an entry of a key is only written, read or removed under that key's stripe, and a removal
 *       compares and sets, so it never removes another key's entry by mistake (and if it did, that
 *       would only cost a read).
 * </ul>
 *
 * Memory per cached record beside the record itself: the map node (32 B), its share of the map's
 * table (4 to 8 B) and a ring slot (8 B); the ring grows by doubling up to the bound. A put of a new
 * record allocates its map node only (and now and then a larger table or ring).
 */
final class RecordCaches {

  /**
   * Slots of {@code recent}: enough for every claim in flight of a busy consumer (claimAll batches of
   * a few hundred, several partitions); an overwritten entry only costs a RocksDB read.
   */
  static final int RECENT_SLOTS = 8192;
  /** Shards at or above this are not cached: the terminal cache's table is indexed by shard. */
  static final int CACHED_SHARDS = 1 << 16;
  /** The largest bound the terminal cache takes (a larger {@code cacheMaxEntries} is clamped). */
  static final int MAX_ENTRIES = 1 << 30;
  private static final int FIRST_RING = 1024;

  /** A snapshot of the terminal cache's figures. */
  record Figures(long size, long hits, long misses, long puts, long evictions) {
    /** hits / look-ups, 1.0 when there was none (Caffeine's convention, kept for the meter). */
    double hitRate() {
      long n = hits + misses;
      return n == 0 ? 1.0 : (double) hits / n;
    }
  }

  private final int maxEntries;
  /** shard → (id → terminal record); never written in place: copied, filled, published. */
  private volatile ConcurrentHashMap<String, IdRecord>[] byShard = noShards();
  // the insertion ring, guarded by this: the (shard, id) of each put of a new entry, oldest first
  private String[] ringIds;
  private int[] ringShards;
  private int ringHead;
  private int ringCount;
  // written under this, read anywhere
  private volatile long size;
  private volatile long puts;
  private volatile long evictions;
  private final PerThreadCounts lookups = new PerThreadCounts();
  private final AtomicReferenceArray<RocksEngine.Stored> recent =
      new AtomicReferenceArray<>(RECENT_SLOTS);

  RecordCaches(long terminalMaxEntries) {
    if (terminalMaxEntries < 0) {
      throw new IllegalArgumentException("cacheMaxEntries must be >= 0, got " + terminalMaxEntries);
    }
    this.maxEntries = (int) Math.min(terminalMaxEntries, MAX_ENTRIES);
    newRing();
  }

  @SuppressWarnings("unchecked")
  private static ConcurrentHashMap<String, IdRecord>[] noShards() {
    return new ConcurrentHashMap[0];
  }

  private void newRing() {
    int n = Math.min(maxEntries, FIRST_RING);
    ringIds = new String[n];
    ringShards = new int[n];
    ringHead = 0;
    ringCount = 0;
  }

  // ---- terminal

  /** The cached terminal record of (shard, id), or null; counted a hit or a miss. Allocates nothing. */
  IdRecord terminal(int shard, String id) {
    IdRecord r = peek(shard, id);
    if (r != null) {
      lookups.hit();
    } else {
      lookups.miss();
    }
    return r;
  }

  /** The cached record without counting. */
  private IdRecord peek(int shard, String id) {
    ConcurrentHashMap<String, IdRecord>[] maps = byShard;
    if (shard < 0 || shard >= maps.length) {
      return null;
    }
    ConcurrentHashMap<String, IdRecord> m = maps[shard];
    return m == null ? null : m.get(id);
  }

  /** Puts a terminal record (replacing the cached one of its key). Caller holds its stripe. */
  void putTerminal(IdRecord record) {
    int shard = record.shard();
    if (maxEntries == 0 || shard >= CACHED_SHARDS) {
      return;
    }
    synchronized (this) {
      ConcurrentHashMap<String, IdRecord> m = mapOf(shard);
      puts++;
      if (m.replace(record.id(), record) != null) {
        return; // a replacement keeps its place in the ring
      }
      if (ringCount == maxEntries) {
        evictOldest(); // first, so the new entry cannot be its own victim
      }
      m.put(record.id(), record);
      size++;
      append(record.id(), shard);
    }
  }

  /** Removes the cached record of (shard, id), if any. Caller holds its stripe. */
  void invalidateTerminal(int shard, String id) {
    // a look first, without the monitor: a claim (the common non-terminal write) finds nothing
    if (peek(shard, id) == null) {
      return;
    }
    synchronized (this) {
      // peek found it, but without the monitor: a clear() in between (today kept out by the engine
      // lock every caller holds) leaves a shorter array, so look within its bounds
      ConcurrentHashMap<String, IdRecord>[] maps = byShard;
      ConcurrentHashMap<String, IdRecord> m = shard < maps.length ? maps[shard] : null;
      if (m != null && m.remove(id) != null) {
        size--; // its ring slot stays (see the class comment)
      }
    }
  }

  /** The shard's map, made if absent. Under this. */
  private ConcurrentHashMap<String, IdRecord> mapOf(int shard) {
    ConcurrentHashMap<String, IdRecord>[] maps = byShard;
    ConcurrentHashMap<String, IdRecord> m = shard < maps.length ? maps[shard] : null;
    if (m == null) {
      int n = Math.max(maps.length, Math.max(8, Integer.highestOneBit(shard) << 1));
      ConcurrentHashMap<String, IdRecord>[] grown = Arrays.copyOf(maps, n);
      m = new ConcurrentHashMap<>();
      grown[shard] = m;
      byShard = grown; // published whole: a reader sees the array filled
    }
    return m;
  }

  /** Pops the oldest ring slot and evicts its entry if cached. Under this; the ring is not empty. */
  private void evictOldest() {
    String id = ringIds[ringHead];
    int shard = ringShards[ringHead];
    ringIds[ringHead] = null;
    ringHead = ringHead + 1 == ringIds.length ? 0 : ringHead + 1;
    ringCount--;
    ConcurrentHashMap<String, IdRecord>[] maps = byShard;
    ConcurrentHashMap<String, IdRecord> m = shard < maps.length ? maps[shard] : null;
    if (m != null && m.remove(id) != null) {
      size--;
      evictions++;
    }
  }

  /** Appends a slot. Under this; the ring holds fewer than maxEntries slots. */
  private void append(String id, int shard) {
    if (ringCount == ringIds.length) {
      int n = (int) Math.min(2L * ringIds.length, maxEntries);
      String[] ids = new String[n];
      int[] shards = new int[n];
      for (int i = 0; i < ringCount; i++) {
        int j = (ringHead + i) % ringIds.length;
        ids[i] = ringIds[j];
        shards[i] = ringShards[j];
      }
      ringIds = ids;
      ringShards = shards;
      ringHead = 0;
    }
    int tail = ringHead + ringCount;
    if (tail >= ringIds.length) {
      tail -= ringIds.length;
    }
    ringIds[tail] = id;
    ringShards[tail] = shard;
    ringCount++;
  }

  /** The terminal cache's size, counts and hit rate. */
  Figures figures() {
    long[] hm = lookups.totals();
    return new Figures(size, hm[0], hm[1], puts, evictions);
  }

  /** Per-thread count cells held; for tests. */
  int countCells() {
    return lookups.cellCount();
  }

  /** Ring slots in use (entries plus stale slots); for tests. */
  synchronized int ringSlots() {
    return ringCount;
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
    synchronized (this) {
      ConcurrentHashMap<String, IdRecord>[] maps = byShard;
      if (shard >= 0 && shard < maps.length && maps[shard] != null) {
        ConcurrentHashMap<String, IdRecord>[] copy = maps.clone();
        copy[shard] = null;
        byShard = copy;
        size -= maps[shard].size();
        // the shard's slots go too, so the ring holds no stale slot of it
        int kept = 0;
        String[] ids = new String[ringIds.length];
        int[] shards = new int[ringIds.length];
        for (int i = 0; i < ringCount; i++) {
          int j = (ringHead + i) % ringIds.length;
          if (ringShards[j] != shard) {
            ids[kept] = ringIds[j];
            shards[kept++] = ringShards[j];
          }
        }
        ringIds = ids;
        ringShards = shards;
        ringHead = 0;
        ringCount = kept;
      }
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
    synchronized (this) {
      byShard = noShards();
      size = 0;
      newRing(); // the memory of a large ring goes too
    }
    for (int i = 0; i < RECENT_SLOTS; i++) {
      recent.set(i, null);
    }
  }
}
