package dev.tandem.benchmarks;

import static dev.tandem.testkit.AllocationMeter.usedHeapAfterGc;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreStats;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;

/**
 * Footprint after N completed ids (claim + complete each, 36-character ids): bytes on disk per
 * record and heap per cached record. Not a JMH benchmark (a size, not a speed); run with
 * {@code java -Xmx1g -cp benchmarks/target/benchmarks.jar dev.tandem.benchmarks.FootprintMain [N]
 * [json-out]}.
 *
 * <ul>
 *   <li>Disk: the store is closed and reopened once (RocksDB replays its WAL into an SST on open), then
 *       closed; the directory's total size (SSTs, manifest, options, logs) / N.
 *   <li>Heap: used heap after full GCs with the store open and N records cached, minus the same with
 *       the store open and empty, / cache entries. RocksDB's memory (memtables, block cache) is off
 *       the Java heap and not in this figure.
 * </ul>
 */
public final class FootprintMain {

  private static final PayloadDigest DIGEST =
      PayloadDigest.of("payload".getBytes(StandardCharsets.UTF_8));
  private static final int SHARDS = 8;

  private FootprintMain() {}

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    Path out = args.length > 1 ? Path.of(args[1]) : null;
    Path dir = Files.createTempDirectory("tandem-bench-footprint");
    try {
      IdempotencyStore store = open(dir, n);
      long heapEmpty = usedHeapAfterGc();
      for (int i = 0; i < n; i++) {
        String id = Ids.id(36, 1, i);
        int shard = i % SHARDS;
        if (!(store.claim(id, shard, DIGEST, 0, Duration.ofMinutes(5)) instanceof ClaimResult.Acquired)) {
          throw new IllegalStateException("fresh id not acquired: " + id);
        }
        store.complete(id, shard, null);
      }
      for (int i = 0; i < n; i++) {
        // the check path: a terminal record read once is in the cache, whatever complete() did
        if (!store.isTerminal(Ids.id(36, 1, i), i % SHARDS)) {
          throw new IllegalStateException("completed id not terminal: " + i);
        }
      }
      long heapFull = usedHeapAfterGc();
      StoreStats stats = store.stats();
      store.close();
      open(dir, n).close(); // WAL replayed into SST files on open
      long disk = size(dir);
      double heapPerCached = stats.cacheEntries() == 0 ? Double.NaN
          : (heapFull - heapEmpty) / (double) stats.cacheEntries();
      System.out.printf("FOOTPRINT records=%d disk=%d B (%.1f B/record) cacheEntries=%d heap delta=%d B"
              + " (%.1f B/cached record)%n",
          n, disk, disk / (double) n, stats.cacheEntries(), heapFull - heapEmpty, heapPerCached);
      if (out != null) {
        Files.writeString(out, String.format(
            "{\"benchmark\":\"FootprintMain\",\"records\":%d,\"idLength\":36,\"diskBytes\":%d,"
                + "\"diskBytesPerRecord\":%.1f,\"cacheEntries\":%d,\"heapDeltaBytes\":%d,"
                + "\"heapBytesPerCachedRecord\":%.1f}%n",
            n, disk, disk / (double) n, stats.cacheEntries(), heapFull - heapEmpty, heapPerCached));
      }
    } finally {
      StoreBenchmark.deleteQuietly(dir);
    }
  }

  private static IdempotencyStore open(Path dir, int n) {
    return IdempotencyStore.builder().region(RegionId.of("region-a")).instance("footprint")
        .directory(dir.resolve("store")).cacheMaxEntries(n).build();
  }

  private static long size(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      return files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    }
  }
}
