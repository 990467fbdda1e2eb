package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.store.spi.ReplicaStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.awaitility.Awaitility.await;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The own region's reader skips this writer's own record changes read back from its changelog
 * (already in the store; issue 20), undecoded and counted — and applies them where the store may
 * lack them (a dropped shard), and applies everything else: the peer's changes, the same region's
 * other writers (another instance, an earlier incarnation), leases, heartbeats, markers.
 */
class OwnChangesSkipTest {

  private static final RegionId A = TestRegions.A;
  private static final RegionId B = TestRegions.B;
  private static final String TOPIC = "tandem-changelog-region-a";
  private static final String OWN_INC = "inc-own";

  @TempDir Path dir;

  private static IdempotencyStore store(Path dir, RegionId region, String instance,
      SimpleMeterRegistry meters) {
    return IdempotencyStore.builder().region(region).instance(instance).directory(dir)
        .meterRegistry(meters).build();
  }

  private static ConsumerRecord<byte[], byte[]> rec(int shard, long offset, String key,
      byte[] value) {
    return new ConsumerRecord<>(TOPIC, shard, offset, key.getBytes(StandardCharsets.UTF_8), value);
  }

  private static ConsumerRecords<byte[], byte[]> poll(int shard,
      List<ConsumerRecord<byte[], byte[]>> rs) {
    return new ConsumerRecords<>(Map.of(new TopicPartition(TOPIC, shard), rs),
        Map.<TopicPartition, OffsetAndMetadata>of());
  }

  private static double counter(SimpleMeterRegistry m, String name, String tag, String value) {
    var c = m.find(name).tag(tag, value).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void ownChangesAreSkippedUndecodedAndEverythingElseIsApplied() {
    SimpleMeterRegistry am = new SimpleMeterRegistry();
    try (IdempotencyStore a = store(dir.resolve("a"), A, "i-a", am);
        IdempotencyStore b = store(dir.resolve("b"), B, "i-b", new SimpleMeterRegistry());
        IdempotencyStore a2 = store(dir.resolve("a2"), A, "i-a2", new SimpleMeterRegistry())) {
      BatchApplier applier =
          new BatchApplier(a, new LagTracker(A, TandemClock.system(), am), am);
      applier.ownWriter(A, OWN_INC);
      List<IdRecord> own = LocalWrites.of(a, "own", 0);
      List<IdRecord> peer = LocalWrites.of(b, "peer", 0);
      List<IdRecord> sibling = LocalWrites.of(a2, "sibling", 0); // region-a, another instance
      List<ConsumerRecord<byte[], byte[]>> rs = new ArrayList<>();
      long o = 0;
      for (IdRecord r : own) {
        rs.add(rec(0, o++, ChangelogCodec.recordKey(A, OWN_INC, r.id()), ChangelogCodec.encode(r)));
      }
      // a value that does not decode under the own prefix: skipped before decoding, not "corrupt"
      rs.add(rec(0, o++, ChangelogCodec.recordKey(A, OWN_INC, "garbage"), new byte[] {9, 9, 9}));
      for (IdRecord r : peer) {
        rs.add(rec(0, o++, ChangelogCodec.recordKey(B, "inc-b", r.id()), ChangelogCodec.encode(r)));
      }
      for (IdRecord r : sibling) {
        rs.add(rec(0, o++, ChangelogCodec.recordKey(A, "inc-sibling", r.id()),
            ChangelogCodec.encode(r)));
      }
      // the same writer's lease and hand-off marker are not record changes: still applied/passed
      ShardLease lease = ShardLease.of(0, 3, A, 42L);
      rs.add(rec(0, o++, ChangelogCodec.leaseKey(A, OWN_INC, 0), ChangelogCodec.encode(lease)));
      var marker = new ChangelogEntry.HandoffMarker(A, OWN_INC, 0, 77L);
      rs.add(rec(0, o++, ChangelogCodec.handoffKey(A, OWN_INC, 0), ChangelogCodec.encode(marker)));
      List<ChangelogEntry.HandoffMarker> markers = new ArrayList<>();

      Map<TopicPartition, Integer> counts = applier.apply(poll(0, rs), tp -> TOPIC + "/0",
          markers::add, p -> true);

      assertEquals(Map.of(new TopicPartition(TOPIC, 0), rs.size()), counts,
          "every record counts as read");
      assertEquals(3.0, counter(am, StoreMeterNames.REPLICATION_SKIPPED, "reason", "own-writer"));
      assertEquals(0.0, counter(am, StoreMeterNames.REPLICATION_BAD_RECORDS, "reason", "corrupt"));
      assertEquals(4.0, counter(am, StoreMeterNames.REPLICATION_APPLIED, "type", "record"),
          "the peer's and the sibling's claim and COMPLETED");
      assertTrue(a.isTerminal("peer", 0));
      assertTrue(a.isTerminal("sibling", 0));
      assertTrue(a.isTerminal("own", 0), "the own change is in the store: it was written there");
      assertEquals(Long.valueOf(o), ReplicaStore.of(a).checkpoints().get(TOPIC + "/0"), "the checkpoint passes all");
      assertEquals(3L, a.lease(0).orElseThrow().epoch());
      assertEquals(List.of(marker), markers);
    }
  }

  @Test
  void ownChangesAreAppliedWhereTheStoreMayLackThem() {
    SimpleMeterRegistry am = new SimpleMeterRegistry();
    try (IdempotencyStore a = store(dir.resolve("a"), A, "i-a", am)) {
      BatchApplier applier =
          new BatchApplier(a, new LagTracker(A, TandemClock.system(), am), am);
      applier.ownWriter(A, OWN_INC);
      List<IdRecord> own = LocalWrites.of(a, "own", 1);
      // revoked: the shard's state, own changes too, is gone
      ReplicaStore.of(a).dropShard(1, List.of(TOPIC + "/1"));
      assertFalse(a.isTerminal("own", 1));
      List<ConsumerRecord<byte[], byte[]>> rs = new ArrayList<>();
      long o = 0;
      for (IdRecord r : own) {
        rs.add(rec(1, o++, ChangelogCodec.recordKey(A, OWN_INC, r.id()), ChangelogCodec.encode(r)));
      }
      // the caller says partition 1 may lack own changes (dropped): the restore brings them back
      applier.apply(poll(1, rs), tp -> TOPIC + "/1", m -> {}, p -> p != 1);
      assertTrue(a.isTerminal("own", 1));
      assertEquals(0.0, counter(am, StoreMeterNames.REPLICATION_SKIPPED, "reason", "own-writer"));
      // and without ownWriter nothing is ever skipped (catch-up from another region's changelog)
      BatchApplier plain = new BatchApplier(a, new LagTracker(A, TandemClock.system(), am),
          new SimpleMeterRegistry());
      ReplicaStore.of(a).dropShard(1, List.of(TOPIC + "/1"));
      plain.apply(poll(1, rs), tp -> TOPIC + "/1");
      assertTrue(a.isTerminal("own", 1));
    }
  }

  /**
   * The reader's side of the rule: a shard it revoked (the drop deleted this writer's changes of it)
   * and then took again restores them from the changelog, though they carry this writer's key.
   */
  @Test
  void aShardDroppedAndTakenAgainRestoresTheOwnChanges() throws Exception {
    SimpleMeterRegistry am = new SimpleMeterRegistry();
    TopicPartition tp = new TopicPartition(TOPIC, 0);
    MockConsumer<byte[], byte[]> kafka = new MockConsumer<>("earliest");
    kafka.updateBeginningOffsets(Map.of(tp, 0L));
    kafka.updateEndOffsets(Map.of(tp, 0L));
    try (IdempotencyStore a = store(dir.resolve("a"), A, "i-a", am)) {
      LagTracker lag = new LagTracker(A, TandemClock.system(), am);
      BatchApplier applier = new BatchApplier(a, lag, am);
      applier.ownWriter(A, OWN_INC);
      ChangelogReader reader = new ChangelogReader(a, kafka, TOPIC, applier, lag,
          TandemClock.system(), Duration.ofMillis(20), Duration.ofSeconds(5),
          shard -> List.of(TOPIC + "/" + shard), am);
      reader.start();
      try {
        reader.assign(Set.of(0));
        await().atMost(Duration.ofSeconds(30)).until(() -> reader.isRestored(0));
        List<IdRecord> own = LocalWrites.of(a, "own", 0);
        addOwn(kafka, own);
        kafka.updateEndOffsets(Map.of(tp, (long) own.size()));
        reader.awaitCurrentEnd(Set.of(0)).get(30, TimeUnit.SECONDS);
        assertEquals((double) own.size(),
            counter(am, StoreMeterNames.REPLICATION_SKIPPED, "reason", "own-writer"),
            "read back while the shard was held: skipped");

        reader.revoke(Set.of(0)).get(30, TimeUnit.SECONDS);
        assertFalse(a.isTerminal("own", 0), "the drop deleted the own changes");
        reader.assign(Set.of(0));
        await().atMost(Duration.ofSeconds(30)).until(() -> kafka.assignment().contains(tp));
        addOwn(kafka, own); // the broker hands the partition out from the beginning again
        await().atMost(Duration.ofSeconds(30)).until(() -> reader.isRestored(0));
        assertTrue(a.isTerminal("own", 0), "restored from the changelog after the drop");
        assertEquals((double) own.size(),
            counter(am, StoreMeterNames.REPLICATION_SKIPPED, "reason", "own-writer"),
            "nothing skipped after the drop");
      } finally {
        reader.close(Duration.ofSeconds(10));
      }
    }
  }

  private static void addOwn(MockConsumer<byte[], byte[]> kafka, List<IdRecord> own) {
    long o = 0;
    for (IdRecord r : own) {
      kafka.addRecord(rec(0, o++, ChangelogCodec.recordKey(A, OWN_INC, r.id()),
          ChangelogCodec.encode(r)));
    }
  }
}
