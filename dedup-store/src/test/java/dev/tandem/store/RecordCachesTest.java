package dev.tandem.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The shapes of {@link RecordCaches} (issue 20): the terminal cache keyed by id must still answer
 * per (shard, id), including an id held in several shards, and count a look-up under another shard
 * as a miss; {@code recent} slots answer only for their own key.
 */
class RecordCachesTest {

  static final Owner ME = Owner.of("region-a", "i1");
  static final PayloadDigest D = PayloadDigest.of("p".getBytes(StandardCharsets.UTF_8));

  static IdRecord record(String id, int shard, Phase phase, long hlc) {
    return new IdRecord(id, shard, 0, phase, 1, 0, ME, 1_000, hlc, 0, new java.util.TreeSet<>(Set.of(D)), null, null,
        null);
  }

  @Test
  void anIdInSeveralShardsIsCachedPerShard() {
    RecordCaches c = new RecordCaches(100);
    IdRecord s0 = record("m", 0, Phase.COMPLETED, 1);
    IdRecord s3 = record("m", 3, Phase.COMPLETED, 2);
    c.putTerminal(s0);
    c.putTerminal(s3);
    assertSame(s0, c.terminal(0, "m"));
    assertSame(s3, c.terminal(3, "m"));
    assertNull(c.terminal(1, "m"), "a shard the id was not cached in");
    IdRecord s3grown = record("m", 3, Phase.COMPLETED, 5);
    c.putTerminal(s3grown);
    assertSame(s3grown, c.terminal(3, "m"), "a put replaces its shard's record only");
    assertSame(s0, c.terminal(0, "m"));
    c.invalidateTerminal(0, "m");
    assertNull(c.terminal(0, "m"));
    assertSame(s3grown, c.terminal(3, "m"), "invalidating one shard keeps the other");
    c.putTerminal(s0);
    c.dropShard(3);
    assertNull(c.terminal(3, "m"));
    assertSame(s0, c.terminal(0, "m"), "a shard drop keeps the id's other shards");
    c.clear();
    assertNull(c.terminal(0, "m"));
  }

  @Test
  void aLookUpUnderAnotherShardIsAMiss() {
    RecordCaches c = new RecordCaches(100);
    c.putTerminal(record("m", 0, Phase.COMPLETED, 1));
    c.terminal(0, "m");
    c.terminal(1, "m");
    c.terminal(0, "absent");
    assertEquals(1, c.figures().hits());
    assertEquals(2, c.figures().misses());
  }

  @Test
  void recentAnswersOnlyForItsOwnKeyAndMovesToTerminal() {
    RecordCaches c = new RecordCaches(100);
    RecordKey k = new RecordKey(2, "n");
    RocksEngine.Stored claimed = new RocksEngine.Stored(record("n", 2, Phase.CLAIMED, 1), 0);
    c.accepted(k, claimed);
    assertSame(claimed, c.recent(k));
    assertNull(c.recent(new RecordKey(3, "n")), "same id, other shard");
    assertNull(c.terminal(2, "n"), "a claim is never in the terminal cache");
    RocksEngine.Stored done = new RocksEngine.Stored(record("n", 2, Phase.COMPLETED, 2), 0);
    c.accepted(k, done);
    assertNull(c.recent(k), "a terminal record leaves recent");
    assertSame(done.record(), c.terminal(2, "n"));
    // every slot holds one key at most: filling all slots with other keys only evicts
    for (int i = 0; i < 4 * RecordCaches.RECENT_SLOTS; i++) {
      RecordKey other = new RecordKey(1, "o" + i);
      c.accepted(other, new RocksEngine.Stored(record("o" + i, 1, Phase.CLAIMED, 1), 0));
    }
    int kept = 0;
    for (int i = 0; i < 4 * RecordCaches.RECENT_SLOTS; i++) {
      RocksEngine.Stored s = c.recent(new RecordKey(1, "o" + i));
      if (s != null) {
        assertEquals("o" + i, s.record().id());
        kept++;
      }
    }
    assertEquals(true, kept <= RecordCaches.RECENT_SLOTS && kept > 0, "kept " + kept);
  }

  @Test
  void theBoundIsExactAndTheOldestInsertedGoesFirst() {
    RecordCaches c = new RecordCaches(3);
    IdRecord a = record("a", 0, Phase.COMPLETED, 1);
    IdRecord b = record("b", 1, Phase.COMPLETED, 1);
    IdRecord cc = record("c", 0, Phase.DEAD_LETTERED, 1);
    c.putTerminal(a);
    c.putTerminal(b);
    c.putTerminal(cc);
    c.terminal(0, "a"); // a read does not move an entry (insertion order, not access order)
    IdRecord aGrown = record("a", 0, Phase.COMPLETED, 7);
    c.putTerminal(aGrown); // a replacement keeps the entry's place too
    assertEquals(3, c.figures().size());
    c.putTerminal(record("d", 2, Phase.COMPLETED, 1));
    assertEquals(3, c.figures().size(), "never over the bound, not even for a moment");
    assertNull(c.terminal(0, "a"), "the oldest inserted is evicted first");
    assertSame(b, c.terminal(1, "b"));
    assertSame(cc, c.terminal(0, "c"));
    assertEquals(1, c.figures().evictions());
    assertEquals(5, c.figures().puts());
    c.putTerminal(record("e", 0, Phase.COMPLETED, 1));
    assertNull(c.terminal(1, "b"));
    assertEquals(2, c.figures().evictions());
  }

  @Test
  void aZeroBoundCachesNothing() {
    RecordCaches c = new RecordCaches(0);
    c.putTerminal(record("a", 0, Phase.COMPLETED, 1));
    assertNull(c.terminal(0, "a"));
    assertEquals(0, c.figures().size());
  }

  @Test
  void anInvalidatedEntryLeavesAStaleSlotThatNeverLetsTheCacheOverflow() {
    RecordCaches c = new RecordCaches(3);
    IdRecord a = record("a", 0, Phase.COMPLETED, 1);
    c.putTerminal(a);
    c.putTerminal(record("b", 0, Phase.COMPLETED, 1));
    c.invalidateTerminal(0, "a"); // a re-drive
    assertEquals(1, c.figures().size());
    assertEquals(2, c.ringSlots(), "the slot stays until its turn");
    c.putTerminal(a); // its completion: cached again, a second slot; the first is the oldest
    assertEquals(2, c.figures().size());
    assertEquals(3, c.ringSlots());
    assertSame(a, c.terminal(0, "a"));
    c.putTerminal(record("x", 0, Phase.COMPLETED, 1)); // the ring is full: its oldest slot goes
    assertEquals(2, c.figures().size(), "one under the bound while a's second slot is stale");
    assertNull(c.terminal(0, "a"), "evicted at its first slot: early, never wrong");
    assertNotNull(c.terminal(0, "b"));
    assertNotNull(c.terminal(0, "x"));
    c.putTerminal(record("y", 0, Phase.COMPLETED, 1)); // b's slot is the oldest now
    assertNull(c.terminal(0, "b"));
    assertEquals(2, c.figures().size());
    c.putTerminal(record("z", 0, Phase.COMPLETED, 1)); // a's stale slot goes, nothing evicted
    assertEquals(3, c.figures().size(), "back at the bound once the stale slot is gone");
    assertEquals(2, c.figures().evictions());
  }

  @Test
  void aShardDropCompactsTheRingAndLargeShardsAreNotCached() {
    RecordCaches c = new RecordCaches(4);
    for (int i = 0; i < 4; i++) {
      c.putTerminal(record("r" + i, i % 2, Phase.COMPLETED, 1));
    }
    c.dropShard(1);
    assertEquals(2, c.figures().size());
    assertEquals(2, c.ringSlots(), "the dropped shard's slots are gone");
    c.putTerminal(record("s", 5, Phase.COMPLETED, 1));
    c.putTerminal(record("t", 5, Phase.COMPLETED, 1));
    assertEquals(4, c.figures().size(), "room for the dropped shard's entries, no eviction");
    assertEquals(0, c.figures().evictions());
    c.putTerminal(record("big", RecordCaches.CACHED_SHARDS, Phase.COMPLETED, 1));
    assertNull(c.terminal(RecordCaches.CACHED_SHARDS, "big"), "read from RocksDB instead");
    c.clear();
    assertEquals(0, c.figures().size());
    assertEquals(0, c.ringSlots());
  }

  /**
   * The store's discipline: each key is written (put, invalidate) by one thread at a time (its
   * stripe), reads come from every thread. A read answers only its own key's last record or null,
   * the bound holds, and the per-thread hit and miss counts add up to every look-up made.
   */
  @Test
  void concurrentPutsReadsAndInvalidationsKeepTheBoundTheEntriesAndTheCounts() throws Exception {
    int writers = 3;
    int keysPerWriter = 600;
    int max = 500; // below the keys: evictions run all along
    int rounds = 20;
    RecordCaches c = new RecordCaches(max);
    IdRecord[][] records = new IdRecord[writers][keysPerWriter];
    for (int w = 0; w < writers; w++) {
      for (int k = 0; k < keysPerWriter; k++) {
        records[w][k] = record("w" + w + "-" + k, k % 4, Phase.COMPLETED, w);
      }
    }
    ExecutorService pool = Executors.newFixedThreadPool(writers + 2);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<Long>> lookups = new ArrayList<>();
    try {
      for (int w = 0; w < writers; w++) {
        int me = w;
        lookups.add(pool.submit(() -> {
          start.await();
          long n = 0;
          for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < keysPerWriter; k++) {
              IdRecord mine = records[me][k];
              if ((k + r) % 5 == 0) {
                c.invalidateTerminal(mine.shard(), mine.id());
                assertNull(c.terminal(mine.shard(), mine.id()), "read after own invalidate");
              } else {
                c.putTerminal(mine);
                IdRecord got = c.terminal(mine.shard(), mine.id());
                assertTrue(got == null || got == mine, "own key: its record or evicted");
              }
              n++;
            }
          }
          return n;
        }));
      }
      for (int rd = 0; rd < 2; rd++) {
        lookups.add(pool.submit(() -> {
          start.await();
          long n = 0;
          for (int r = 0; r < rounds; r++) {
            for (int w = 0; w < writers; w++) {
              for (int k = 0; k < keysPerWriter; k++) {
                IdRecord want = records[w][k];
                IdRecord got = c.terminal(want.shard(), want.id());
                assertTrue(got == null || got == want, "a read answers its own key only");
                n++;
              }
            }
            assertTrue(c.figures().size() <= max, "bound " + c.figures().size());
          }
          return n;
        }));
      }
      start.countDown();
      long total = 0;
      for (Future<Long> f : lookups) {
        total += f.get(60, TimeUnit.SECONDS);
      }
      RecordCaches.Figures f = c.figures();
      assertEquals(total, f.hits() + f.misses(), "every look-up counted once, whatever thread");
      int present = 0;
      for (int w = 0; w < writers; w++) {
        for (int k = 0; k < keysPerWriter; k++) {
          IdRecord got = c.terminal(records[w][k].shard(), records[w][k].id());
          if (got != null) {
            present++;
            assertTrue((k + rounds - 1) % 5 != 0, "a key last invalidated is not cached");
          }
        }
      }
      assertEquals(present, f.size(), "the size counts the entries");
      assertTrue(present <= max);
      assertTrue(f.evictions() > 0);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void theCountsOfEndedThreadsAreKeptAndTheirCellsFolded() throws Exception {
    RecordCaches c = new RecordCaches(10);
    c.putTerminal(record("a", 0, Phase.COMPLETED, 1));
    for (int t = 0; t < 20; t++) {
      Thread th = new Thread(() -> {
        c.terminal(0, "a");
        c.terminal(0, "b");
      });
      th.start();
      th.join();
    }
    RecordCaches.Figures f = c.figures();
    assertEquals(20, f.hits());
    assertEquals(20, f.misses());
    c.terminal(0, "a"); // this thread registers: the ended threads' cells are folded
    assertEquals(21, c.figures().hits());
    assertEquals(1, c.countCells(), "one cell: this thread's; the 20 ended ones were folded");
  }
}
