package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.spi.ReplicaStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import static dev.tandem.store.Stores.A;
import static dev.tandem.store.Stores.B;
import static dev.tandem.store.Stores.LEASE;
import static dev.tandem.store.Stores.START;
import static dev.tandem.store.Stores.digest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Replicas on real RocksDB stores: two regions operate on shared ids without exchanging anything
 * (a partition); every local write their listeners saw is then delivered to two fresh replicas in
 * different random orders, with duplicates, one by one or in batches. Both replicas hold exactly the
 * join of the updates (full scans and cached reads), and count the same detected duplicates.
 */
class StoreConvergenceProperties {

  static final int STEPS = 800;
  static final int IDS = 40;

  @Property(tries = 8)
  void replicasFedTheSameUpdatesInAnyOrderHoldTheSameRecords(@ForAll long seed) throws IOException {
    Random random = new Random(seed);
    ManualClock clock = new ManualClock(START);
    Path root = Files.createTempDirectory("tandem-convergence");
    try {
      List<IdRecord> updates = partitionedUpdates(root, clock, random);
      assertTrue(updates.size() > 100, "updates: " + updates.size());
      Map<String, IdRecord> join = new TreeMap<>();
      for (IdRecord u : updates) {
        join.merge(u.id(), u, IdRecord::merge);
      }
      List<IdRecord> toC = new ArrayList<>(updates);
      Collections.shuffle(toC, random);
      List<IdRecord> toD = new ArrayList<>(updates);
      for (int i = 0; i < updates.size() / 3; i++) {
        toD.add(updates.get(random.nextInt(updates.size()))); // duplicated deliveries
      }
      Collections.shuffle(toD, random);
      try (IdempotencyStore c = Stores.open(root.resolve("c"), RegionId.of("region-c"), "c1", clock);
          IdempotencyStore d = Stores.open(root.resolve("d"), RegionId.of("region-d"), "d1", clock)) {
        toC.forEach(ReplicaStore.of(c)::applyRemote);
        for (int from = 0; from < toD.size(); ) { // batches of random size, as a changelog reader
          int to = Math.min(toD.size(), from + 1 + random.nextInt(40));
          ReplicaStore.of(d)
              .applyRemoteBatch(toD.subList(from, to), Map.of("changelog/0", (long) to));
          from = to;
        }
        assertEquals(join, scan(c));
        assertEquals(join, scan(d));
        for (IdRecord r : join.values()) {
          assertEquals(r, c.get(r.id(), r.shard()).orElseThrow());
          assertEquals(r, d.get(r.id(), r.shard()).orElseThrow()); // cached terminal ones too
        }
        long duplicates = join.values().stream().filter(IdRecord::isDetectedDuplicate).count();
        assertEquals(duplicates, c.detectedDuplicates());
        assertEquals(duplicates, d.detectedDuplicates());
      }
    } finally {
      deleteTree(root);
    }
  }

  /** Random operations by two regions that do not exchange anything; returns every local write. */
  private static List<IdRecord> partitionedUpdates(Path root, ManualClock clock, Random random) {
    List<IdRecord> updates = new ArrayList<>();
    try (IdempotencyStore a = Stores.builder(root.resolve("a"), A, "a1", clock).maxAttempts(3)
            .build();
        IdempotencyStore b = Stores.builder(root.resolve("b"), B, "b1", clock).maxAttempts(3)
            .build()) {
      a.addListener((r, o) -> updates.add(r));
      b.addListener((r, o) -> updates.add(r));
      List<IdempotencyStore> both = List.of(a, b);
      for (int step = 0; step < STEPS; step++) {
        IdempotencyStore s = both.get(random.nextInt(2));
        String id = "id-" + random.nextInt(IDS);
        int shard = id.hashCode() & 3;
        switch (random.nextInt(7)) {
          case 0, 1 -> s.claim(id, shard, digest(random.nextInt(20) == 0 ? "other" : "p"),
              random.nextInt(3), LEASE);
          case 2 -> s.complete(id, shard, random.nextBoolean() ? null : new byte[] {1});
          case 3 -> {
            if (s.get(id, shard).isPresent()) {
              s.release(id, shard);
            }
          }
          case 4 -> clock.advance(Duration.ofSeconds(random.nextInt(40)));
          case 5 -> {
            if (s.get(id, shard).map(r -> r.phase() == Phase.DEAD_LETTERED).orElse(false)) {
              s.redrive(id, shard);
            } else if (random.nextInt(4) == 0) {
              s.deadLetter(id, shard, "test");
            }
          }
          default -> {
            if (s.get(id, shard).map(r -> r.isClaimedBy(s.owner())).orElse(false)) {
              s.renew(id, shard, LEASE);
            }
          }
        }
      }
    }
    return updates;
  }

  static Map<String, IdRecord> scan(IdempotencyStore s) {
    Map<String, IdRecord> out = new HashMap<>();
    s.forEach(r -> assertEquals(null, out.put(r.id(), r), "one record per id"));
    return new TreeMap<>(out);
  }

  private static void deleteTree(Path root) throws IOException {
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
