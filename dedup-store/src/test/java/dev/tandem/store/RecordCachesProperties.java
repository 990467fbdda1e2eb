package dev.tandem.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * The terminal cache against reference models, over random sequences of puts (new and replacing),
 * look-ups, invalidations, shard drops and clears (issue 20):
 *
 * <ul>
 *   <li>always: a look-up answers the key's last put record or nothing (never a record removed,
 *       replaced or of another key); the size is the number of entries and never over the bound;
 *       the hit and miss counts are the look-ups' answers;
 *   <li>while no entry was invalidated since the last clear: the entries are exactly those of a
 *       {@code LinkedHashMap} in insertion order that drops its eldest when a new key would pass
 *       the bound (replacements keep their place), and the eviction count is its drops.
 * </ul>
 */
class RecordCachesProperties {

  sealed interface Op permits Put, Get, Invalidate, Drop, Clear {}

  record Put(int shard, int id, int version) implements Op {}

  record Get(int shard, int id) implements Op {}

  record Invalidate(int shard, int id) implements Op {}

  record Drop(int shard) implements Op {}

  record Clear() implements Op {}

  record Key(int shard, String id) {}

  @Provide
  Arbitrary<List<Op>> ops() {
    Arbitrary<Integer> shard = Arbitraries.integers().between(0, 3);
    Arbitrary<Integer> id = Arbitraries.integers().between(0, 11);
    Arbitrary<Op> put = Combinators.combine(shard, id, Arbitraries.integers().between(1, 3))
        .as(Put::new);
    Arbitrary<Op> get = Combinators.combine(shard, id).as(Get::new);
    Arbitrary<Op> inv = Combinators.combine(shard, id).as(Invalidate::new);
    Arbitrary<Op> drop = shard.map(Drop::new);
    Arbitrary<Op> clear = Arbitraries.just(new Clear());
    return Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(10, put), net.jqwik.api.Tuple.of(8, get),
            net.jqwik.api.Tuple.of(2, inv), net.jqwik.api.Tuple.of(1, drop),
            net.jqwik.api.Tuple.of(1, clear))
        .list().ofMaxSize(120);
  }

  @Property(tries = 400)
  void theCacheAgreesWithItsModels(@ForAll("ops") List<Op> ops,
      @ForAll @IntRange(min = 0, max = 8) int max) {
    RecordCaches c = new RecordCaches(max);
    Map<Key, IdRecord> latest = new HashMap<>(); // unbounded: what RocksDB would hold
    LinkedHashMap<Key, IdRecord> bounded = new LinkedHashMap<>(); // insertion order, eldest first
    boolean exact = true; // no invalidation since the last clear
    long evictions = 0;
    long hits = 0;
    long misses = 0;
    for (Op op : ops) {
      if (op instanceof Put p) {
        Key k = new Key(p.shard(), "id" + p.id());
        IdRecord r = RecordCachesTest.record(k.id(), k.shard(), Phase.COMPLETED, p.version());
        c.putTerminal(r);
        latest.put(k, r);
        if (max > 0) {
          if (bounded.containsKey(k)) {
            bounded.put(k, r); // keeps its place
          } else {
            if (bounded.size() == max) {
              bounded.remove(bounded.keySet().iterator().next());
              evictions++;
            }
            bounded.put(k, r);
          }
        }
      } else if (op instanceof Get g) {
        Key k = new Key(g.shard(), "id" + g.id());
        IdRecord got = c.terminal(k.shard(), k.id());
        if (got != null) {
          hits++;
          assertSame(latest.get(k), got, "a hit answers the key's last put record");
        } else {
          misses++;
        }
      } else if (op instanceof Invalidate i) {
        Key k = new Key(i.shard(), "id" + i.id());
        c.invalidateTerminal(k.shard(), k.id());
        latest.remove(k);
        if (bounded.remove(k) != null) {
          exact = false; // from here, a stale slot may evict an entry early
        }
      } else if (op instanceof Drop d) {
        c.dropShard(d.shard());
        latest.keySet().removeIf(k -> k.shard() == d.shard());
        bounded.keySet().removeIf(k -> k.shard() == d.shard());
      } else {
        c.clear();
        latest.clear();
        bounded.clear();
        exact = true;
        evictions = c.figures().evictions(); // counted from here (the count survives a clear)
      }
      RecordCaches.Figures f = c.figures();
      assertTrue(f.size() <= max, "over the bound: " + f.size() + " > " + max);
      assertEquals(hits, f.hits());
      assertEquals(misses, f.misses());
      if (exact) {
        assertEquals(bounded.size(), f.size(), "entries of the insertion-order model");
      }
    }
    // every entry: its last record or nothing; while exact, exactly the model's
    int present = 0;
    for (int shard = 0; shard <= 3; shard++) {
      for (int id = 0; id <= 11; id++) {
        Key k = new Key(shard, "id" + id);
        IdRecord got = c.terminal(shard, k.id());
        if (got != null) {
          present++;
          assertSame(latest.get(k), got);
        }
        if (exact) {
          assertSame(bounded.get(k), got, "the model's entry for " + k);
        }
      }
    }
    assertEquals(present, c.figures().size());
    if (exact) {
      assertEquals(evictions, c.figures().evictions());
    }
  }
}
