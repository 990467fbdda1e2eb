package dev.tandem.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.tandem.core.PayloadDigest;
import java.nio.charset.StandardCharsets;
import java.util.Set;
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
    assertEquals(1, c.terminal.stats().hitCount());
    assertEquals(2, c.terminal.stats().missCount());
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
}
