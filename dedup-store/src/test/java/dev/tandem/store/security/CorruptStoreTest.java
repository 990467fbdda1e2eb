package dev.tandem.store.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreException;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksIterator;

/**
 * Damaged store files on a real RocksDB: a truncated SST, a bit flipped inside an SST, a bit flipped
 * inside a stored record. Each is a {@link StoreException} naming the directory and saying how to
 * recover (delete it, restore from the changelog), never a silently smaller store. The restore itself
 * is {@code dev.tandem.store.replication.CorruptStoreRestoreTest}.
 */
class CorruptStoreTest {

  static final int N = 2_000;
  @TempDir Path dir;
  Path storeDir;

  @BeforeEach
  void writeAndFlush() {
    storeDir = dir.resolve("store");
    try (IdempotencyStore s = open()) {
      for (int i = 0; i < N; i++) {
        String id = "order-" + i;
        s.claim(id, i % 4, PayloadDigest.of(id.getBytes(StandardCharsets.UTF_8)), 0,
            Duration.ofMinutes(5));
        s.complete(id, i % 4, ("result of " + id).getBytes(StandardCharsets.UTF_8));
      }
    }
    // reopening replays the log into SST files: the damage below hits table files, not the WAL
    open().close();
    assertFalse(ssts().isEmpty(), "the store has table files");
  }

  IdempotencyStore open() {
    return IdempotencyStore.builder().region(TestRegions.A).instance("a1")
        .directory(storeDir).meterRegistry(new SimpleMeterRegistry()).build();
  }

  /** Opens and reads every record; the error must come from open or from the reads. */
  StoreException refusedOnOpenOrRead() {
    return assertThrows(StoreException.class, () -> {
      try (IdempotencyStore s = open()) {
        List<IdRecord> all = new ArrayList<>();
        s.forEach(all::add);
        for (int i = 0; i < N; i++) {
          assertEquals(Phase.COMPLETED, s.get("order-" + i, i % 4).orElseThrow().phase());
        }
        assertEquals(N, all.size(), "a damaged store must not read as a smaller one");
      }
    });
  }

  static void assertSaysWhereAndHowToRecover(StoreException e) {
    String m = e.getMessage();
    assertTrue(m.contains("store"), m);
    assertTrue(m.contains("changelog") && m.toLowerCase().contains("delete"), m);
  }

  @Test
  void aTruncatedTableFileIsRefusedWithThePathAndTheRestoreAdvice() throws Exception {
    Path sst = largestSst();
    long size = Files.size(sst);
    try (FileChannel ch = FileChannel.open(sst, StandardOpenOption.WRITE)) {
      ch.truncate(size / 2);
    }
    StoreException e = refusedOnOpenOrRead();
    assertTrue(e.getMessage().contains(storeDir.toString()), e.getMessage());
    assertSaysWhereAndHowToRecover(e);
  }

  @Test
  void aBitFlipInATableFileIsRefusedWithThePathAndTheRestoreAdvice() throws Exception {
    Path sst = largestSst();
    byte[] bytes = Files.readAllBytes(sst);
    bytes[bytes.length / 4] ^= 0x10; // inside a data block (blocks come first, footer last)
    Files.write(sst, bytes);
    StoreException e = refusedOnOpenOrRead();
    assertTrue(e.getMessage().contains(storeDir.toString()), e.getMessage());
    assertSaysWhereAndHowToRecover(e);
  }

  @Test
  void aBitFlipInsideAStoredRecordIsRefusedNotHalfRead() throws Exception {
    // rewrite one stored value with one bit flipped, through RocksDB itself (valid SST checksums):
    // only the record's own CRC can catch it
    String flippedKey = flipOneRecordValue();
    StoreException e = refusedOnOpenOrRead();
    assertTrue(e.getMessage().contains(storeDir.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("corrupt record"), e.getMessage());
    assertTrue(e.getMessage().contains(flippedKey), "names the key: " + e.getMessage());
    assertSaysWhereAndHowToRecover(e);
  }

  String flipOneRecordValue() throws Exception {
    List<byte[]> names;
    try (Options o = new Options()) {
      names = RocksDB.listColumnFamilies(o, storeDir.toString());
    }
    List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
    for (byte[] n : names) {
      descriptors.add(new ColumnFamilyDescriptor(n));
    }
    List<ColumnFamilyHandle> handles = new ArrayList<>();
    try (DBOptions o = new DBOptions();
        RocksDB db = RocksDB.open(o, storeDir.toString(), descriptors, handles)) {
      try {
        for (int i = 0; i < names.size(); i++) {
          String name = new String(names.get(i), StandardCharsets.UTF_8);
          if (name.equals("default") || name.equals("leases") || name.equals("meta")) {
            continue;
          }
          try (RocksIterator it = db.newIterator(handles.get(i))) {
            it.seekToFirst();
            if (it.isValid() && it.value().length > 10) {
              byte[] k = it.key();
              byte[] v = it.value();
              v[v.length / 2] ^= 0x01;
              db.put(handles.get(i), k, v);
              return java.util.HexFormat.of().formatHex(k);
            }
          }
        }
      } finally {
        handles.forEach(ColumnFamilyHandle::close);
      }
    }
    throw new AssertionError("no record found to damage in " + names.size() + " column families");
  }

  List<Path> ssts() {
    try (Stream<Path> files = Files.list(storeDir)) {
      return files.filter(p -> p.getFileName().toString().endsWith(".sst")).toList();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  Path largestSst() {
    return ssts().stream().max(Comparator.comparingLong(p -> p.toFile().length())).orElseThrow();
  }
}
