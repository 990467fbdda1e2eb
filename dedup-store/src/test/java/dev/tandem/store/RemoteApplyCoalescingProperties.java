package dev.tandem.store;

import static org.junit.jupiter.api.Assertions.assertEquals;


import dev.tandem.core.ManualClock;
import dev.tandem.core.PayloadDigest;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * Applying a poll's remote changes as ONE batch — where a claim and its COMPLETED (any changes of one
 * id) are coalesced into one staged write — leaves exactly what applying them one by one leaves:
 * the same record per id, the same detected-duplicate count, and the same TTL bucket (checked by
 * letting the clock run past the TTL and comparing which records are still there, day by day).
 * Write times span the TTL (7 days, 1-day buckets), so changes that are past their TTL alone, and
 * intermediate heads written later than the final head, both occur (issue 20).
 */
class RemoteApplyCoalescingProperties {

  private static final long DAY = Duration.ofDays(1).toMillis();
  private static final long NOW = Stores.START + 10 * DAY;
  private static final List<String> IDS = List.of("m0", "m1", "m2");

  private record Change(int id, Head head, Tail tail) {}

  private record Head(long generation, Phase phase, int attempt, Owner owner, long hlc,
      long writtenAt) {}

  private record Tail(Set<PayloadDigest> digests, Set<Completer> completers, byte[] result) {}

  private static IdRecord record(Change c) {
    Head h = c.head;
    return new IdRecord(IDS.get(c.id), 0, h.generation, h.phase,
        h.phase == Phase.CLAIMED && h.attempt == 0 ? 1 : h.attempt, 0, h.owner, 30_000, h.hlc,
        h.writtenAt, new TreeSet<>(c.tail.digests), new TreeSet<>(c.tail.completers), c.tail.result,
        null);
  }

  @Provide
  Arbitrary<List<Change>> changes() {
    Arbitrary<Head> heads = Combinators.combine(
        Arbitraries.longs().between(0, 1),
        Arbitraries.of(Phase.CLAIMED, Phase.COMPLETED, Phase.COMPLETED),
        Arbitraries.integers().between(0, 2),
        Arbitraries.of(IdRecordProperties.OWNERS),
        Arbitraries.longs().between(0, 5),
        // from 10 days before now (past the 7-day TTL) to now, in 6-hour steps
        Arbitraries.integers().between(0, 40).map(q -> NOW - q * (DAY / 4)))
        .as(Head::new);
    Arbitrary<Tail> tails = Combinators.combine(
        Arbitraries.of(IdRecordProperties.DIGESTS).set().ofMaxSize(2),
        Combinators.combine(Arbitraries.of(IdRecordProperties.OWNERS),
            Arbitraries.integers().between(0, 1)).as(Completer::of).set().ofMaxSize(2),
        Arbitraries.of(0, 1).map(i -> i == 0 ? null : new byte[] {1}))
        .as(Tail::new);
    return Combinators.combine(Arbitraries.integers().between(0, IDS.size() - 1), heads, tails)
        .as(Change::new).list().ofMinSize(1).ofMaxSize(12);
  }

  @Property(tries = 40)
  void oneBatchEqualsOneByOne(@ForAll("changes") List<Change> changes,
      @ForAll @IntRange(min = 0, max = 4) int alreadyStored) throws IOException {
    Path dir = Files.createTempDirectory("coalesce");
    ManualClock c1 = new ManualClock(NOW);
    ManualClock c2 = new ManualClock(NOW);
    SimpleMeterRegistry m1 = new SimpleMeterRegistry();
    SimpleMeterRegistry m2 = new SimpleMeterRegistry();
    try (IdempotencyStore one = Stores.builder(dir.resolve("one"), Stores.A, "a1", c1)
            .ttl(Duration.ofDays(7)).meterRegistry(m1).build();
        IdempotencyStore batch = Stores.builder(dir.resolve("batch"), Stores.A, "a1", c2)
            .ttl(Duration.ofDays(7)).meterRegistry(m2).build()) {
      List<IdRecord> records = changes.stream().map(RemoteApplyCoalescingProperties::record).toList();
      int k = Math.min(alreadyStored, records.size() - 1);
      // what both stores held before the poll (the stored side of the merge)
      for (IdRecord r : records.subList(0, k)) {
        ReplicaStore.of(one).applyRemote(r);
        ReplicaStore.of(batch).applyRemote(r);
      }
      List<IdRecord> poll = records.subList(k, records.size());
      for (IdRecord r : poll) {
        ReplicaStore.of(one).applyRemote(r);
      }
      ReplicaStore.of(batch).applyRemoteBatch(poll, List.of(), Map.of("t/0", 7L));
      assertSameState(one, batch, "right after the poll " + poll);
      // the meter counts changes, with the outcome each had one by one, however the poll was staged
      for (String outcome : List.of("changed", "unchanged", "expired")) {
        assertEquals(applied(m1, outcome), applied(m2, outcome),
            "tandem.store.remote.applied{outcome=" + outcome + "} after the poll " + poll);
      }
      for (int day = 1; day <= 8; day++) {
        c1.advance(Duration.ofDays(1));
        c2.advance(Duration.ofDays(1));
        assertSameState(one, batch, "day " + day + " after the poll " + poll);
      }
    } finally {
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static double applied(SimpleMeterRegistry registry, String outcome) {
    return registry.find(StoreMeterNames.REMOTE_APPLIED).tag("outcome", outcome).counters().stream()
        .mapToDouble(Counter::count).sum();
  }

  private static void assertSameState(IdempotencyStore one, IdempotencyStore batch, String when) {
    List<Object> a = new ArrayList<>();
    List<Object> b = new ArrayList<>();
    for (String id : IDS) {
      a.add(one.get(id, 0));
      b.add(batch.get(id, 0));
    }
    assertEquals(a, b, when);
    assertEquals(one.detectedDuplicates(), batch.detectedDuplicates(), "detected, " + when);
  }
}
