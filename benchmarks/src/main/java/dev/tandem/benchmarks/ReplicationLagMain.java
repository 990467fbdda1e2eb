package dev.tandem.benchmarks;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import dev.tandem.store.replication.KafkaReplicationLog;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Changelog replication lag at a fixed load, end to end: region A's store claims and completes
 * {@code rate} fresh ids per second for {@code seconds}; region B's store (its own {@link
 * KafkaReplicationLog}, every shard materialised) reports when each COMPLETED record arrives as a
 * remote write. Lag = arrival in B − completion call in A, on one monotonic clock (both stores live
 * in this JVM; the brokers run in a child JVM, {@link RegionsProcess}). Not a JMH benchmark: lag is
 * a distribution over one steady run, not a throughput; run it with
 * {@code java -cp benchmarks/target/benchmarks.jar dev.tandem.benchmarks.ReplicationLagMain [rate]
 * [seconds] [json-out]}. Prints {@code LAG ...} and writes a small JSON file.
 */
public final class ReplicationLagMain {

  private static final PayloadDigest DIGEST =
      PayloadDigest.of("payload".getBytes(StandardCharsets.UTF_8));
  private static final int SHARDS = 8;

  private ReplicationLagMain() {}

  public static void main(String[] args) throws Exception {
    int rate = args.length > 0 ? Integer.parseInt(args[0]) : 500;
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    Path out = args.length > 2 ? Path.of(args[2]) : null;
    int total = rate * seconds;
    double loadBefore = LoadProfiler.load();
    Path dir = Files.createTempDirectory("tandem-bench-lag");
    long[] completedAt = new long[total];
    long[] arrivedAt = new long[total];
    Map<String, Integer> index = new ConcurrentHashMap<>();
    CountDownLatch allArrived = new CountDownLatch(total);
    // unique changelog topics: the regions may be shared with earlier runs (benchmarks/run.sh)
    String prefix = "bench-lag-" + java.util.UUID.randomUUID().toString().substring(0, 8);
    try (RegionsProcess regions = RegionsProcess.start()) {
      IdempotencyStore a = store("region-a", dir.resolve("a"));
      IdempotencyStore b = store("region-b", dir.resolve("b"));
      b.addListener(new StoreListener() {
        @Override
        public void onRecord(IdRecord record, WriteOrigin origin) {
          if (origin != WriteOrigin.LOCAL && record.phase() == Phase.COMPLETED) {
            Integer i = index.get(record.id());
            if (i != null && arrivedAt[i] == 0) {
              arrivedAt[i] = System.nanoTime();
              allArrived.countDown();
            }
          }
        }
      });
      KafkaReplicationLog logA = log(regions, a, prefix, dir.resolve("spool-a"));
      KafkaReplicationLog logB = log(regions, b, prefix, dir.resolve("spool-b"));
      try {
        if (!logA.awaitRestored(Duration.ofSeconds(60)) || !logB.awaitRestored(Duration.ofSeconds(60))) {
          throw new IllegalStateException("replication logs did not restore in 60 s");
        }
        long period = TimeUnit.SECONDS.toNanos(1) / rate;
        OutsideCpu outside = OutsideCpu.forThisRun();
        OutsideCpu.Sample outsideAtStart = outside.sample();
        long start = System.nanoTime();
        for (int i = 0; i < total; i++) {
          // open-loop pacing: each write has its scheduled start, late writes are not skipped
          long due = start + i * period;
          long wait;
          while ((wait = due - System.nanoTime()) > 0) {
            LockSupport.parkNanos(wait);
          }
          String id = "lag-" + i;
          int shard = i % SHARDS;
          index.put(id, i);
          if (!(a.claim(id, shard, DIGEST, 0, Duration.ofMinutes(5)) instanceof ClaimResult.Acquired)) {
            throw new IllegalStateException("fresh id not acquired: " + id);
          }
          completedAt[i] = System.nanoTime();
          a.complete(id, shard, null);
        }
        long offered = System.nanoTime() - start;
        if (!allArrived.await(60, TimeUnit.SECONDS)) {
          throw new IllegalStateException((allArrived.getCount()) + " of " + total
              + " completions never reached region B in 60 s");
        }
        // other processes' CPU over the measured window, the refusal figure (see OutsideCpu, LoadProfiler)
        double outsideCpu = OutsideCpu.perCore(outsideAtStart, outside.sample());
        long[] lagMicros = new long[total];
        for (int i = 0; i < total; i++) {
          lagMicros[i] = (arrivedAt[i] - completedAt[i]) / 1_000;
        }
        Arrays.sort(lagMicros);
        double achieved = total / (offered / 1e9);
        String line = String.format(
            "LAG region-a -> region-b: rate=%d/s (achieved %.0f/s) records=%d p50=%.2f ms p99=%.2f ms"
                + " p99.9=%.2f ms max=%.2f ms",
            rate, achieved, total, pct(lagMicros, 0.50) / 1e3, pct(lagMicros, 0.99) / 1e3,
            pct(lagMicros, 0.999) / 1e3, lagMicros[total - 1] / 1e3);
        System.out.println(line);
        if (out != null) {
          Files.writeString(out, String.format(
              "{\"benchmark\":\"ReplicationLagMain\",\"rate\":%d,\"achievedRate\":%.0f,\"records\":%d,"
                  + "\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"p999Ms\":%.3f,\"maxMs\":%.3f,"
                  + "\"loadBefore\":%.2f,\"loadAfter\":%.2f,\"cores\":%d,\"outsideCpu\":%s,"
                  + "\"loadBeforeRun\":%s}%n",
              rate, achieved, total, pct(lagMicros, 0.50) / 1e3, pct(lagMicros, 0.99) / 1e3,
              pct(lagMicros, 0.999) / 1e3, lagMicros[total - 1] / 1e3, loadBefore, LoadProfiler.load(),
              Runtime.getRuntime().availableProcessors(), jsonNumber(outsideCpu),
              jsonNumber(LoadProfiler.beforeRun())));
        }
      } finally {
        logA.close();
        logB.close();
        a.close();
        b.close();
      }
    } finally {
      StoreBenchmark.deleteQuietly(dir);
    }
    System.exit(0);
  }

  private static String jsonNumber(double v) {
    return Double.isNaN(v) ? "null" : String.format(java.util.Locale.ROOT, "%.4f", v);
  }

  static long pct(long[] sorted, double p) {
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
  }

  private static IdempotencyStore store(String region, Path dir) {
    return IdempotencyStore.builder().region(RegionId.of(region)).instance("lag-" + region)
        .directory(dir).build();
  }

  private static KafkaReplicationLog log(RegionsProcess regions, IdempotencyStore store, String prefix,
      Path spool) throws IOException {
    return KafkaReplicationLog.builder()
        .store(store)
        .region(RegionId.of(RegionsProcess.A), regions.bootstrap(RegionsProcess.A))
        .region(RegionId.of(RegionsProcess.B), regions.bootstrap(RegionsProcess.B))
        .spoolDirectory(spool)
        .shards(SHARDS)
        .topicPrefix(prefix)
        .materializeAllShards()
        .build();
  }
}
