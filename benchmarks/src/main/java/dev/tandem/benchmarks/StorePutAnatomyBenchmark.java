package dev.tandem.benchmarks;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.Completer;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import dev.tandem.store.RecordCodec;
import dev.tandem.store.internal.EngineOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * Where {@code StoreBenchmark.tandemClaimComplete}'s time goes against {@code StoreBenchmark.rocksPut}
 * (issue 20), one step per row, all at 1 thread with fresh 16-character ids counting up:
 *
 * <ul>
 *   <li>{@code rawPut}: {@code StoreBenchmark.rocksPut} itself (default options, counting-up 16-byte
 *       keys, a 96-byte value). Its keys always land where the memtable's last insert went, RocksDB's
 *       cheapest insert (2 key comparisons per put).
 *   <li>{@code rawPutShardKeys}: the same, with the store's key layout ({@code [shard: 4 bytes][id]},
 *       shard = counter mod 8): 8 interleaved runs, so each put searches the memtable from the top (~30
 *       comparisons) — what every real key order costs (random ids do the same).
 *   <li>{@code rawPutPair}: what a claim+complete does to RocksDB's writes: two plain puts of the same
 *       store-layout key, of a claim's and a completed record's encoded bytes (RecordCodec, 138 and 159
 *       B), into a TTL bucket of a database opened with the store's options ({@link EngineOptions}:
 *       bloom filters, memtable bloom, the memtable insert position per shard).
 *   <li>{@code rawPutPairNoHint}: the same without the insert position per shard (the store before
 *       issue 20's fix): the difference to {@code rawPutPair} is what the fix saves.
 *   <li>{@code rawGetPutPair}: {@code rawPutPair} preceded by the point read that proves the id new:
 *       all the RocksDB work of a claim+complete; the rest of {@code tandemClaimComplete} is Java.
 *   <li>{@code rawBatchPutPair}: {@code rawPutPair} with each put as a one-entry {@code WriteBatch}
 *       (StoreBatch's path when an operation writes more than one record; claim and complete write
 *       one, with a plain put).
 *   <li>{@code tandemClaim}: a claim of a fresh id alone.
 *   <li>{@code tandemComplete}: a complete alone, of an id claimed in a per-invocation set-up (its
 *       time excluded; JMH time-stamps each invocation, ~2 clock reads, about 1 % of a complete).
 *   <li>{@code tandemClaimComplete}: {@code StoreBenchmark.tandemClaimComplete} (16-character ids), in
 *       this run so the rows compare within one run.
 * </ul>
 *
 * Each row writes into its own fresh database (a fork per row); no value is read back.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 2, jvmArgsAppend = {"-Xmx2g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
public class StorePutAnatomyBenchmark {

  static final int ID_LENGTH = 16;
  static final int SHARDS = 8;
  static final PayloadDigest DIGEST = StoreBenchmark.DIGEST;
  static final Duration LEASE = StoreBenchmark.LEASE;

  @State(Scope.Benchmark)
  public static class Dbs {
    Path dir;
    final List<AutoCloseable> closeLast = new ArrayList<>();
    Options plainOptions;
    RocksDB plain;
    DBOptions storeDbOptions;
    ColumnFamilyOptions hinted;
    ColumnFamilyOptions unhinted;
    ColumnFamilyOptions defaultCf;
    RocksDB shaped;
    final List<ColumnFamilyHandle> handles = new ArrayList<>();
    ColumnFamilyHandle bucket;
    ColumnFamilyHandle bucketNoHint;
    WriteOptions write;
    IdempotencyStore tandem;
    final byte[] value96 = new byte[96];
    byte[] claimValue;
    byte[] completeValue;
    final AtomicInteger threads = new AtomicInteger();

    @Setup(Level.Trial)
    public void setUp() throws Exception {
      RocksDB.loadLibrary();
      dir = Files.createTempDirectory("tandem-put-anatomy");
      write = new WriteOptions(); // the store's: WAL on, no fsync (its default)
      plainOptions = new Options().setCreateIfMissing(true);
      plain = RocksDB.open(plainOptions, dir.resolve("plain").toString());
      // the store's database: its options, a metadata family, a TTL bucket (and one without the hint)
      storeDbOptions = EngineOptions.dbOptions(true);
      hinted = EngineOptions.bucketOptions(true, closeLast);
      unhinted = EngineOptions.bucketOptions(false, closeLast);
      defaultCf = new ColumnFamilyOptions();
      shaped = RocksDB.open(storeDbOptions, dir.resolve("shaped").toString(),
          List.of(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, defaultCf),
              new ColumnFamilyDescriptor("records-0".getBytes(StandardCharsets.UTF_8), hinted),
              new ColumnFamilyDescriptor("records-nohint".getBytes(StandardCharsets.UTF_8),
                  unhinted)),
          handles);
      bucket = handles.get(1);
      bucketNoHint = handles.get(2);
      // the records a claim and a complete of a fresh 16-character id write, as the store encodes them
      Owner owner = new Owner(RegionId.of("region-a"), "bench");
      long now = System.currentTimeMillis();
      TreeSet<PayloadDigest> digests = new TreeSet<>(List.of(DIGEST));
      IdRecord claimed = new IdRecord(Ids.id(ID_LENGTH, 0, 1), 1, 0, Phase.CLAIMED, 1, 0, owner,
          now + LEASE.toMillis(), now << 16, now, digests, new TreeSet<>(), null, null);
      IdRecord completed = new IdRecord(claimed.id(), 1, 0, Phase.COMPLETED, 1, 0, owner,
          now + LEASE.toMillis(), (now << 16) + 1, now, digests,
          new TreeSet<>(List.of(new Completer(owner.region(), owner.instance(), 1))), null, null);
      claimValue = RecordCodec.encode(claimed);
      completeValue = RecordCodec.encode(completed);
      tandem =
          IdempotencyStore.builder()
              .region(RegionId.of("region-a"))
              .instance("bench")
              .directory(dir.resolve("tandem"))
              .cacheMaxEntries(StoreBenchmark.HOT_IDS * 2L)
              .build();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
      tandem.close();
      for (ColumnFamilyHandle h : handles) {
        h.close();
      }
      shaped.close();
      plain.close();
      for (AutoCloseable o : List.of(defaultCf, hinted, unhinted, storeDbOptions, plainOptions,
          write)) {
        o.close();
      }
      for (AutoCloseable o : closeLast) {
        o.close();
      }
      StoreBenchmark.deleteQuietly(dir);
    }
  }

  /** Per-thread fresh ids (never seen by any database) and their store-layout keys. */
  @State(Scope.Thread)
  public static class Cursor {
    int thread;
    long next;

    @Setup(Level.Trial)
    public void setUp(Dbs dbs) {
      thread = dbs.threads.getAndIncrement();
    }

    String freshId() {
      return Ids.id(ID_LENGTH, thread, next++);
    }

    /** The shard of the id {@link #freshId} returned last (as StoreBenchmark's). */
    int shard() {
      return (int) (next & (SHARDS - 1));
    }

    /** The store's key of a fresh id: {@code [shard: 4 bytes big-endian][id: ASCII]}. */
    byte[] freshStoreKey() {
      String id = freshId();
      int shard = shard();
      byte[] k = new byte[4 + id.length()];
      k[0] = (byte) (shard >>> 24);
      k[1] = (byte) (shard >>> 16);
      k[2] = (byte) (shard >>> 8);
      k[3] = (byte) shard;
      for (int i = 0; i < id.length(); i++) {
        k[4 + i] = (byte) id.charAt(i);
      }
      return k;
    }
  }

  /** An id claimed before each {@link #tandemComplete} invocation, outside its measured time. */
  @State(Scope.Thread)
  public static class Claimed {
    String id;
    int shard;

    @Setup(Level.Invocation)
    public void claim(Dbs dbs, Cursor c) {
      id = c.freshId();
      shard = c.shard();
      ClaimResult r = dbs.tandem.claim(id, shard, DIGEST, 0, LEASE);
      if (!(r instanceof ClaimResult.Acquired)) {
        throw new IllegalStateException("fresh id not acquired: " + r);
      }
    }
  }

  @Benchmark
  public void rawPut(Dbs d, Cursor c) throws RocksDBException {
    d.plain.put(d.write, c.freshId().getBytes(StandardCharsets.UTF_8), d.value96);
  }

  @Benchmark
  public void rawPutShardKeys(Dbs d, Cursor c) throws RocksDBException {
    d.plain.put(d.write, c.freshStoreKey(), d.value96);
  }

  @Benchmark
  public void rawPutPair(Dbs d, Cursor c) throws RocksDBException {
    byte[] k = c.freshStoreKey();
    d.shaped.put(d.bucket, d.write, k, d.claimValue);
    d.shaped.put(d.bucket, d.write, k, d.completeValue);
  }

  @Benchmark
  public void rawPutPairNoHint(Dbs d, Cursor c) throws RocksDBException {
    byte[] k = c.freshStoreKey();
    d.shaped.put(d.bucketNoHint, d.write, k, d.claimValue);
    d.shaped.put(d.bucketNoHint, d.write, k, d.completeValue);
  }

  @Benchmark
  public byte[] rawGetPutPair(Dbs d, Cursor c) throws RocksDBException {
    byte[] k = c.freshStoreKey();
    byte[] old = d.shaped.get(d.bucket, k);
    d.shaped.put(d.bucket, d.write, k, d.claimValue);
    d.shaped.put(d.bucket, d.write, k, d.completeValue);
    return old;
  }

  @Benchmark
  public void rawBatchPutPair(Dbs d, Cursor c) throws RocksDBException {
    byte[] k = c.freshStoreKey();
    try (WriteBatch b = new WriteBatch()) {
      b.put(d.bucket, k, d.claimValue);
      d.shaped.write(d.write, b);
    }
    try (WriteBatch b = new WriteBatch()) {
      b.put(d.bucket, k, d.completeValue);
      d.shaped.write(d.write, b);
    }
  }

  @Benchmark
  public Object tandemClaim(Dbs d, Cursor c) {
    String id = c.freshId();
    ClaimResult r = d.tandem.claim(id, c.shard(), DIGEST, 0, LEASE);
    if (!(r instanceof ClaimResult.Acquired)) {
      throw new IllegalStateException("fresh id not acquired: " + r);
    }
    return r;
  }

  @Benchmark
  public Object tandemComplete(Dbs d, Claimed claimed) {
    return d.tandem.complete(claimed.id, claimed.shard, null);
  }

  @Benchmark
  public Object tandemClaimComplete(Dbs d, Cursor c) {
    String id = c.freshId();
    int shard = c.shard();
    ClaimResult r = d.tandem.claim(id, shard, DIGEST, 0, LEASE);
    if (!(r instanceof ClaimResult.Acquired)) {
      throw new IllegalStateException("fresh id not acquired: " + r);
    }
    return d.tandem.complete(id, shard, null);
  }
}
