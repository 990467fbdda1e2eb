package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreException;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documented recovery from a corrupt store, end to end on two real KRaft clusters: a table file
 * of a replica's store is truncated; opening it fails with the path and the advice; following the
 * advice (delete the directory, open the replica again) restores exactly the records it held from
 * the changelog.
 */
@TandemClusters
class CorruptStoreRestoreTest {

  static TwoRegions regions;

  @Test
  void deletingACorruptStoreRestoresItFromTheChangelog(@TempDir Path dir) throws Exception {
    List<String> ids = IntStream.range(0, 500).mapToObj(i -> "corrupt-" + i).toList();
    Path replicaDir = dir.resolve("a");
    TreeMap<String, IdRecord> before;
    try (Replica a = Replica.open(regions, "region-a", replicaDir, "corrupt",
        x -> x.heartbeatInterval(Duration.ZERO))) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      KafkaReplicationLogTest.claimAndComplete(a.gated, ids);
      for (int s = 0; s < Replica.SHARDS; s++) {
        a.log.barrier(s, TestRegions.A).get(60, TimeUnit.SECONDS);
      }
      before = a.scan();
      assertEquals(ids.size(), before.size());
    }
    Path storeDir = replicaDir.resolve("store");
    storeOnly(storeDir).close(); // replays the log into table files
    Path sst;
    try (Stream<Path> files = Files.list(storeDir)) {
      sst = files.filter(p -> p.toString().endsWith(".sst"))
          .max(Comparator.comparingLong(p -> p.toFile().length())).orElseThrow();
    }
    try (FileChannel ch = FileChannel.open(sst, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() / 2);
    }

    StoreException e = assertThrows(StoreException.class, () -> {
      try (IdempotencyStore s = storeOnly(storeDir)) {
        s.forEach(r -> { });
      }
    });
    assertTrue(e.getMessage().contains(storeDir.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("restored from the changelog"), e.getMessage());

    // the advice: delete the directory; the replica restores before it serves
    try (Stream<Path> walk = Files.walk(storeDir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
    try (Replica restored = Replica.open(regions, "region-a", replicaDir, "corrupt",
        x -> x.heartbeatInterval(Duration.ZERO).restoreWait(Duration.ofSeconds(60)))) {
      assertTrue(restored.log.awaitRestored(Duration.ofSeconds(60)));
      assertEquals(before, restored.scan());
    }
  }

  static IdempotencyStore storeOnly(Path storeDir) {
    return IdempotencyStore.builder().region(TestRegions.A).instance("i-region-a")
        .directory(storeDir).meterRegistry(new SimpleMeterRegistry()).build();
  }
}
