package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.store.spi.ReplicaStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link IdempotencyStore#terminalRecords} (the interceptor's one read per poll), the read-side id
 * check, and the record a write keeps in hand for the next write of the same id.
 */
class BatchReadTest {

  @TempDir Path dirA;
  @TempDir Path dirB;
  final ManualClock clock = new ManualClock(START);

  @Test
  void answersExactlyTheTerminalRecordsAsGetDoes() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock)) {
      SplittableRandom rnd = new SplittableRandom(42);
      List<RecordKey> keys = new ArrayList<>();
      for (int i = 0; i < 300; i++) {
        String id = "id-" + i;
        int shard = i % 5;
        keys.add(new RecordKey(shard, id));
        switch (rnd.nextInt(5)) {
          case 0 -> { } // absent
          case 1 -> a.claim(id, shard, digest("p" + i), 0, LEASE); // claimed: not terminal
          case 2 -> {
            a.claim(id, shard, digest("p" + i), 0, LEASE);
            a.complete(id, shard, null);
          }
          case 3 -> a.deadLetter(id, shard, "poison");
          default -> {
            a.claim(id, shard, digest("p" + i), 0, LEASE);
            a.release(id, shard); // released: not terminal
          }
        }
      }
      keys.add(keys.get(7)); // a key asked twice is answered once
      Map<RecordKey, IdRecord> expected = new HashMap<>();
      for (RecordKey k : keys) {
        a.get(k.id(), k.shard()).filter(IdRecord::isTerminal).ifPresent(r -> expected.put(k, r));
      }
      assertTrue(expected.size() > 50 && expected.size() < 250, "a real mix: " + expected.size());
      assertEquals(expected, a.terminalRecords(keys));
    }
  }

  @Test
  void readsTheMissesFromRocksDbAcrossBucketsAndFillsTheCache() {
    Path dir = dirA.resolve("s");
    // a 7-day TTL makes 1-day buckets: records written a day apart live in two column families
    try (IdempotencyStore a = Stores.open(dir, A, "a1", clock)) {
      a.claim("old", 0, digest("p"), 0, LEASE);
      a.complete("old", 0, null);
      clock.advance(Duration.ofDays(1).plusMinutes(1));
      a.claim("new", 1, digest("q"), 0, LEASE);
      a.complete("new", 1, null);
      a.deadLetter("dead", 1, "poison");
    }
    // reopened: an empty cache, so every answer comes from the multiGet
    try (IdempotencyStore a = Stores.open(dir, A, "a1", clock)) {
      assertEquals(2, a.stats().liveBuckets());
      List<RecordKey> keys = List.of(new RecordKey(0, "old"), new RecordKey(1, "new"),
          new RecordKey(1, "dead"), new RecordKey(0, "absent"), new RecordKey(1, "old"));
      long missesBefore = a.stats().cacheMisses();
      Map<RecordKey, IdRecord> found = a.terminalRecords(keys);
      assertEquals(3, found.size(), found.toString());
      assertEquals(Phase.COMPLETED, found.get(new RecordKey(0, "old")).phase());
      assertEquals(Phase.COMPLETED, found.get(new RecordKey(1, "new")).phase());
      assertEquals(Phase.DEAD_LETTERED, found.get(new RecordKey(1, "dead")).phase());
      assertEquals(missesBefore + 5, a.stats().cacheMisses());
      assertEquals(3, a.stats().cacheEntries(), "the terminal records found fill the cache");
      long hitsBefore = a.stats().cacheHits();
      assertEquals(found, a.terminalRecords(keys));
      assertEquals(hitsBefore + 3, a.stats().cacheHits(), "the second call is answered by the cache");
      // and the cached records answer claims as before
      assertInstanceOf(ClaimResult.AlreadyCompleted.class, a.claim("old", 0, digest("p"), 0, LEASE));
    }
  }

  @Test
  void keysRepeatedWithinOneCallAreAnsweredAsOnceOnTheMissPath() {
    // a poll repeats an id when a record is fetched twice (a producer retry): the repeats reach the
    // RocksDB read (the cache is empty after a reopen) and must be answered exactly as a single key
    Path dir = dirA.resolve("s");
    try (IdempotencyStore a = Stores.open(dir, A, "a1", clock)) {
      a.claim("done", 0, digest("p"), 0, LEASE);
      a.complete("done", 0, null);
      a.deadLetter("dead", 1, "poison");
      a.claim("open", 0, digest("q"), 0, LEASE); // claimed: not terminal
      a.claim("done", 2, digest("p"), 0, LEASE); // the same id in another shard: another record
    }
    try (IdempotencyStore a = Stores.open(dir, A, "a1", clock)) {
      // equal keys as distinct objects, repeated next to each other and apart, of every kind
      List<RecordKey> keys = List.of(new RecordKey(0, "done"), new RecordKey(0, "done"),
          new RecordKey(1, "dead"), new RecordKey(0, "open"), new RecordKey(0, "absent"),
          new RecordKey(2, "done"), new RecordKey(1, "dead"), new RecordKey(0, "open"),
          new RecordKey(0, "absent"), new RecordKey(0, "done"));
      long missesBefore = a.stats().cacheMisses();
      Map<RecordKey, IdRecord> found = a.terminalRecords(keys);
      assertEquals(Map.of(new RecordKey(0, "done"), a.get("done", 0).orElseThrow(),
          new RecordKey(1, "dead"), a.get("dead", 1).orElseThrow()), found);
      assertEquals(Phase.COMPLETED, found.get(new RecordKey(0, "done")).phase());
      assertEquals(Phase.DEAD_LETTERED, found.get(new RecordKey(1, "dead")).phase());
      assertEquals(missesBefore + keys.size(), a.stats().cacheMisses(), "each key given is one lookup");
      assertEquals(2, a.stats().cacheEntries(), "each terminal record cached once");
      long hitsBefore = a.stats().cacheHits();
      assertEquals(found, a.terminalRecords(keys), "the same answer from the cache");
      assertEquals(hitsBefore + 5, a.stats().cacheHits(), "the five terminal keys given hit the cache");
      // a call of repeats only, every one a miss
      assertEquals(Map.of(), a.terminalRecords(List.of(new RecordKey(3, "x"), new RecordKey(3, "x"))));
    }
  }

  @Test
  void aRecordThatGrewRemotelyIsAnsweredAsStored() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock);
        IdempotencyStore b = Stores.open(dirB, B, "b1", clock)) {
      a.claim("m", 0, digest("p"), 0, LEASE);
      a.complete("m", 0, null);
      b.claim("m", 0, digest("p"), 0, LEASE);
      ReplicaStore.of(a).applyRemote(b.complete("m", 0, null));
      IdRecord viaBatch = a.terminalRecords(List.of(new RecordKey(0, "m"))).get(new RecordKey(0, "m"));
      assertEquals(a.get("m", 0).orElseThrow(), viaBatch);
      assertTrue(viaBatch.isDetectedDuplicate());
    }
  }

  @Test
  void readsRefuseNullEmptyAndOversizedIdsClearlyAndFindNoControlCharacterIds() {
    try (IdempotencyStore a = Stores.open(dirA, A, "a1", clock)) {
      IllegalArgumentException tooLong =
          assertThrows(IllegalArgumentException.class, () -> a.get("x".repeat(129), 0));
      assertTrue(tooLong.getMessage().contains("at most 128"), tooLong.getMessage());
      assertThrows(IllegalArgumentException.class, () -> a.isTerminal("x".repeat(129), 0));
      assertThrows(IllegalArgumentException.class, () -> a.get(null, 0));
      assertThrows(IllegalArgumentException.class, () -> a.isTerminal("", 0));
      assertThrows(IllegalArgumentException.class, () -> new RecordKey(0, null));
      assertThrows(IllegalArgumentException.class, () -> new RecordKey(-1, "m"));
      assertThrows(NullPointerException.class,
          () -> a.terminalRecords(Arrays.asList(new RecordKey(0, "m"), null)));
      // writes refuse control characters, so a read of such an id can only find nothing
      assertThrows(IllegalArgumentException.class, () -> a.claim("m\u0007", 0, digest("p"), 0, LEASE));
      assertThrows(IllegalArgumentException.class, () -> a.deadLetter("m\u0000", 0, "x"));
      assertTrue(a.get("m\u0007", 0).isEmpty());
      assertFalse(a.isTerminal("m\u0000", 0));
      assertTrue(a.terminalRecords(List.of(new RecordKey(0, "m\u0000"))).isEmpty());
    }
  }

  @Test
  void aCompleteMergesIntoTheClaimedRecordInHandAndAFreshStoreReadsTheSame() {
    Path dir = dirA.resolve("s");
    IdRecord done;
    try (IdempotencyStore a = Stores.open(dir, A, "a1", clock)) {
      assertInstanceOf(ClaimResult.Acquired.class, a.claim("m", 3, digest("p"), 2, LEASE));
      done = a.complete("m", 3, "ok".getBytes());
      assertEquals(Phase.COMPLETED, done.phase());
      assertEquals(1, done.attempt());
      assertEquals(2, done.epoch());
      assertEquals(List.of(digest("p")), List.copyOf(done.digests()));
      assertEquals(List.of(Completer.of(a.owner(), 1)), List.copyOf(done.completers()));
      // a release, a new claim and a complete of a second id, all from the record in hand
      a.claim("n", 3, digest("q"), 0, LEASE);
      a.release("n", 3);
      assertInstanceOf(ClaimResult.Acquired.class, a.claim("n", 3, digest("q"), 0, LEASE));
      IdRecord n = a.complete("n", 3, null);
      assertEquals(2, n.attempt());
      assertEquals(List.of(Completer.of(a.owner(), 2)), List.copyOf(n.completers()));
    }
    // what was written is what RocksDB holds: a reopened store (empty caches) reads the same records
    try (IdempotencyStore a = Stores.open(dir, A, "a1", clock)) {
      assertEquals(done, a.get("m", 3).orElseThrow());
      assertEquals(2, a.get("n", 3).orElseThrow().attempt());
    }
  }
}
