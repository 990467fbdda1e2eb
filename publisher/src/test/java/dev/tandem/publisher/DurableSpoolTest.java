package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The RocksDB spool on a real temp directory: order per region, bounds, recovery after reopening. */
class DurableSpoolTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;

  private static CompletableFuture<Void> add(DurableSpool spool, RegionId r, long seq, byte[] value) {
    spool.reserve(r, DurableSpool.recordSize(r, value.length));
    return spool.append(r, seq, value);
  }

  @Test
  void readsInSequenceOrderPerRegionBelowTheLimitAndDeletes(@TempDir Path dir) throws Exception {
    try (DurableSpool spool = DurableSpool.open(dir, 1000, 1 << 20)) {
      List<CompletableFuture<Void>> writes = new ArrayList<>();
      // appended out of order on purpose: the key, not the arrival, orders them
      for (long seq : new long[] {5, 1, 300, 2, 256}) {
        writes.add(add(spool, B, seq, new byte[] {(byte) seq}));
      }
      writes.add(add(spool, A, 3, new byte[] {42}));
      CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
      assertEquals(5, spool.depth(B));
      assertEquals(1, spool.depth(A));
      List<DurableSpool.Entry> below = spool.read(B, 256, 10);
      assertEquals(List.of(1L, 2L, 5L), below.stream().map(DurableSpool.Entry::seq).toList());
      assertEquals(List.of(1L, 2L), spool.read(B, Long.MAX_VALUE, 2).stream().map(DurableSpool.Entry::seq).toList());
      spool.delete(B, below);
      assertEquals(2, spool.depth(B));
      assertEquals(List.of(256L, 300L), spool.read(B, Long.MAX_VALUE, 10).stream().map(DurableSpool.Entry::seq).toList());
      assertEquals(List.of(3L), spool.read(A, Long.MAX_VALUE, 10).stream().map(DurableSpool.Entry::seq).toList());
    }
  }

  @Test
  void reopeningRecoversRecordsCountsAndTheNextSequence(@TempDir Path dir) throws Exception {
    try (DurableSpool spool = DurableSpool.open(dir, 1000, 1 << 20)) {
      assertEquals(0, spool.nextSequence());
      add(spool, B, 7, "seven".getBytes()).get(10, TimeUnit.SECONDS);
      add(spool, B, 9, "nine".getBytes()).get(10, TimeUnit.SECONDS);
    }
    try (DurableSpool spool = DurableSpool.open(dir, 1000, 1 << 20)) {
      assertEquals(10, spool.nextSequence());
      assertEquals(2, spool.depth(B));
      assertEquals(0, spool.depth(A));
      List<DurableSpool.Entry> entries = spool.read(B, Long.MAX_VALUE, 10);
      assertArrayEquals("seven".getBytes(), entries.get(0).bytes());
      assertEquals(List.of(B.name()), spool.regionsWithRecords());
    }
  }

  @Test
  void boundsFailClearlyAndReleaseFreesRoom(@TempDir Path dir) throws Exception {
    try (DurableSpool spool = DurableSpool.open(dir, 2, 1 << 20)) {
      add(spool, B, 1, new byte[10]).get(10, TimeUnit.SECONDS);
      add(spool, B, 2, new byte[10]).get(10, TimeUnit.SECONDS);
      SpoolFullException e = assertThrows(SpoolFullException.class, () -> spool.reserve(B, 30));
      assertTrue(e.getMessage().contains("2 of 2 records"), e.getMessage());
      assertEquals(2, spool.depth(B), "a refused reservation leaves the counts alone");
      spool.delete(B, spool.read(B, Long.MAX_VALUE, 1));
      spool.reserve(B, 30);
      assertEquals(2, spool.depth(B));
    }
    try (DurableSpool spool = DurableSpool.open(dir.resolve("bytes"), 100, 64)) {
      SpoolFullException e = assertThrows(SpoolFullException.class,
          () -> spool.reserve(A, DurableSpool.recordSize(A, 100)));
      assertTrue(e.getMessage().contains("of 64 bytes"), e.getMessage());
      assertEquals(0, spool.totalRecords());
    }
  }

  @Test
  void aSecondSpoolOnTheSameDirectoryIsRefused(@TempDir Path dir) {
    try (DurableSpool spool = DurableSpool.open(dir, 10, 1 << 20)) {
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> DurableSpool.open(dir, 10, 1 << 20));
      assertTrue(e.getMessage().contains("another publisher"), e.getMessage());
    }
  }
}
