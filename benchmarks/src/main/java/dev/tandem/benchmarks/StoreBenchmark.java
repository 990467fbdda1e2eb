package dev.tandem.benchmarks;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.camel.spi.IdempotentRepository;
import org.apache.camel.support.processor.idempotent.MemoryIdempotentRepository;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteOptions;

/**
 * The idempotency check side by side with what a user would pick instead, in one run:
 *
 * <ul>
 *   <li>{@code tandemClaimComplete}: claim + complete of a fresh id (the cache-miss path; two RocksDB
 *       writes) vs {@code rocksPut} (one raw RocksDB put with the same options: the engine's limit),
 *       {@code chmPutIfAbsent} (memory's limit) and Camel's {@code MemoryIdempotentRepository.add};
 *   <li>{@code tandemCheckHit}: "already done?" for a completed id (the cache-hit path) vs
 *       {@code rocksGet}, {@code chmGet} and Camel's {@code contains}.
 * </ul>
 *
 * Run with {@code -t 1} and {@code -t 2} for one and two threads. Digests are precomputed: the store
 * takes a digest; hashing is measured by {@link DigestBenchmark}. Redis and Camel's Kafka repository
 * are in {@link RedisBenchmark} and {@link CamelKafkaBenchmark} (they need a server).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
public class StoreBenchmark {

  /** Number of pre-completed ids the hit benchmarks cycle over (all fit the cache). */
  static final int HOT_IDS = 16_384;
  static final int SHARDS = 8;
  static final PayloadDigest DIGEST = PayloadDigest.of("payload".getBytes(StandardCharsets.UTF_8));
  static final Duration LEASE = Duration.ofMinutes(5);

  @State(Scope.Benchmark)
  public static class Stores {
    @Param({"16", "36"})
    public int idLength;

    Path dir;
    IdempotencyStore tandem;
    RocksDB rocks;
    Options rocksOptions;
    WriteOptions rocksWrite;
    ConcurrentHashMap<String, Boolean> chm;
    IdempotentRepository camel;
    String[] hot;
    /**
     * The hot ids as a consumer holds them: decoded from a record's header bytes, so equal to the
     * stored id but not the same object (a map then compares the characters; with {@link #hot} it
     * finds the key by identity, which no message path does).
     */
    String[] hotParsed;
    byte[][] hotKeys;
    byte[] value;
    final AtomicInteger threads = new AtomicInteger();

    @Setup(Level.Trial)
    public void setUp() throws Exception {
      RocksDB.loadLibrary();
      dir = Files.createTempDirectory("tandem-bench");
      tandem =
          IdempotencyStore.builder()
              .region(RegionId.of("region-a"))
              .instance("bench")
              .directory(dir.resolve("tandem"))
              .cacheMaxEntries(HOT_IDS * 2L)
              .build();
      rocksOptions = new Options().setCreateIfMissing(true);
      rocks = RocksDB.open(rocksOptions, dir.resolve("raw").toString());
      rocksWrite = new WriteOptions();
      chm = new ConcurrentHashMap<>();
      MemoryIdempotentRepository repo = new MemoryIdempotentRepository();
      repo.setCacheSize(1_000_000);
      repo.start();
      camel = repo;
      // a value the size of an encoded claim record, so the raw put writes comparable bytes
      value = new byte[96];
      hot = new String[HOT_IDS];
      hotParsed = new String[HOT_IDS];
      hotKeys = new byte[HOT_IDS][];
      for (int i = 0; i < HOT_IDS; i++) {
        hot[i] = Ids.id(idLength, 255, i);
        hotKeys[i] = hot[i].getBytes(StandardCharsets.UTF_8);
        hotParsed[i] = new String(hotKeys[i], StandardCharsets.UTF_8);
        int shard = i % SHARDS;
        if (!(tandem.claim(hot[i], shard, DIGEST, 0, LEASE) instanceof ClaimResult.Acquired)) {
          throw new IllegalStateException("set-up claim refused for " + hot[i]);
        }
        tandem.complete(hot[i], shard, null);
        rocks.put(rocksWrite, hotKeys[i], value);
        chm.put(hot[i], Boolean.TRUE);
        camel.add(hot[i]);
      }
    }

    /** Keeps the map's fresh-id benchmark inside the heap; the hot ids stay. */
    @Setup(Level.Iteration)
    public void trimMap() {
      if (chm.size() > HOT_IDS) {
        chm.clear();
        for (String h : hot) {
          chm.put(h, Boolean.TRUE);
        }
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
      tandem.close();
      rocks.close();
      rocksWrite.close();
      rocksOptions.close();
      camel.stop();
      deleteQuietly(dir);
    }
  }

  /** Per-thread id source: fresh ids never seen by any store. */
  @State(Scope.Thread)
  public static class Cursor {
    int thread;
    long next;
    int hot;

    @Setup(Level.Trial)
    public void setUp(Stores stores) {
      thread = stores.threads.getAndIncrement();
    }

    String fresh(int idLength) {
      return Ids.id(idLength, thread, next++);
    }

    int nextHot() {
      hot = (hot + 1) & (HOT_IDS - 1);
      return hot;
    }
  }

  @Benchmark
  public Object tandemClaimComplete(Stores s, Cursor c) {
    String id = c.fresh(s.idLength);
    int shard = (int) (c.next & (SHARDS - 1));
    ClaimResult r = s.tandem.claim(id, shard, DIGEST, 0, LEASE);
    if (!(r instanceof ClaimResult.Acquired)) {
      throw new IllegalStateException("fresh id not acquired: " + r);
    }
    return s.tandem.complete(id, shard, null);
  }

  @Benchmark
  public boolean tandemCheckHit(Stores s, Cursor c) {
    int i = c.nextHot();
    return s.tandem.isTerminal(s.hot[i], i % SHARDS);
  }

  /** {@link #tandemCheckHit} with the id decoded from bytes, as a consumer has it. */
  @Benchmark
  public boolean tandemCheckHitParsedId(Stores s, Cursor c) {
    int i = c.nextHot();
    return s.tandem.isTerminal(s.hotParsed[i], i % SHARDS);
  }

  @Benchmark
  public void rocksPut(Stores s, Cursor c) throws RocksDBException {
    s.rocks.put(s.rocksWrite, c.fresh(s.idLength).getBytes(StandardCharsets.UTF_8), s.value);
  }

  @Benchmark
  public byte[] rocksGet(Stores s, Cursor c) throws RocksDBException {
    return s.rocks.get(s.hotKeys[c.nextHot()]);
  }

  @Benchmark
  public Boolean chmPutIfAbsent(Stores s, Cursor c) {
    return s.chm.putIfAbsent(c.fresh(s.idLength), Boolean.TRUE);
  }

  @Benchmark
  public Boolean chmGet(Stores s, Cursor c) {
    return s.chm.get(s.hot[c.nextHot()]);
  }

  /** {@link #chmGet} with the id decoded from bytes, as a consumer has it. */
  @Benchmark
  public Boolean chmGetParsedId(Stores s, Cursor c) {
    return s.chm.get(s.hotParsed[c.nextHot()]);
  }

  @Benchmark
  public boolean camelMemoryAdd(Stores s, Cursor c) {
    return s.camel.add(c.fresh(s.idLength));
  }

  @Benchmark
  public boolean camelMemoryContains(Stores s, Cursor c) {
    return s.camel.contains(s.hot[c.nextHot()]);
  }

  static void deleteQuietly(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort: a temp directory
    }
  }
}
