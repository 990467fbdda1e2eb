package dev.tandem.store;

import static dev.tandem.store.Stores.A;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;

/** A corrupt, foreign or non-store directory is refused with a clear error naming the path. */
class DirectoryValidationTest {

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(Stores.START);

  StoreException refused() {
    StoreException e = assertThrows(StoreException.class, () -> Stores.open(dir, A, "a1", clock));
    assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
    return e;
  }

  @Test
  void aPlainNonEmptyDirectoryIsNotAStore() throws Exception {
    Files.writeString(dir.resolve("notes.txt"), "my files");
    assertTrue(refused().getMessage().contains("not a Tandem store"));
    assertEquals("my files", Files.readString(dir.resolve("notes.txt")));
  }

  @Test
  void aFileIsNotADirectory() throws Exception {
    Path file = dir.resolve("file");
    Files.writeString(file, "x");
    StoreException e =
        assertThrows(StoreException.class, () -> Stores.open(file, A, "a1", clock));
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
  }

  @Test
  void garbageFilesAreCorruptNotAnEmptyStore() throws Exception {
    Random random = new Random(7);
    byte[] junk = new byte[4096];
    random.nextBytes(junk);
    Files.writeString(dir.resolve("CURRENT"), "MANIFEST-000042\n");
    Files.write(dir.resolve("MANIFEST-000042"), junk);
    Files.write(dir.resolve("000041.log"), junk);
    StoreException e = refused();
    assertTrue(e.getMessage().contains("restored from the changelog"), e.getMessage());
  }

  @Test
  void aStoreWhoseFilesWereOverwrittenIsRefused() throws Exception {
    try (IdempotencyStore store = Stores.open(dir, A, "a1", clock)) {
      for (int i = 0; i < 50; i++) {
        store.claim("m" + i, 0, Stores.digest("p"), 0, Stores.LEASE);
      }
    }
    byte[] junk = new byte[8192];
    new Random(11).nextBytes(junk);
    List<Path> manifests = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      files.filter(p -> p.getFileName().toString().startsWith("MANIFEST-"))
          .forEach(manifests::add);
    }
    assertTrue(!manifests.isEmpty());
    for (Path m : manifests) {
      Files.write(m, junk);
    }
    refused();
  }

  @Test
  void aForeignRocksDbWithOtherColumnFamiliesIsRefusedAndLeftUntouched() throws Exception {
    try (DBOptions o = new DBOptions().setCreateIfMissing(true)
        .setCreateMissingColumnFamilies(true)) {
      List<ColumnFamilyHandle> handles = new ArrayList<>();
      try (RocksDB db = RocksDB.open(o, dir.toString(), List.of(
          new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY),
          new ColumnFamilyDescriptor("KSTREAM-STATE".getBytes(StandardCharsets.UTF_8))), handles)) {
        db.put(handles.get(1), "k".getBytes(), "v".getBytes());
        handles.forEach(ColumnFamilyHandle::close);
      }
    }
    assertTrue(refused().getMessage().contains("KSTREAM-STATE"));
    assertEquals(2, columnFamilies().size());
  }

  @Test
  void aForeignRocksDbWithOnlyTheDefaultFamilyIsRefusedAndLeftUntouched() throws Exception {
    try (Options o = new Options().setCreateIfMissing(true);
        RocksDB db = RocksDB.open(o, dir.toString())) {
      db.put("someone".getBytes(), "else's data".getBytes());
    }
    refused();
    assertEquals(List.of("default"), columnFamilies());
  }

  @Test
  void ourOwnStoreReopensWithItsData() {
    try (IdempotencyStore store = Stores.open(dir, A, "a1", clock)) {
      store.complete("m", 0, null);
    }
    try (IdempotencyStore store = Stores.open(dir, A, "a1", clock)) {
      assertEquals(Phase.COMPLETED, store.get("m", 0).orElseThrow().phase());
    }
  }

  @Test
  void aStoreOpenTwiceIsRefusedClearly() {
    try (IdempotencyStore store = Stores.open(dir, A, "a1", clock)) {
      store.complete("m", 0, null);
      refused();
      assertTrue(store.isTerminal("m", 0)); // the first one is unharmed
    }
  }

  @Test
  void aClosedStoreRefusesCalls() {
    IdempotencyStore store = Stores.open(dir, A, "a1", clock);
    store.close();
    store.close(); // idempotent
    assertThrows(IllegalStateException.class, () -> store.get("m", 0));
  }

  private List<String> columnFamilies() throws Exception {
    try (Options o = new Options()) {
      return RocksDB.listColumnFamilies(o, dir.toString()).stream()
          .map(b -> new String(b, StandardCharsets.UTF_8)).toList();
    }
  }
}
