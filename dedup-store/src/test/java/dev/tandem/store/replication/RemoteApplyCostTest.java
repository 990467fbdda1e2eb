package dev.tandem.store.replication;

import static dev.tandem.testkit.AllocationMeter.allocated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreListener;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.store.WriteOrigin;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What one applied changelog change costs the reader thread (issue 20): allocated bytes and
 * store writes per change, over polls shaped like the end-to-end benchmark's — per message a claim
 * and its COMPLETED, from the peer region and from this region's own writer (each region's topic holds
 * both). Counts and bytes, not time: load on the machine does not move them. The figures go to the
 * log (the notes of issue 20 quote them); the assertions hold what must not regress.
 */
class RemoteApplyCostTest {

  private static final RegionId A = TestRegions.A;
  private static final RegionId B = TestRegions.B;
  private static final int SHARDS = 4;
  private static final String TOPIC = "tandem-changelog-region-a";

  @TempDir Path dir;

  private static IdempotencyStore store(Path dir, RegionId region, SimpleMeterRegistry meters) {
    return IdempotencyStore.builder().region(region).instance("i-" + region.name())
        .directory(dir).meterRegistry(meters).build();
  }

  /** Polls of {@code perPoll} changes each, alternating peer and own changes as both writers ship. */
  private static List<ConsumerRecords<byte[], byte[]>> polls(List<IdRecord> peer, String peerInc,
      List<IdRecord> own, String ownInc, int perPoll) {
    List<ConsumerRecords<byte[], byte[]>> out = new ArrayList<>();
    Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> cur = new HashMap<>();
    long[] offsets = new long[SHARDS];
    int inPoll = 0;
    for (int i = 0; i < Math.max(peer.size(), own.size()); i++) {
      for (int w = 0; w < 2; w++) {
        List<IdRecord> src = w == 0 ? peer : own;
        if (i >= src.size()) {
          continue;
        }
        IdRecord r = src.get(i);
        RegionId origin = w == 0 ? B : A;
        String inc = w == 0 ? peerInc : ownInc;
        byte[] key = ChangelogCodec.recordKey(origin, inc, r.id()).getBytes(StandardCharsets.UTF_8);
        TopicPartition tp = new TopicPartition(TOPIC, r.shard());
        cur.computeIfAbsent(tp, t -> new ArrayList<>()).add(
            new ConsumerRecord<>(TOPIC, r.shard(), offsets[r.shard()]++, key,
                ChangelogCodec.encode(r)));
        if (++inPoll == perPoll) {
          out.add(new ConsumerRecords<>(cur, Map.<TopicPartition, OffsetAndMetadata>of()));
          cur = new HashMap<>();
          inPoll = 0;
        }
      }
    }
    if (!cur.isEmpty()) {
      out.add(new ConsumerRecords<>(cur, Map.<TopicPartition, OffsetAndMetadata>of()));
    }
    return out;
  }

  private static double count(SimpleMeterRegistry m, String name, String tag, String value) {
    var c = m.find(name).tag(tag, value).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void costPerAppliedChange() {
    int warm = 1_000;
    int n = 10_000;
    int perPoll = 200;
    SimpleMeterRegistry bm = new SimpleMeterRegistry();
    SimpleMeterRegistry am = new SimpleMeterRegistry();
    try (IdempotencyStore peer = store(dir.resolve("b"), B, bm);
        IdempotencyStore local = store(dir.resolve("a"), A, am)) {
      List<IdRecord> peerWarm = LocalWrites.writes(peer, "warm-b-", warm, SHARDS);
      List<IdRecord> peerRun = LocalWrites.writes(peer, "run-b-", n, SHARDS);
      List<IdRecord> ownAll = LocalWrites.writes(local, "own-a-", warm + n, SHARDS);
      List<IdRecord> ownWarm = ownAll.subList(0, 2 * warm);
      List<IdRecord> ownRun = ownAll.subList(2 * warm, ownAll.size());
      String ownInc = "inc-a";
      // one listener call per staged write (the store calls its listeners once per staged record)
      java.util.concurrent.atomic.AtomicLong staged = new java.util.concurrent.atomic.AtomicLong();
      local.addListener(new StoreListener() {
        @Override
        public void onRecord(IdRecord record, WriteOrigin origin) {
          if (origin == WriteOrigin.REMOTE) {
            staged.incrementAndGet();
          }
        }

        @Override
        public void onLease(ShardLease lease, WriteOrigin origin) {}
      });
      LagTracker lag = new LagTracker(A, TandemClock.system(), am);
      BatchApplier applier = new BatchApplier(local, lag, am);
      applier.ownWriter(A, ownInc);

      for (ConsumerRecords<byte[], byte[]> p : polls(peerWarm, "inc-b", ownWarm, ownInc, perPoll)) {
        applier.apply(p, tp -> TOPIC + "/" + tp.partition(), m -> {}, s -> true);
      }
      List<ConsumerRecords<byte[], byte[]>> run = polls(peerRun, "inc-b", ownRun, ownInc, perPoll);
      long changes = run.stream().mapToLong(ConsumerRecords::count).sum();
      double changedBefore = count(am, StoreMeterNames.REMOTE_APPLIED, "outcome", "changed");
      double unchangedBefore = count(am, StoreMeterNames.REMOTE_APPLIED, "outcome", "unchanged");
      double skippedBefore = count(am, StoreMeterNames.REPLICATION_SKIPPED, "reason", "own-writer");
      long stagedBefore = staged.get();
      long before = allocated();
      for (ConsumerRecords<byte[], byte[]> p : run) {
        // as the own region's reader calls it (no shard dropped)
        applier.apply(p, tp -> TOPIC + "/" + tp.partition(), m -> {}, s -> true);
      }
      long bytes = allocated() - before;
      long stagedWrites = staged.get() - stagedBefore;
      double changed = count(am, StoreMeterNames.REMOTE_APPLIED, "outcome", "changed") - changedBefore;
      double unchanged =
          count(am, StoreMeterNames.REMOTE_APPLIED, "outcome", "unchanged") - unchangedBefore;
      double skipped = count(am, StoreMeterNames.REPLICATION_SKIPPED, "reason", "own-writer") - skippedBefore;
      System.out.printf(
          "remote apply cost: %d changes in %d polls (half peer, half own): %d B/change; per change:"
              + " %.3f changed the record (tandem.store.remote.applied{outcome=changed}: one per"
              + " change since session 7's merge, not per staged write — a claim and its COMPLETED"
              + " in one poll are staged once), %.3f merged unchanged, %.3f skipped undecoded;"
              + " %d WriteBatch writes, %.3f staged writes per change%n",
          changes, run.size(), bytes / changes, changed / changes, unchanged / changes,
          skipped / changes, run.size(), (double) stagedWrites / changes);
      assertEquals(4L * n, changes);
      // every peer id ends COMPLETED here, exactly as the peer wrote it
      for (int i = 0; i < n; i += 997) {
        String id = "run-b-" + i;
        assertTrue(local.isTerminal(id, i % SHARDS), id);
      }
    }
  }
}
