package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
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

/** The terminal cache: terminal records only, after the write, kept current, absence never. */
class CacheTest {

  @TempDir Path dirA;
  @TempDir Path dirB;
  final ManualClock clock = new ManualClock(START);
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @Test
  void onlyTerminalRecordsAreCachedAndTheyAnswerClaims() {
    try (IdempotencyStore a = Stores.builder(dirA, A, "a1", clock).meterRegistry(registry)
        .build()) {
      a.claim("m", 0, digest("p"), 0, LEASE);
      a.get("m", 0);
      a.get("m", 0);
      assertEquals(0, a.stats().cacheEntries(), "a claim is never cached");
      assertEquals(3, a.stats().cacheMisses()); // the claim's look-up and the two gets
      a.complete("m", 0, null);
      assertEquals(1, a.stats().cacheEntries());
      long hitsBefore = a.stats().cacheHits();
      for (int i = 0; i < 8; i++) {
        assertInstanceOf(ClaimResult.AlreadyCompleted.class, a.claim("m", 0, digest("p"), 0, LEASE));
      }
      assertEquals(hitsBefore + 8, a.stats().cacheHits());
      assertTrue(a.stats().cacheHitRatio() > 0.5);
      assertTrue(registry.get("cache.gets").tag("cache", StoreMetrics.CACHE).tag("result", "hit")
          .functionCounter().count() >= 8);
      assertTrue(registry.get(StoreMetrics.CACHE + ".hit.ratio").gauge().value() > 0.5);
    }
  }

  @Test
  void absenceIsNeverCached() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock);
        IdempotencyStore b = Stores.open(dirB, B, "b1", clock)) {
      assertTrue(a.get("m", 0).isEmpty());
      assertFalse(a.isTerminal("m", 0));
      b.claim("m", 0, digest("p"), 0, LEASE);
      ReplicaStore.of(a).applyRemote(b.complete("m", 0, null));
      assertTrue(a.isTerminal("m", 0));
      assertInstanceOf(ClaimResult.AlreadyCompleted.class, a.claim("m", 0, digest("p"), 0, LEASE));
    }
  }

  @Test
  void aCachedTerminalRecordIsKeptCurrentWhenItGrowsRemotely() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock);
        IdempotencyStore b = Stores.open(dirB, B, "b1", clock)) {
      a.claim("m", 0, digest("p"), 0, LEASE);
      IdRecord atA = a.complete("m", 0, null);
      assertTrue(a.isTerminal("m", 0)); // cached
      b.claim("m", 0, digest("p"), 0, LEASE);
      b.complete("m", 0, null);
      IdRecord atB = b.claim("m", 0, digest("q"), 0, LEASE) instanceof ClaimResult.Conflict
          ? b.get("m", 0).orElseThrow() : null;
      ReplicaStore.of(a).applyRemote(atB);
      IdRecord now = a.get("m", 0).orElseThrow(); // from the cache
      assertEquals(a.stats().cacheEntries(), 1);
      assertEquals(Set.of(Completer.of(a.owner(), 1), Completer.of(b.owner(), 1)),
          now.completers());
      assertTrue(now.isConflict());
      assertEquals(atA.merge(atB), now);
      // the cached fast path answers the grown record: the conflict, not AlreadyCompleted
      assertInstanceOf(ClaimResult.Conflict.class, a.claim("m", 0, digest("p"), 0, LEASE));
    }
  }

  @Test
  void theCacheIsBoundedBySize() {
    try (IdempotencyStore a = Stores.builder(dirA, A, "a1", clock).cacheMaxEntries(10).build()) {
      for (int i = 0; i < 200; i++) {
        a.complete("m" + i, 0, null);
      }
      // the bound is exact and kept by the put itself (no asynchronous eviction)
      assertEquals(10, a.stats().cacheEntries());
      for (int i = 0; i < 200; i++) {
        assertTrue(a.isTerminal("m" + i, 0), "evicted entries are read from RocksDB");
      }
    }
  }
}
