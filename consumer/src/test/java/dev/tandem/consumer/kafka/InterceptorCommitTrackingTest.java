package dev.tandem.consumer.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.SharedStores;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreException;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The interceptor's completion on commit, its bounded tracking and its failure accounting, on a real
 * RocksDB store without a broker ({@code attach} instead of {@code configure}; records built the way
 * the consumer hands them over).
 */
class InterceptorCommitTrackingTest {

  static final RegionId A = TestRegions.A;
  static final TopicPartition P0 = new TopicPartition("t", 0);
  static final TopicPartition P1 = new TopicPartition("t", 1);

  @TempDir Path dir;
  IdempotencyStore store;
  SimpleMeterRegistry meters;
  TandemConsumerInterceptor<String, String> icpt;

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(A).instance("i1").directory(dir.resolve("store")).build();
    meters = new SimpleMeterRegistry();
  }

  @AfterEach
  void close() {
    store.close();
  }

  TandemConsumerInterceptor<String, String> attach(IdempotencyStore s, int maxTracked) {
    TandemConsumerInterceptor<String, String> i = new TandemConsumerInterceptor<>();
    i.attach(s, A, maxTracked, meters);
    return i;
  }

  static ConsumerRecord<String, String> rec(TopicPartition tp, long offset, String id, String payload) {
    RecordHeaders h = new RecordHeaders();
    if (id != null) {
      h.add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
      h.add(TandemHeaders.DIGEST, digest(payload).toHex().getBytes(StandardCharsets.UTF_8));
    }
    return new ConsumerRecord<>(tp.topic(), tp.partition(), offset, 0L, TimestampType.CREATE_TIME, 1, 1,
        "k", payload, h, Optional.empty());
  }

  static PayloadDigest digest(String payload) {
    return PayloadDigest.of(payload.getBytes(StandardCharsets.UTF_8));
  }

  /** One poll of the given records (any partitions, in order). */
  @SafeVarargs
  static ConsumerRecords<String, String> poll(ConsumerRecord<String, String>... records) {
    Map<TopicPartition, List<ConsumerRecord<String, String>>> m = new HashMap<>();
    Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
    for (ConsumerRecord<String, String> r : records) {
      TopicPartition tp = new TopicPartition(r.topic(), r.partition());
      m.computeIfAbsent(tp, k -> new ArrayList<>()).add(r);
      next.put(tp, new OffsetAndMetadata(r.offset() + 1));
    }
    return new ConsumerRecords<>(m, next);
  }

  static List<String> ids(ConsumerRecords<String, String> records) {
    List<String> out = new ArrayList<>();
    records.forEach(r -> out.add(new String(r.headers().lastHeader(TandemHeaders.ID).value(),
        StandardCharsets.UTF_8)));
    return out;
  }

  boolean completedHere(String id, int shard) {
    return store.get(id, shard).map(r -> r.isTerminal() && !r.completers().isEmpty()).orElse(false);
  }

  double counter(String name, String... tags) {
    return meters.get(name).tags(tags).counter().count();
  }

  @Test
  void aCommitCompletesOnlyThePassedRecordsBelowItsPartitionsOffset() {
    icpt = attach(store, 1000);
    icpt.onConsume(poll(rec(P0, 0, "a0", "x"), rec(P0, 1, "a1", "x"), rec(P0, 2, "a2", "x"),
        rec(P0, 3, "a3", "x"), rec(P1, 0, "b0", "x"), rec(P1, 1, "b1", "x")));
    assertEquals(6, icpt.trackedCount());

    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(3)));

    assertTrue(completedHere("a0", 0) && completedHere("a1", 0) && completedHere("a2", 0));
    assertFalse(completedHere("a3", 0), "offset 3 is not below the committed offset 3");
    assertFalse(completedHere("b0", 1), "partition 1 was not committed");
    assertEquals(3, icpt.trackedCount());
    assertEquals(3.0, counter("tandem.consumer.interceptor.completed", "region", "region-a"));
    IdRecord a0 = store.get("a0", 0).orElseThrow();
    assertTrue(a0.digests().contains(digest("x")), "the completion carries the payload digest: " + a0);
    assertEquals("region-a", a0.completers().iterator().next().region().name());

    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(4), P1, new OffsetAndMetadata(2)));
    assertTrue(completedHere("a3", 0) && completedHere("b0", 1) && completedHere("b1", 1));
    assertEquals(0, icpt.trackedCount());
  }

  @Test
  void droppedAndIdLessRecordsAreNotTrackedAndACompletedIdIsDroppedNextTime() {
    icpt = attach(store, 1000);
    ConsumerRecords<String, String> out = icpt.onConsume(poll(rec(P0, 0, "d", "x"), rec(P0, 1, null, "no id")));
    assertEquals(2, out.count());
    assertEquals(1, icpt.trackedCount(), "the id-less record is passed but never completed");
    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(2)));

    // a later copy of the same id and payload (a redelivery, or the other region's copy) is dropped;
    // one with another payload is a conflict and passes
    out = icpt.onConsume(poll(rec(P0, 2, "d", "x"), rec(P0, 3, "d", "changed")));
    assertEquals(1, out.count());
    assertEquals("changed", out.iterator().next().value());
    assertEquals(1.0, counter("tandem.consumer.interceptor.dropped", "region", "region-a"));
    assertEquals(1.0, counter("tandem.consumer.interceptor.conflicts", "region", "region-a"));
    assertEquals(1, icpt.trackedCount(), "only the passed conflicting copy waits for a commit");
  }

  /** A record of {@code id} whose digest header is {@code digestHeader} (null: no digest header). */
  static ConsumerRecord<String, String> withDigestHeader(long offset, String id, byte[] digestHeader) {
    RecordHeaders h = new RecordHeaders();
    h.add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
    if (digestHeader != null) {
      h.add(TandemHeaders.DIGEST, digestHeader);
    }
    return new ConsumerRecord<>(P0.topic(), P0.partition(), offset, 0L, TimestampType.CREATE_TIME, 1, 1,
        "k", "v" + offset, h, Optional.empty());
  }

  @Test
  void aCopyWithoutAUsableDigestIsDroppedOnlyWhenTheRecordHasNoDigestToCompare() {
    icpt = attach(store, 1000);
    // "d": completed with the digest of "x"; "z": dead-lettered, a terminal record without digests
    icpt.onConsume(poll(rec(P0, 0, "d", "x")));
    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(1)));
    store.deadLetter("z", 0, "poison");
    byte[] malformed = digest("x").toHex().getBytes(StandardCharsets.UTF_8);
    malformed[5] = 'g';
    byte[] good = digest("x").toHex().getBytes(StandardCharsets.UTF_8);

    ConsumerRecords<String, String> out = icpt.onConsume(poll(
        withDigestHeader(1, "d", null), // no digest to compare with "x": a conflict, passes
        withDigestHeader(2, "d", malformed), // unreadable: never dropped, not a conflict either
        withDigestHeader(3, "d", good), // the same payload: dropped
        withDigestHeader(4, "z", null), // nothing to compare: dropped
        withDigestHeader(5, "z", good), // nothing to compare: dropped
        withDigestHeader(6, "z", malformed))); // unreadable: never dropped

    List<Long> passed = new ArrayList<>();
    out.forEach(r -> passed.add(r.offset()));
    assertEquals(List.of(1L, 2L, 6L), passed);
    assertEquals(3.0, counter("tandem.consumer.interceptor.dropped", "region", "region-a"));
    assertEquals(1.0, counter("tandem.consumer.interceptor.conflicts", "region", "region-a"));
    assertEquals(3, icpt.trackedCount(), "the passed copies wait for a commit");
    // completed at the commit without a digest (none usable): the record keeps only "x"'s digest
    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(7)));
    assertEquals(0, icpt.trackedCount());
    assertEquals(java.util.Set.of(digest("x")),
        java.util.Set.copyOf(store.get("d", 0).orElseThrow().digests()));
  }

  @Test
  void aRebalanceOrCloseWithoutACommitRecordsNothing() {
    icpt = attach(store, 1000);
    icpt.onConsume(poll(rec(P0, 0, "r0", "x"), rec(P0, 1, "r1", "x"), rec(P0, 2, "r2", "x"),
        rec(P1, 0, "q0", "x")));
    // a commit covering r0 only: what this store shows is what the interceptor writes (the check
    // below can see a completion written at close)
    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(1)));
    assertTrue(completedHere("r0", 0));
    // the partition is read again from offset 1 (revoked without a commit, then assigned back)
    icpt.onConsume(poll(rec(P0, 1, "r1", "x"), rec(P0, 2, "r2", "x")));
    assertEquals(3, icpt.trackedCount(), "a re-read replaces the records from its offset on");
    icpt.close();
    assertFalse(completedHere("r1", 0) || completedHere("r2", 0) || completedHere("q0", 1),
        "nothing past the commit was completed, though r1, r2 and q0 were tracked at close");
    assertEquals(1.0, counter("tandem.consumer.interceptor.completed", "region", "region-a"));
  }

  /**
   * This consumer passed a partition's records, lost the partition before committing them, another
   * member of the group processed and committed them, and the partition came back: the stale tracked
   * records are covered by this consumer's next commit. Completing them again is harmless (the same
   * region completed them already): no detected duplicate, no failure, nothing left tracked.
   */
  @Test
  void aPartitionCommittedByAnotherMemberThenReturnedCompletesWithoutAFalseDuplicate() {
    icpt = attach(store, 1000);
    icpt.onConsume(poll(rec(P0, 0, "m0", "x"), rec(P0, 1, "m1", "x"), rec(P0, 2, "m2", "x")));
    // the other member (same region, same replica) reads and commits offsets 0..4
    TandemConsumerInterceptor<String, String> other = attach(store, 1000);
    other.onConsume(poll(rec(P0, 0, "m0", "x"), rec(P0, 1, "m1", "x"), rec(P0, 2, "m2", "x"),
        rec(P0, 3, "m3", "x"), rec(P0, 4, "m4", "x")));
    other.onCommit(Map.of(P0, new OffsetAndMetadata(5)));
    // the partition returns to this consumer at the committed position 5
    ConsumerRecords<String, String> out = icpt.onConsume(poll(rec(P0, 5, "m5", "x"), rec(P0, 6, "m6", "x")));
    assertEquals(2, out.count());
    assertEquals(5, icpt.trackedCount(), "m0..m2 are still tracked from before the revoke");
    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(7)));
    for (int i = 0; i <= 6; i++) {
      assertTrue(completedHere("m" + i, 0), "m" + i);
    }
    assertEquals(0, icpt.trackedCount());
    assertEquals(0L, store.detectedDuplicates(), "one region completing twice is no cross-region duplicate");
    assertEquals(0.0, counter("tandem.consumer.interceptor.store.failures", "region", "region-a",
        "operation", "complete"));
  }

  @Test
  void theBoundEvictsTheLeastRecentlyFedPartitionFirstAndCountsIt() {
    icpt = attach(store, 4);
    icpt.onConsume(poll(rec(P0, 0, "e0", "x"), rec(P0, 1, "e1", "x"), rec(P0, 2, "e2", "x")));
    icpt.onConsume(poll(rec(P1, 0, "f0", "x"), rec(P1, 1, "f1", "x"), rec(P1, 2, "f2", "x")));
    assertEquals(4, icpt.trackedCount());
    assertEquals(2.0, counter("tandem.consumer.interceptor.untracked", "region", "region-a"));

    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(3), P1, new OffsetAndMetadata(3)));
    assertFalse(completedHere("e0", 0) || completedHere("e1", 0), "evicted: not completed");
    assertTrue(completedHere("e2", 0) && completedHere("f0", 1) && completedHere("f1", 1)
        && completedHere("f2", 1));
  }

  /**
   * An id the store refuses (a control character) is invalid like an empty one: passed, counted,
   * never tracked, so it cannot fail the completions of the other records of the commit.
   */
  @Test
  void anIdWithAControlCharacterPassesCountedAndNeverBlocksTheOtherCompletions() {
    icpt = attach(store, 1000);
    ConsumerRecords<String, String> out = icpt.onConsume(poll(rec(P0, 0, "bad\u0001id", "x"),
        rec(P0, 1, "p0-ok", "x"), rec(P1, 0, "p1-ok", "x")));
    assertEquals(3, out.count(), "every record passes: the application decides");
    assertEquals(1.0, counter("tandem.consumer.interceptor.invalid", "region", "region-a"));
    assertEquals(2, icpt.trackedCount(), "the unusable id is not tracked");

    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(2), P1, new OffsetAndMetadata(1)));
    assertTrue(completedHere("p0-ok", 0) && completedHere("p1-ok", 1),
        "the other records of the commit are completed");
    assertEquals(0, icpt.trackedCount());
    assertEquals(0.0, counter("tandem.consumer.interceptor.store.failures", "region", "region-a",
        "operation", "complete"));
  }

  /**
   * Completion is per partition: a partition whose completion fails stays tracked (retried at its
   * next commit) and does not hold back another partition of the same commit.
   */
  @Test
  void aPartitionWhoseCompletionFailsDoesNotBlockTheOtherPartitions() {
    // fails every completeAll that holds an id of partition 0 (a store refusing that shard)
    IdempotencyStore refusingShard0 = (IdempotencyStore) Proxy.newProxyInstance(
        getClass().getClassLoader(), new Class<?>[] {IdempotencyStore.class}, (proxy, m, args) -> {
          if (m.getName().equals("completeAll") && ((List<?>) args[0]).stream()
              .anyMatch(r -> ((dev.tandem.store.CompleteRequest) r).shard() == 0)) {
            throw new StoreException("injected failure of shard 0");
          }
          try {
            return m.invoke(store, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
    icpt = attach(refusingShard0, 1000);
    icpt.onConsume(poll(rec(P0, 0, "s0", "x"), rec(P1, 0, "s1", "x")));
    stderrOf(() -> icpt.onCommit(Map.of(P0, new OffsetAndMetadata(1), P1, new OffsetAndMetadata(1))));
    assertTrue(completedHere("s1", 1), "partition 1 is completed although partition 0 failed");
    assertFalse(completedHere("s0", 0));
    assertEquals(1, icpt.trackedCount(), "partition 0's record stays tracked for its next commit");
    assertEquals(1.0, counter("tandem.consumer.interceptor.store.failures", "region", "region-a",
        "operation", "complete"));
  }

  /**
   * A shard still restoring: the gated store would block (the restore wait) and then throw for it.
   * The poll's restored shards are still read in one batch (their completed ids dropped); only the
   * restoring shard's records pass, counted; neither the poll nor the commit touches the gate of the
   * restoring shard, and its records are completed at a commit once it is restored.
   */
  @Test
  void aRestoringShardPassesOnlyItsOwnRecordsAndNeverBlocksThePollOrTheCommit() {
    store.claim("done0", 0, digest("x"), 0, Duration.ofSeconds(30));
    store.complete("done0", 0, null);
    store.claim("done1", 1, digest("x"), 0, Duration.ofSeconds(30));
    store.complete("done1", 1, null);
    java.util.concurrent.atomic.AtomicBoolean shard1Restored = new java.util.concurrent.atomic.AtomicBoolean();
    AtomicInteger gatedCallsOfShard1 = new AtomicInteger();
    // the gated view: a call touching shard 1 while it restores stands for a blocking wait + throw
    IdempotencyStore gated = (IdempotencyStore) Proxy.newProxyInstance(getClass().getClassLoader(),
        new Class<?>[] {IdempotencyStore.class}, (proxy, m, args) -> {
          if (!shard1Restored.get() && args != null && touchesShard1(args)) {
            gatedCallsOfShard1.incrementAndGet();
            throw new StoreException("shard 1 not restored (after the restore wait)");
          }
          try {
            return m.invoke(store, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
    icpt = new TandemConsumerInterceptor<>();
    icpt.attach(gated, store, shard -> shard != 1 || shard1Restored.get(), A, 1000, meters);

    ConsumerRecords<String, String> out = icpt.onConsume(poll(rec(P0, 0, "done0", "x"),
        rec(P0, 1, "new0", "x"), rec(P1, 0, "done1", "x"), rec(P1, 1, "new1", "x")));
    assertEquals(java.util.Set.of("new0", "done1", "new1"), new java.util.HashSet<>(ids(out)),
        "the restored shard's completed id is dropped; the restoring shard's records pass");
    assertEquals(2.0, counter("tandem.consumer.interceptor.restoring", "region", "region-a"));
    assertEquals(0.0, counter("tandem.consumer.interceptor.store.failures", "region", "region-a",
        "operation", "read"));

    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(2), P1, new OffsetAndMetadata(2)));
    assertTrue(completedHere("new0", 0), "the restored shard's partition is completed");
    assertFalse(completedHere("new1", 1));
    assertEquals(0, gatedCallsOfShard1.get(), "nothing waited on the restoring shard's gate");
    assertEquals(2, icpt.trackedCount(), "the restoring shard's records wait for a later commit");

    shard1Restored.set(true);
    icpt.onCommit(Map.of(P1, new OffsetAndMetadata(2)));
    assertTrue(completedHere("new1", 1), "completed once restored");
    assertEquals(0, icpt.trackedCount());
  }

  static boolean touchesShard1(Object[] args) {
    for (Object a : args) {
      if (a instanceof Integer i && i == 1) {
        return true;
      }
      if (a instanceof List<?> l) {
        for (Object o : l) {
          if ((o instanceof dev.tandem.store.RecordKey k && k.shard() == 1)
              || (o instanceof dev.tandem.store.ClaimRequest c && c.shard() == 1)
              || (o instanceof dev.tandem.store.CompleteRequest c2 && c2.shard() == 1)) {
            return true;
          }
        }
      }
    }
    return false;
  }

  /** A store whose calls named in {@code failing} throw while {@code failures} is positive. */
  IdempotencyStore failing(AtomicInteger failures, String... failing) {
    List<String> names = List.of(failing);
    return (IdempotencyStore) Proxy.newProxyInstance(getClass().getClassLoader(),
        new Class<?>[] {IdempotencyStore.class}, (proxy, m, args) -> {
          if (names.contains(m.getName()) && failures.getAndDecrement() > 0) {
            throw new StoreException("injected failure of " + m.getName());
          }
          try {
            return m.invoke(store, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  static String stderrOf(Runnable r) {
    PrintStream old = System.err;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
    try {
      r.run();
    } finally {
      System.setErr(old);
    }
    return buf.toString(StandardCharsets.UTF_8);
  }

  @Test
  void aFailedLookupPassesThePollCountedAndLogged() {
    store.claim("done", 0, digest("x"), 0, Duration.ofSeconds(30));
    store.complete("done", 0, null);
    AtomicInteger failures = new AtomicInteger(1);
    icpt = attach(failing(failures, "terminalRecords"), 1000);
    ConsumerRecords<String, String>[] out = new ConsumerRecords[1];
    String log = stderrOf(() -> out[0] = icpt.onConsume(poll(rec(P0, 0, "done", "x"), rec(P0, 1, "new", "y"))));
    assertEquals(List.of("done", "new"), ids(out[0]), "the poll's records pass: dropping would lose them");
    assertEquals(1.0, counter("tandem.consumer.interceptor.store.failures", "region", "region-a",
        "operation", "read"));
    assertTrue(log.contains("WARN") && log.contains("could not look up 2 ids")
        && log.contains("injected failure of terminalRecords"), log);
    // the store answers again: the next copy of the completed id is dropped
    assertEquals(0, icpt.onConsume(poll(rec(P0, 2, "done", "x"))).count());
  }

  @Test
  void aFailedCompletionIsCountedLoggedAndRetriedAtTheNextCommit() {
    AtomicInteger failures = new AtomicInteger(1);
    icpt = attach(failing(failures, "completeAll"), 1000);
    icpt.onConsume(poll(rec(P0, 0, "c0", "x"), rec(P0, 1, "c1", "x")));
    String log = stderrOf(() -> icpt.onCommit(Map.of(P0, new OffsetAndMetadata(2))));
    assertEquals(1.0, counter("tandem.consumer.interceptor.store.failures", "region", "region-a",
        "operation", "complete"));
    assertTrue(log.contains("WARN") && log.contains("could not record the completion of 2"), log);
    assertFalse(completedHere("c0", 0));
    assertEquals(2, icpt.trackedCount(), "still tracked for the next commit");

    icpt.onConsume(poll(rec(P0, 2, "c2", "x")));
    icpt.onCommit(Map.of(P0, new OffsetAndMetadata(3)));
    assertTrue(completedHere("c0", 0) && completedHere("c1", 0) && completedHere("c2", 0));
    assertEquals(0, icpt.trackedCount());
  }

  static Map<String, Object> regionKeys() {
    Map<String, Object> p = new HashMap<>();
    p.put("tandem.regions", "westeurope,northeurope");
    p.put("tandem.region", "westeurope");
    p.put("tandem.region.westeurope.bootstrap.servers", "kafka-we:9092");
    p.put("tandem.region.northeurope.bootstrap.servers", "kafka-ne:9093");
    p.put("tandem.state.dir", "/var/lib/app/tandem");
    p.put("tandem.shards", "8");
    p.put("tandem.guarantee", "detect-only");
    return p;
  }

  /** The interceptor's own key is its table's, not the region's: the region refuses it. */
  @Test
  void theMaxTrackedKeyBelongsToTheInterceptorsTableNotTheRegions() {
    Map<String, Object> p = regionKeys();
    p.put(TandemInterceptorConfig.MAX_TRACKED_CONFIG, "7");
    assertEquals(7, new TandemInterceptorConfig(p).getInt(TandemInterceptorConfig.MAX_TRACKED_CONFIG));
    org.apache.kafka.common.config.ConfigException e = assertThrows(
        org.apache.kafka.common.config.ConfigException.class,
        () -> new dev.tandem.consumer.TandemRegionConfig(p));
    assertTrue(e.getMessage().contains(TandemInterceptorConfig.MAX_TRACKED_CONFIG), e.getMessage());
    // what the interceptor hands to TandemRegion.create: the region's keys only
    new dev.tandem.consumer.TandemRegionConfig(TandemInterceptorConfig.regionKeys(p));
    assertEquals(100_000, new TandemInterceptorConfig(regionKeys())
        .getInt(TandemInterceptorConfig.MAX_TRACKED_CONFIG));
  }

  /** SharedStores: one store per directory per process, as one region and instance. */
  @Test
  void aDirectoryIsOpenedOnceAsOneRegionAndInstance() {
    Path d = dir.resolve("shared");
    IdempotencyStore s = SharedStores.acquire(d, A, "i1",
        () -> IdempotencyStore.builder().region(A).instance("i1").directory(d).build());
    try {
      assertSame(s, SharedStores.acquire(d, A, "i1", () -> {
        throw new AssertionError("must not open twice");
      }));
      SharedStores.release(d);
      assertThrows(IllegalStateException.class,
          () -> SharedStores.acquire(d, TestRegions.B, "i1", () -> {
            throw new AssertionError("must not open");
          }));
    } finally {
      SharedStores.release(d);
    }
    assertEquals(0, SharedStores.references(d));
  }
}
