package dev.tandem.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.PerfContext;
import org.rocksdb.PerfLevel;
import org.rocksdb.RocksDB;

/**
 * A fresh id's claim looks its key up before writing it; the buckets' memtable bloom filter must
 * answer that look-up (issue 20), read from RocksDB's own per-thread counters.
 */
class MemtableBloomTest {

  @TempDir Path dir;

  @Test
  void aFreshIdsLookUpIsAnsweredByTheMemtableBloomFilter() {
    try (RocksEngine engine = RocksEngine.open(dir.resolve("s"), false, 86_400_000L)) {
      var cf = engine.createBucket(0);
      for (int i = 0; i < 1_000; i++) {
        engine.put(cf, new RecordKey(0, "stored-" + i).bytes(), new byte[] {1});
      }
      RocksDB db = engine.db();
      db.setPerfLevel(PerfLevel.ENABLE_COUNT);
      try {
        PerfContext perf = db.getPerfContext();
        perf.reset();
        int fresh = 1_000;
        for (int i = 0; i < fresh; i++) {
          assertNull(engine.get(new RecordKey(0, "fresh-" + i).bytes()));
        }
        long missed = perf.getBloomMemtableMissCount();
        long hit = perf.getBloomMemtableHitCount();
        assertEquals(fresh, missed + hit, "every look-up asked the memtable filter");
        // a 10 % filter of a 64 MiB memtable holding 1,000 keys: false positives are rare
        assertTrue(missed >= fresh * 0.99, "the filter answered the fresh ids: " + missed);
      } finally {
        db.setPerfLevel(PerfLevel.DISABLE);
      }
    }
  }
}
