package dev.tandem.store;

import dev.tandem.store.internal.EngineOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.Snapshot;
import org.rocksdb.Statistics;
import org.rocksdb.UInt64AddOperator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * The RocksDB side of the store: opening and recognising a directory, the column families, reads,
 * batched writes, and TTL buckets. No record logic lives here. (Why over 500 lines: it is the one
 * class that holds native RocksDB handles — options, column families, their opening, migration and
 * closing order — which must be created and released together; the TTL policy is {@link
 * dev.tandem.store.internal.TtlBuckets}, the record rules are elsewhere.)
 *
 * <p>Column families:
 *
 * <ul>
 *   <li>{@code default} — metadata: the format marker (written at creation, so our own stores are
 *       recognised and anything else is refused), the bucket width, the detected-duplicate counts
 *       per (bucket, shard) ({@code uint64add} merge operands, so concurrent batches add up), and the
 *       changelog checkpoints ({@code cp/<name>} → next offset).
 *   <li>{@code leases} — one shard lease per shard, key = shard (4 bytes big-endian).
 *   <li>{@code records-<startMillis>} — the TTL buckets: records whose latest write fell in
 *       {@code [start, start + width)}. A bucket is dropped whole once {@code start + width + ttl <=
 *       now}: every record in it is older than the TTL. Invariant: a key lives in at most one bucket
 *       (a record moving to a newer bucket is deleted from the old one in the same WriteBatch);
 *       readers still look newest first.
 * </ul>
 *
 * <p>Thread-safety: RocksDB calls are thread-safe; the bucket map is changed only by {@link
 * #createBucket} and {@link #dropBucket}, which the store calls under its exclusive engine lock.
 */
final class RocksEngine implements AutoCloseable {

  static final String FORMAT = "dev.tandem.store/1";
  static final byte[] KEY_FORMAT = utf8("tandem/format");
  static final byte[] KEY_BUCKET_WIDTH = utf8("tandem/bucket-width-millis");
  static final byte[] KEY_DETECTED_DUPLICATES = utf8("tandem/detected-duplicates");
  static final String CHECKPOINT_PREFIX = "cp/";
  /**
   * Detected-duplicate counts per (bucket, shard): {@code detected/<bucket start><shard>} → uint64
   * (merge operands, so concurrent batches add up; a record moving to a newer bucket adds -1 to the
   * old entry). A shard drop deletes the shard's entries with its records, a bucket drop the
   * bucket's: the count is always that of the records the store holds.
   */
  static final String DETECTED_PREFIX = "detected/";
  static final String LEASES_CF = "leases";
  static final String BUCKET_PREFIX = "records-";

  static {
    RocksDB.loadLibrary();
  }

  final Path directory;
  private final List<AutoCloseable> resources = new ArrayList<>();
  private final ColumnFamilyOptions bucketOptions;
  private final RocksDB db;
  private final ColumnFamilyHandle meta;
  private final ColumnFamilyHandle leases;
  private final WriteOptions writeOptions;
  /** Live buckets by start millis; iterated newest first for reads. */
  private final ConcurrentSkipListMap<Long, ColumnFamilyHandle> buckets =
      new ConcurrentSkipListMap<>();
  /**
   * The live buckets newest first, as an array replaced whenever {@link #buckets} changes (under
   * this object's monitor): the point reads and the writes' bucket look-ups walk it without the
   * skip list's entry and iterator objects or a boxed key (issue 20: a fresh id's claim reads every
   * live bucket, usually one).
   */
  private volatile Bucket[] newestFirst = new Bucket[0];

  /** A live bucket: its start millis and column family. */
  private record Bucket(long start, ColumnFamilyHandle cf) {}

  private void snapshotBuckets() {
    Bucket[] a = new Bucket[buckets.size()];
    int i = 0;
    for (Map.Entry<Long, ColumnFamilyHandle> e : buckets.descendingMap().entrySet()) {
      if (i == a.length) {
        break;
      }
      a[i++] = new Bucket(e.getKey(), e.getValue());
    }
    newestFirst = i == a.length ? a : java.util.Arrays.copyOf(a, i);
  }
  final long bucketWidthMillis;

  private RocksEngine(Path directory, boolean sync, long wantedBucketWidthMillis,
      Statistics statistics) {
    this.directory = directory;
    boolean fresh = prepareDirectory(directory);
    List<String> existing = fresh ? List.of() : listColumnFamilies(directory);
    if (!fresh && !existing.contains(LEASES_CF)) {
      // every store has had its leases family since creation; without it this is someone else's
      // database, and opening it (which would add the family) must not touch it
      throw new StoreException(
          "the directory " + directory + " holds a RocksDB database that is not a Tandem store"
              + " (column families " + existing + "), or a Tandem store whose files are damaged;"
              + " refusing to open it. If it is a damaged Tandem store, delete the directory: the"
              + " store is a replica and is restored from the changelog.");
    }
    for (String cf : existing) {
      if (!cf.equals("default") && !cf.equals(LEASES_CF) && parseBucket(cf) < 0) {
        throw new StoreException(
            "the directory " + directory + " holds a RocksDB database that is not a Tandem store"
                + " (unknown column family '" + cf + "'); refusing to open it. Point the store at"
                + " its own directory; a store is restored from the changelog into an empty one.");
      }
    }
    try {
      DBOptions dbOptions = track(EngineOptions.dbOptions(fresh));
      if (statistics != null) {
        dbOptions.setStatistics(statistics); // the caller's: it outlives this engine
      }
      ColumnFamilyOptions metaOptions =
          track(new ColumnFamilyOptions().setMergeOperator(track(new UInt64AddOperator())));
      ColumnFamilyOptions leaseOptions = track(new ColumnFamilyOptions());
      // the TTL buckets' options, why each is set: EngineOptions (the bloom filters, the memtable's
      // insert position per shard)
      List<AutoCloseable> owned = new ArrayList<>();
      try {
        bucketOptions = track(EngineOptions.bucketOptions(true, owned));
      } finally {
        resources.addAll(0, owned); // closed after the options (in reverse order of the list)
      }

      List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
      descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, metaOptions));
      descriptors.add(new ColumnFamilyDescriptor(utf8(LEASES_CF), leaseOptions));
      List<Long> bucketStarts = new ArrayList<>();
      for (String cf : existing) {
        long start = parseBucket(cf);
        if (start >= 0) {
          descriptors.add(new ColumnFamilyDescriptor(utf8(cf), bucketOptions));
          bucketStarts.add(start);
        }
      }
      List<ColumnFamilyHandle> handles = new ArrayList<>();
      db = RocksDB.open(dbOptions, directory.toString(), descriptors, handles);
      meta = handles.get(0);
      leases = handles.get(1);
      for (int i = 0; i < bucketStarts.size(); i++) {
        buckets.put(bucketStarts.get(i), handles.get(2 + i));
      }
      snapshotBuckets();
      writeOptions = track(new WriteOptions().setSync(sync));
      bucketWidthMillis = checkOrWriteMarker(fresh, wantedBucketWidthMillis);
    } catch (RocksDBException e) {
      closeQuietly();
      throw new StoreException(
          "cannot open the store at " + directory + ": " + e.getMessage() + ". If the directory is"
              + " corrupt, delete it: the store is a replica and is restored from the changelog.",
          e);
    } catch (RuntimeException e) {
      closeQuietly();
      throw e;
    }
  }

  /** Opens or creates the store in {@code directory}. */
  static RocksEngine open(Path directory, boolean sync, long wantedBucketWidthMillis) {
    return new RocksEngine(directory, sync, wantedBucketWidthMillis, null);
  }

  /**
   * {@link #open(Path, boolean, long)} collecting RocksDB's counters into {@code statistics} (null:
   * none). For tests that count what a store operation writes; the caller closes it after the engine.
   */
  static RocksEngine open(Path directory, boolean sync, long wantedBucketWidthMillis,
      Statistics statistics) {
    return new RocksEngine(directory, sync, wantedBucketWidthMillis, statistics);
  }

  /** True if the directory is absent or empty (a new store); refuses a non-store directory. */
  private static boolean prepareDirectory(Path directory) {
    try {
      if (Files.exists(directory) && !Files.isDirectory(directory)) {
        throw new StoreException("the store path " + directory + " is a file, not a directory");
      }
      Files.createDirectories(directory);
      try (Stream<Path> entries = Files.list(directory)) {
        if (entries.findAny().isEmpty()) {
          return true;
        }
      }
      if (!Files.isRegularFile(directory.resolve("CURRENT"))) {
        throw new StoreException(
            "the directory " + directory + " is not empty and holds no RocksDB database (no CURRENT"
                + " file): it is not a Tandem store; refusing to open it so nothing is lost or"
                + " shadowed. Use an empty or absent directory.");
      }
      return false;
    } catch (IOException e) {
      throw new StoreException("cannot use the store directory " + directory + ": " + e, e);
    }
  }

  private static List<String> listColumnFamilies(Path directory) {
    try (Options options = new Options()) {
      List<String> names = new ArrayList<>();
      for (byte[] n : RocksDB.listColumnFamilies(options, directory.toString())) {
        names.add(new String(n, StandardCharsets.UTF_8));
      }
      return names;
    } catch (RocksDBException e) {
      throw new StoreException(
          "cannot read the store at " + directory + " (" + e.getMessage() + "): it is corrupt or"
              + " not a RocksDB database. If it is a Tandem store, delete the directory: the store"
              + " is a replica and is restored from the changelog.",
          e);
    }
  }

  private long checkOrWriteMarker(boolean fresh, long wantedWidth) throws RocksDBException {
    byte[] format = db.get(meta, KEY_FORMAT);
    if (format == null) {
      if (!fresh && !isEmpty()) {
        throw new StoreException(
            "the directory " + directory + " holds a RocksDB database without the Tandem format"
                + " marker: it is not a Tandem store; refusing to open it.");
      }
      // a new store, or one killed before its marker was written (empty: nothing to lose)
      try (WriteBatch batch = new WriteBatch(); WriteOptions synced = new WriteOptions()) {
        batch.put(meta, KEY_FORMAT, utf8(FORMAT));
        batch.put(meta, KEY_BUCKET_WIDTH, longBytes(wantedWidth));
        db.write(synced.setSync(true), batch);
      }
      return wantedWidth;
    }
    String found = new String(format, StandardCharsets.UTF_8);
    if (!FORMAT.equals(found)) {
      throw new StoreException(
          "the store at " + directory + " has format '" + found + "'; this version reads '"
              + FORMAT + "'");
    }
    byte[] width = db.get(meta, KEY_BUCKET_WIDTH);
    if (width == null || width.length != 8) {
      throw new StoreException("the store at " + directory + " lacks its bucket width: corrupt");
    }
    // the width is fixed at creation: bucket names mean [start, start + width)
    return ByteBuffer.wrap(width).getLong();
  }

  private boolean isEmpty() {
    List<ColumnFamilyHandle> all = new ArrayList<>(buckets.values());
    all.add(meta);
    all.add(leases);
    for (ColumnFamilyHandle cf : all) {
      try (RocksIterator it = db.newIterator(cf)) {
        it.seekToFirst();
        if (it.isValid()) {
          return false;
        }
      }
    }
    return true;
  }

  // ---- buckets ----

  long bucketStartOf(long wallMillis) {
    return Math.floorDiv(wallMillis, bucketWidthMillis) * bucketWidthMillis;
  }

  /** Live buckets, newest first. */
  NavigableMap<Long, ColumnFamilyHandle> bucketsNewestFirst() {
    return buckets.descendingMap();
  }

  /** The bucket starting at {@code start}, or null. Allocates nothing (no boxed key). */
  ColumnFamilyHandle bucket(long start) {
    for (Bucket b : newestFirst) {
      if (b.start == start) {
        return b.cf;
      }
    }
    return null;
  }

  int bucketCount() {
    return buckets.size();
  }

  /**
   * Bucket {@code start}, created if absent. Safe under the store's shared lock (creation is
   * serialised here; only drops need the exclusive lock, since readers may hold a handle).
   */
  synchronized ColumnFamilyHandle createBucket(long start) {
    ColumnFamilyHandle existing = buckets.get(start);
    if (existing != null) {
      return existing;
    }
    try {
      ColumnFamilyHandle h =
          db.createColumnFamily(new ColumnFamilyDescriptor(utf8(BUCKET_PREFIX + start), bucketOptions));
      buckets.put(start, h);
      snapshotBuckets();
      return h;
    } catch (RocksDBException e) {
      throw failure("create TTL bucket " + start, e);
    }
  }

  /** Drops bucket {@code start} whole. Caller holds the engine's exclusive lock. */
  synchronized void dropBucket(long start) {
    ColumnFamilyHandle h = buckets.remove(start);
    if (h == null) {
      return;
    }
    snapshotBuckets();
    try {
      db.dropColumnFamily(h);
    } catch (RocksDBException e) {
      buckets.put(start, h);
      snapshotBuckets();
      throw failure("drop TTL bucket " + start, e);
    } finally {
      if (!buckets.containsKey(start)) {
        h.close();
      }
    }
  }

  // ---- reads ----

  /** A stored record and the bucket it lives in. */
  record Stored(IdRecord record, long bucketStart) {}

  /** The record under {@code key}, looking in the live buckets newest first; null if absent. */
  Stored get(byte[] key) {
    try {
      for (Bucket b : newestFirst) {
        byte[] v = db.get(b.cf, key);
        if (v != null) {
          return new Stored(decode(v, key), b.start);
        }
      }
      return null;
    } catch (RocksDBException e) {
      throw failure("read", e);
    }
  }

  /**
   * The records under the first {@code n} of {@code keys} (index for index; null where absent),
   * read with one RocksDB {@code multiGet} per live bucket, newest first: each round asks only for
   * the keys no newer bucket held (a key lives in at most one bucket, so the first hit is the record).
   */
  Stored[] getAll(byte[][] keys, int n) {
    Stored[] out = new Stored[n];
    // pending: the indexes still unanswered, compacted in place after each round; null in the first
    // round (every index). Arrays, not lists of boxed indexes (issue 20: the interceptor's poll
    // reads hundreds of fresh ids here, and an Integer above 127 is an object each)
    int[] pending = null;
    int left = n;
    try {
      for (Bucket b : newestFirst) {
        if (left == 0) {
          break;
        }
        byte[][] ask;
        if (pending == null) {
          ask = keys;
        } else {
          ask = new byte[left][];
          for (int j = 0; j < left; j++) {
            ask[j] = keys[pending[j]];
          }
        }
        List<byte[]> askList = ask.length == left
            ? java.util.Arrays.asList(ask) : java.util.Arrays.asList(ask).subList(0, left);
        List<byte[]> values =
            db.multiGetAsList(java.util.Collections.nCopies(left, b.cf), askList);
        int[] next = pending;
        int still = 0;
        for (int j = 0; j < left; j++) {
          int i = pending == null ? j : pending[j];
          byte[] v = values.get(j);
          if (v == null) {
            if (next == null) {
              next = new int[left - j];
            }
            next[still++] = i; // still <= j: compacting pending in place is safe
          } else {
            out[i] = new Stored(decode(v, keys[i]), b.start);
          }
        }
        pending = next;
        left = still;
      }
      return out;
    } catch (RocksDBException e) {
      throw failure("read", e);
    }
  }

  private IdRecord decode(byte[] value, byte[] key) {
    try {
      return RecordCodec.decodeRecord(value);
    } catch (CorruptRecordException e) {
      throw new StoreException(
          "the store at " + directory + " holds a corrupt record under key "
              + java.util.HexFormat.of().formatHex(key) + ": " + e.getMessage() + ". Delete the"
              + " directory to restore the store from the changelog.",
          e);
    }
  }

  /** Every lease. */
  List<ShardLease> readLeases() {
    List<ShardLease> out = new ArrayList<>();
    try (RocksIterator it = db.newIterator(leases)) {
      for (it.seekToFirst(); it.isValid(); it.next()) {
        out.add(RecordCodec.decodeLease(it.value()));
      }
      it.status();
    } catch (RocksDBException e) {
      throw failure("read leases", e);
    } catch (CorruptRecordException e) {
      throw new StoreException("the store at " + directory + " holds a corrupt lease: "
          + e.getMessage() + ". Delete the directory to restore it from the changelog.", e);
    }
    return out;
  }

  Map<String, Long> readCheckpoints() {
    Map<String, Long> out = new HashMap<>();
    byte[] prefix = utf8(CHECKPOINT_PREFIX);
    try (RocksIterator it = db.newIterator(meta)) {
      for (it.seek(prefix); it.isValid(); it.next()) {
        byte[] k = it.key();
        if (!startsWith(k, prefix)) {
          break;
        }
        String name = new String(k, prefix.length, k.length - prefix.length, StandardCharsets.UTF_8);
        out.put(name, ByteBuffer.wrap(it.value()).getLong());
      }
      it.status();
    } catch (RocksDBException e) {
      throw failure("read checkpoints", e);
    }
    return out;
  }

  /**
   * The persisted detected-duplicate counts: (bucket start, shard) → how many records of that shard
   * in that bucket have completers from two regions. Entries of buckets that no longer exist (a
   * crash between a bucket drop and the deletion of its counts) are left out.
   */
  Map<Long, Map<Integer, Long>> readDetectedCounts() {
    Map<Long, Map<Integer, Long>> out = new HashMap<>();
    byte[] prefix = utf8(DETECTED_PREFIX);
    try (RocksIterator it = db.newIterator(meta)) {
      for (it.seek(prefix); it.isValid(); it.next()) {
        byte[] k = it.key();
        if (!startsWith(k, prefix)) {
          break;
        }
        ByteBuffer b = ByteBuffer.wrap(k, prefix.length, k.length - prefix.length);
        long bucket = b.getLong();
        int shard = b.getInt();
        long n = ByteBuffer.wrap(it.value()).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (buckets.containsKey(bucket) && n > 0) {
          out.computeIfAbsent(bucket, x -> new HashMap<>()).put(shard, n);
        }
      }
      it.status();
    } catch (RocksDBException e) {
      throw failure("read the detected-duplicate counts", e);
    }
    return out;
  }

  /**
   * Counts, by reading every record once, the detected duplicates per (bucket, shard): the migration
   * of a store written by a version that kept one counter for all time.
   */
  Map<Long, Map<Integer, Long>> countDetectedInRecords() {
    Map<Long, Map<Integer, Long>> out = new HashMap<>();
    for (Map.Entry<Long, ColumnFamilyHandle> b : buckets.entrySet()) {
      try (RocksIterator it = db.newIterator(b.getValue())) {
        for (it.seekToFirst(); it.isValid(); it.next()) {
          IdRecord r = decode(it.value(), it.key());
          if (r.isDetectedDuplicate()) {
            out.computeIfAbsent(b.getKey(), x -> new HashMap<>()).merge(r.shard(), 1L, Long::sum);
          }
        }
        it.status();
      } catch (RocksDBException e) {
        throw failure("count the detected duplicates", e);
      }
    }
    return out;
  }

  /** Replaces the legacy all-time counter by {@code counts} (one synced batch). */
  void migrateDetectedCounts(Map<Long, Map<Integer, Long>> counts) {
    try (WriteBatch wb = new WriteBatch(); WriteOptions synced = new WriteOptions().setSync(true)) {
      for (Map.Entry<Long, Map<Integer, Long>> b : counts.entrySet()) {
        for (Map.Entry<Integer, Long> e : b.getValue().entrySet()) {
          wb.put(meta, detectedCountKey(b.getKey(), e.getKey()), uint64Operand(e.getValue()));
        }
      }
      wb.delete(meta, KEY_DETECTED_DUPLICATES);
      db.write(synced, wb);
    } catch (RocksDBException e) {
      throw failure("migrate the detected-duplicates counter", e);
    }
  }

  /** Whether the store still holds the all-time counter of an earlier version. */
  boolean hasLegacyDetectedCounter() {
    try {
      return db.get(meta, KEY_DETECTED_DUPLICATES) != null;
    } catch (RocksDBException e) {
      throw failure("read the detected-duplicates counter", e);
    }
  }

  /** Meta key of the detected-duplicate count of (bucket, shard): prefix, 8-byte start, 4-byte shard. */
  static byte[] detectedCountKey(long bucket, int shard) {
    byte[] prefix = utf8(DETECTED_PREFIX);
    return ByteBuffer.allocate(prefix.length + 12).put(prefix).putLong(bucket).putInt(shard).array();
  }



  /**
   * Visits every record in {@code [from, to)} of every bucket from one snapshot. With {@code from ==
   * null} the whole bucket.
   */
  void scan(byte[] from, byte[] to, BiConsumer<byte[], IdRecord> action) {
    Snapshot snapshot = db.getSnapshot();
    try (ReadOptions ro = new ReadOptions().setSnapshot(snapshot)) {
      for (ColumnFamilyHandle cf : buckets.descendingMap().values()) {
        try (RocksIterator it = db.newIterator(cf, ro)) {
          if (from == null) {
            it.seekToFirst();
          } else {
            it.seek(from);
          }
          for (; it.isValid(); it.next()) {
            byte[] k = it.key();
            if (to != null && java.util.Arrays.compareUnsigned(k, to) >= 0) {
              break;
            }
            action.accept(k, decode(it.value(), k));
          }
          it.status();
        }
      }
    } catch (RocksDBException e) {
      throw failure("scan", e);
    } finally {
      db.releaseSnapshot(snapshot);
    }
  }

  /** The database itself: for tests that read RocksDB's own counters (its PerfContext). */
  RocksDB db() {
    return db;
  }

  long estimateKeys() {
    long n = 0;
    try {
      for (ColumnFamilyHandle cf : buckets.values()) {
        n += db.getLongProperty(cf, "rocksdb.estimate-num-keys");
      }
    } catch (RocksDBException e) {
      throw failure("read rocksdb.estimate-num-keys", e);
    }
    return n;
  }

  // ---- writes ----

  ColumnFamilyHandle meta() {
    return meta;
  }

  ColumnFamilyHandle leases() {
    return leases;
  }

  /** Writes {@code batch} atomically (WAL on; fsynced if the store was built with sync). */
  void write(WriteBatch batch) {
    try {
      db.write(writeOptions, batch);
    } catch (RocksDBException e) {
      throw failure("write", e);
    }
  }

  /** Writes one key (WAL on; fsynced if the store was built with sync): a batch of one. */
  void put(ColumnFamilyHandle cf, byte[] key, byte[] value) {
    try {
      db.put(cf, writeOptions, key, value);
    } catch (RocksDBException e) {
      throw failure("write", e);
    }
  }

  StoreException failure(String what, RocksDBException e) {
    // a damaged file (bit flip, truncation) shows up on read as a Corruption status: say what to do
    boolean corrupt = e.getStatus() != null
        && e.getStatus().getCode() == org.rocksdb.Status.Code.Corruption;
    return new StoreException(
        "RocksDB failed to " + what + " in the store at " + directory + ": " + e.getMessage()
            + (corrupt
                ? ". The store is corrupt: close it and delete the directory; the store is a replica"
                    + " and is restored from the changelog."
                : ""),
        e);
  }

  @Override
  public void close() {
    closeQuietly();
  }

  private void closeQuietly() {
    // handles before the database, the database before its options (RocksJava's documented order)
    for (ColumnFamilyHandle h : buckets.values()) {
      h.close();
    }
    buckets.clear();
    newestFirst = new Bucket[0];
    if (meta != null) {
      meta.close();
    }
    if (leases != null) {
      leases.close();
    }
    if (db != null) {
      db.close();
    }
    for (int i = resources.size() - 1; i >= 0; i--) {
      try {
        resources.get(i).close();
      } catch (Exception ignored) {
        // closing native options does not fail in practice; nothing else to do on close
      }
    }
    resources.clear();
  }

  private <T extends AutoCloseable> T track(T resource) {
    resources.add(resource);
    return resource;
  }

  static long parseBucket(String cf) {
    if (!cf.startsWith(BUCKET_PREFIX)) {
      return -1;
    }
    try {
      long v = Long.parseLong(cf.substring(BUCKET_PREFIX.length()));
      return v < 0 ? -1 : v;
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static byte[] longBytes(long v) {
    return ByteBuffer.allocate(8).putLong(v).array();
  }

  static byte[] leaseKey(int shard) {
    return ByteBuffer.allocate(4).putInt(shard).array();
  }

  static byte[] checkpointKey(String name) {
    return utf8(CHECKPOINT_PREFIX + name);
  }

  static byte[] uint64Operand(long v) {
    return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
  }

  private static boolean startsWith(byte[] k, byte[] prefix) {
    if (k.length < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (k[i] != prefix[i]) {
        return false;
      }
    }
    return true;
  }
}
