package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static dev.tandem.store.Stores.A;
import static dev.tandem.store.Stores.B;
import static dev.tandem.store.Stores.LEASE;
import static dev.tandem.store.Stores.START;
import static dev.tandem.store.Stores.digest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 14, defect 5: {@code detectedDuplicates()} is the number of ids, among the records the store
 * holds, with completers from two regions. Applying the same record any number of times, in any
 * order, after a shard drop and restore (an in-region rebalance), and across a reopen counts it once;
 * a shard drop takes its duplicates with it (the instance that restores the shard counts them), so
 * the sum over a region's instances is the region's figure.
 */
class DetectedDuplicatesTest {

  /** The id completed in both regions: the join a replica restores from its changelog. */
  private static IdRecord completedInBoth(IdempotencyStore a, IdempotencyStore b, String id) {
    a.claim(id, 0, digest(id), 0, LEASE);
    IdRecord atA = a.complete(id, 0, null);
    b.claim(id, 0, digest(id), 0, LEASE);
    IdRecord atB = b.complete(id, 0, null);
    IdRecord both = atA.merge(atB);
    assertTrue(both.isDetectedDuplicate());
    return both;
  }

  @Test
  void aDuplicateIsCountedOnceAcrossShardDropsRestoresAndReopen(@TempDir Path dir) {
    ManualClock clock = new ManualClock(START);
    IdRecord both;
    try (IdempotencyStore a = Stores.open(dir.resolve("a"), A, "i-a", clock);
        IdempotencyStore b = Stores.open(dir.resolve("b"), B, "i-b", clock);
        IdempotencyStore replica = Stores.open(dir.resolve("replica"), A, "i-a2", clock)) {
      both = completedInBoth(a, b, "m");
      ReplicaStore.of(replica).applyRemote(both);
      assertEquals(1, replica.detectedDuplicates());
      ReplicaStore.of(replica).applyRemote(both); // the same record again: no change
      assertEquals(1, replica.detectedDuplicates());

      ReplicaStore.of(replica).dropShard(0); // an in-region rebalance: the shard goes ...
      assertEquals(0, replica.detectedDuplicates(), "the shard's duplicates go with its records");
      ReplicaStore.of(replica).applyRemote(both); // ... and comes back, restored from the changelog
      assertEquals(1, replica.detectedDuplicates(), "restoring the same record after a shard drop");

      // restored in the other order: first one region's record, then the other's
      ReplicaStore.of(replica).dropShard(0);
      ReplicaStore.of(replica).applyRemote(b.get("m", 0).orElseThrow());
      ReplicaStore.of(replica).applyRemote(a.get("m", 0).orElseThrow());
      ReplicaStore.of(replica).applyRemote(both);
      assertEquals(1, replica.detectedDuplicates(), "restoring it piecewise after another drop");
    }
    try (IdempotencyStore replica = Stores.open(dir.resolve("replica"), A, "i-a2", clock)) {
      assertEquals(1, replica.detectedDuplicates(), "after reopening");
      ReplicaStore.of(replica).dropShard(0);
      ReplicaStore.of(replica).applyRemote(both);
      assertEquals(1, replica.detectedDuplicates(), "after reopening, dropping and restoring");
    }
  }

  @Test
  void theSumOverARegionsInstancesFollowsTheShard(@TempDir Path dir) {
    ManualClock clock = new ManualClock(START);
    SimpleMeterRegistry meters1 = new SimpleMeterRegistry();
    try (IdempotencyStore a = Stores.open(dir.resolve("a"), A, "i-a", clock);
        IdempotencyStore b = Stores.open(dir.resolve("b"), B, "i-b", clock);
        IdempotencyStore a1 = Stores.builder(dir.resolve("a1"), A, "a1", clock)
            .meterRegistry(meters1).build();
        IdempotencyStore a2 = Stores.open(dir.resolve("a2"), A, "a2", clock)) {
      for (String id : new String[] {"x", "y", "z"}) {
        ReplicaStore.of(a1).applyRemote(completedInBoth(a, b, id)); // a1 holds shard 0
      }
      assertEquals(3, a1.detectedDuplicates() + a2.detectedDuplicates());
      assertEquals(3.0, meters1.get("tandem.store.detected.duplicates").gauge().value());
      // shard 0 moves from a1 to a2: a1 drops it, a2 restores it
      ReplicaStore.of(a1).dropShard(0);
      a.forEach(0, r -> ReplicaStore.of(a2).applyRemote(r.merge(b.get(r.id(), 0).orElseThrow())));
      assertEquals(0, a1.detectedDuplicates());
      assertEquals(0.0, meters1.get("tandem.store.detected.duplicates").gauge().value());
      assertEquals(3, a1.detectedDuplicates() + a2.detectedDuplicates(),
          "the region's figure is the sum over its instances, counted once");
    }
  }

  @Test
  void anExpiredDuplicateLeavesTheCountWithItsRecord(@TempDir Path dir) {
    ManualClock clock = new ManualClock(START);
    try (IdempotencyStore a = Stores.open(dir.resolve("a"), A, "i-a", clock);
        IdempotencyStore b = Stores.open(dir.resolve("b"), B, "i-b", clock)) {
      IdRecord both = completedInBoth(a, b, "m");
      ReplicaStore.of(a).applyRemote(both);
      assertEquals(1, a.detectedDuplicates());
      clock.advance(RocksIdempotencyStore.DEFAULT_TTL.plus(Duration.ofDays(2)));
      assertTrue(a.get("m", 0).isEmpty(), "the record expired (its bucket was dropped)");
      assertEquals(0, a.detectedDuplicates());
      ReplicaStore.of(a).applyRemote(both); // too old to be stored again: neither stored nor counted
      assertEquals(0, a.detectedDuplicates());
    }
  }

  /** A store written by a version with one all-time counter is counted again from its records. */
  @Test
  void aLegacyAllTimeCounterIsReplacedByTheCountOfTheRecordsHeld(@TempDir Path dir) throws Exception {
    ManualClock clock = new ManualClock(START);
    try (IdempotencyStore a = Stores.open(dir.resolve("a"), A, "i-a", clock);
        IdempotencyStore b = Stores.open(dir.resolve("b"), B, "i-b", clock);
        IdempotencyStore old = Stores.open(dir.resolve("old"), A, "i-old", clock)) {
      ReplicaStore.of(old).applyRemote(completedInBoth(a, b, "m"));
    }
    // rewrite it as the earlier version left it: the legacy counter (inflated), no per-shard counts
    long width = RocksIdempotencyStore.DEFAULT_TTL.toMillis() / RocksIdempotencyStore.TTL_BUCKETS;
    try (RocksEngine engine = RocksEngine.open(dir.resolve("old"), false, width)) {
      for (long bucket : engine.bucketsNewestFirst().keySet()) {
        try (org.rocksdb.WriteBatch wb = new org.rocksdb.WriteBatch()) {
          wb.delete(engine.meta(), RocksEngine.detectedCountKey(bucket, 0));
          wb.put(engine.meta(), RocksEngine.KEY_DETECTED_DUPLICATES, RocksEngine.uint64Operand(7));
          engine.write(wb);
        }
      }
    }
    try (IdempotencyStore old = Stores.open(dir.resolve("old"), A, "i-old", clock)) {
      assertEquals(1, old.detectedDuplicates(), "counted from the records held, not the legacy 7");
    }
    try (IdempotencyStore old = Stores.open(dir.resolve("old"), A, "i-old", clock)) {
      assertEquals(1, old.detectedDuplicates(), "migrated once");
    }
  }
}
