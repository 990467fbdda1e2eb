package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static dev.tandem.store.Stores.A;
import static dev.tandem.store.Stores.B;
import static dev.tandem.store.Stores.LEASE;
import static dev.tandem.store.Stores.START;
import static dev.tandem.store.Stores.digest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What replication builds on: listeners, remote applies, checkpoints, leases, shard drops, scans. */
class ReplicaApiTest {

  @TempDir Path dirA;
  @TempDir Path dirB;
  @TempDir Path dirC;
  @TempDir Path dirD;
  final ManualClock clock = new ManualClock(START);

  record Event(IdRecord record, WriteOrigin origin) {}

  @Test
  void listenersGetTheFullMergedRecordOfEveryWriteWithItsOrigin() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock);
        IdempotencyStore b = Stores.open(dirB, B, "b1", clock)) {
      List<Event> events = new ArrayList<>();
      a.addListener((r, o) -> events.add(new Event(r, o)));
      a.claim("m", 0, digest("p"), 0, LEASE);
      a.claim("m", 0, digest("p"), 0, LEASE); // InProgress: nothing written, nothing told
      IdRecord done = a.complete("m", 0, new byte[] {1});
      assertEquals(2, events.size());
      assertEquals(WriteOrigin.LOCAL, events.get(1).origin());
      assertEquals(done, events.get(1).record());
      assertEquals(Set.of(digest("p")), events.get(1).record().digests()); // full record

      b.claim("m", 0, digest("p"), 0, LEASE);
      IdRecord atB = b.complete("m", 0, null);
      IdRecord merged = ReplicaStore.of(a).applyRemote(atB);
      assertEquals(3, events.size());
      assertEquals(new Event(merged, WriteOrigin.REMOTE), events.get(2));
      ReplicaStore.of(a).applyRemote(atB); // a duplicate delivery changes nothing and is not told
      assertEquals(3, events.size());
    }
  }

  @Test
  void aThrowingListenerDoesNotBreakTheStore() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (IdempotencyStore a = Stores.builder(dirA, A, "a1", clock).meterRegistry(registry)
        .build()) {
      List<IdRecord> seen = new ArrayList<>();
      a.addListener((r, o) -> {
        throw new IllegalStateException("boom");
      });
      a.addListener((r, o) -> seen.add(r));
      assertInstanceOf(ClaimResult.Acquired.class, a.claim("m", 0, digest("p"), 0, LEASE));
      assertEquals(Phase.CLAIMED, a.get("m", 0).orElseThrow().phase());
      assertEquals(1, seen.size());
      assertEquals(1.0, registry.get(StoreMetrics.LISTENER_ERRORS).counter().count());
    }
  }

  @Test
  void remoteBatchesStoreRecordsLeasesAndCheckpointsTogetherAndSurviveAReopen() {
    IdRecord r1;
    IdRecord r2;
    try (IdempotencyStore b = Stores.open(dirB, B, "b1", clock)) {
      b.claim("x", 1, digest("p"), 0, LEASE);
      r1 = b.complete("x", 1, null);
      b.claim("y", 2, digest("q"), 0, LEASE);
      r2 = b.get("y", 2).orElseThrow();
    }
    ShardLease lease = ShardLease.of(1, 3, B, 1000);
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock)) {
      ReplicaStore.of(a).applyRemoteBatch(List.of(r1, r2), List.of(lease),
          Map.of("changelog-region-a/1", 17L, "changelog-region-a/2", 5L));
    }
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock)) {
      assertEquals(Map.of("changelog-region-a/1", 17L, "changelog-region-a/2", 5L),
          ReplicaStore.of(a).checkpoints());
      assertEquals(r1, a.get("x", 1).orElseThrow());
      assertEquals(r2, a.get("y", 2).orElseThrow());
      assertEquals(lease, a.lease(1).orElseThrow());
      assertTrue(a.tickHlc() > lease.heartbeatHlc());
    }
  }

  @Test
  void leasesMergeEpochFirstAndAreToldToListeners() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock)) {
      List<ShardLease> told = new ArrayList<>();
      List<WriteOrigin> origins = new ArrayList<>();
      a.addListener(new StoreListener() {
        @Override
        public void onRecord(IdRecord record, WriteOrigin origin) {}

        @Override
        public void onLease(ShardLease lease, WriteOrigin origin) {
          told.add(lease);
          origins.add(origin);
        }
      });
      ShardLease mine = a.mergeLease(ShardLease.of(4, 1, A, a.tickHlc()));
      ShardLease takeover = mine.takenOverBy(B, 5);
      assertEquals(takeover, ReplicaStore.of(a).applyRemoteLease(takeover));
      // A renews its old epoch later (it has not seen the takeover yet): the takeover stands
      ShardLease lateRenewal = mine.renewed(a.tickHlc(), 99, 8, 2, true, Map.of("k", "v"));
      assertEquals(takeover, a.mergeLease(lateRenewal));
      assertEquals(takeover, a.lease(4).orElseThrow());
      assertEquals(List.of(mine, takeover), told);
      assertEquals(List.of(WriteOrigin.LOCAL, WriteOrigin.REMOTE), origins);
      assertEquals(List.of(takeover), a.leases());
    }
  }

  @Test
  void droppingAShardRemovesItsRecordsLeaseAndCheckpointsOnly() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock)) {
      for (int i = 0; i < 20; i++) {
        a.claim("m" + i, i % 2, digest("p"), 0, LEASE);
        a.complete("m" + i, i % 2, null);
      }
      clock.advance(Duration.ofDays(2)); // records of shard 1 in two TTL buckets
      a.claim("late", 1, digest("p"), 0, LEASE);
      a.mergeLease(ShardLease.of(0, 1, A, 1));
      a.mergeLease(ShardLease.of(1, 1, A, 1));
      ReplicaStore.of(a).applyRemoteBatch(List.of(), Map.of("cl/0", 3L, "cl/1", 4L));
      assertTrue(a.isTerminal("m1", 1));

      ReplicaStore.of(a).dropShard(1, List.of("cl/1"));

      List<IdRecord> shard1 = new ArrayList<>();
      a.forEach(1, shard1::add);
      assertEquals(List.of(), shard1);
      assertFalse(a.isTerminal("m1", 1), "the cache forgot the shard too");
      assertTrue(a.get("late", 1).isEmpty());
      List<IdRecord> shard0 = new ArrayList<>();
      a.forEach(0, shard0::add);
      assertEquals(10, shard0.size());
      assertTrue(a.lease(1).isEmpty());
      assertTrue(a.lease(0).isPresent());
      assertEquals(Map.of("cl/0", 3L), ReplicaStore.of(a).checkpoints());
    }
  }

  @Test
  void twoCompletionsFromTwoRegionsAreOneRecordEverywhereCountedOnce() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock);
        IdempotencyStore b = Stores.open(dirB, B, "b1", clock)) {
      // a partition: both regions process the same id
      a.claim("m", 0, digest("p"), 0, LEASE);
      b.claim("m", 0, digest("p"), 0, LEASE);
      IdRecord atA = a.complete("m", 0, null);
      IdRecord atB = b.complete("m", 0, null);
      assertEquals(0, a.detectedDuplicates());
      // the link heals: each side receives the other's record, some twice
      IdRecord mergedA = ReplicaStore.of(a).applyRemote(atB);
      IdRecord mergedB = ReplicaStore.of(b).applyRemote(atA);
      ReplicaStore.of(a).applyRemote(atB);
      ReplicaStore.of(b).applyRemote(mergedA);
      assertEquals(mergedA, mergedB);
      assertEquals(a.get("m", 0), b.get("m", 0));
      assertTrue(mergedA.isDetectedDuplicate());
      assertEquals(Set.of(Completer.of(a.owner(), 1), Completer.of(b.owner(), 1)),
          mergedA.completers());
      assertEquals(1, a.detectedDuplicates());
      assertEquals(1, b.detectedDuplicates());
    }
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock)) {
      assertEquals(1, a.detectedDuplicates(), "persisted with the write that caused it");
    }
  }

}
