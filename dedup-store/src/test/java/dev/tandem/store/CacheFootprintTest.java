package dev.tandem.store;

import static dev.tandem.testkit.AllocationMeter.allocated;
import static dev.tandem.testkit.AllocationMeter.usedHeapAfterGc;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Memory of the terminal cache (issue 20), in figures load does not move: heap per cached record
 * (FootprintMain's method — used heap after full GCs with N records cached minus the same empty, /
 * cache entries — with a fixed N, on the system clock) and bytes allocated per put of a new record
 * into a full cache (a put that evicts the oldest).
 */
class CacheFootprintTest {

  static final PayloadDigest DIGEST = PayloadDigest.of("payload".getBytes(StandardCharsets.UTF_8));
  /** FootprintMain's figure of the Caffeine cache (benchmarks/README.md, quiet run 2026-12-05). */
  static final double LAST_HEAP_PER_CACHED_RECORD = 368;

  @TempDir Path dir;

  /** A 36-character id, as FootprintMain's. */
  private static String id(int i) {
    return String.format("00000000-0000-0000-0001-%012x", i);
  }

  @Test
  void heapPerCachedRecordDoesNotGrow() {
    int n = 50_000;
    try (IdempotencyStore store = IdempotencyStore.builder().region(RegionId.of("region-a"))
        .instance("footprint").directory(dir.resolve("store")).cacheMaxEntries(n)
        .meterRegistry(new SimpleMeterRegistry()).build()) {
      long empty = usedHeapAfterGc();
      for (int i = 0; i < n; i++) {
        int shard = i % 8;
        String id = id(i);
        assertTrue(store.claim(id, shard, DIGEST, 0, Duration.ofMinutes(5))
            instanceof ClaimResult.Acquired);
        store.complete(id, shard, null);
      }
      for (int i = 0; i < n; i++) {
        assertTrue(store.isTerminal(id(i), i % 8));
      }
      long full = usedHeapAfterGc();
      long entries = store.stats().cacheEntries();
      assertEquals(n, entries, "every completed record is cached");
      double perRecord = (full - empty) / (double) entries;
      System.out.printf("[footprint] heap per cached record: %.1f B (%d entries)%n", perRecord,
          entries);
      assertTrue(perRecord <= LAST_HEAP_PER_CACHED_RECORD,
          "heap per cached record must not grow past " + LAST_HEAP_PER_CACHED_RECORD + " B; measured "
              + perRecord);
    }
  }

  @Test
  void aPutIntoAFullCacheAllocatesOnlyItsMapNode() {
    int max = 16_384;
    int measured = 4 * max;
    IdRecord[] records = new IdRecord[3 * max + measured];
    for (int i = 0; i < records.length; i++) {
      records[i] = new IdRecord(id(i), i % 8, 0, Phase.COMPLETED, 1, 0, RecordCachesTest.ME, 1_000,
          i, 0, new TreeSet<>(Set.of(DIGEST)), null, null, null);
    }
    RecordCaches c = new RecordCaches(max);
    for (int i = 0; i < 3 * max; i++) { // fills, then evicts (warms the eviction path up)
      c.putTerminal(records[i]);
    }
    long before = allocated();
    for (int i = 3 * max; i < records.length; i++) {
      c.putTerminal(records[i]);
    }
    double perPut = (double) (allocated() - before) / measured;
    System.out.printf("[alloc] putTerminal into a full cache: %.1f B/put%n", perPut);
    assertNotNull(c.terminal(records[records.length - 1].shard(), records[records.length - 1].id()));
    // a ConcurrentHashMap node is 32 B; the Caffeine cache allocated its own node and a write-buffer
    // task besides
    assertTrue(perPut <= 40, "a put allocates its map node only; measured " + perPut + " B/put");
  }
}
