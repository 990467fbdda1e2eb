package dev.tandem.store.replication;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.CompleteRequest;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replication over two real single-node KRaft clusters (region-a, region-b) and real RocksDB stores.
 * Each test uses its own changelog topic prefix, so tests do not see each other's records.
 */
@TandemClusters(shared = false)
class KafkaReplicationLogTest {

  private static final int SHARDS = Replica.SHARDS;
  private static final RegionId A = TestRegions.A;
  private static final RegionId B = TestRegions.B;
  private static final Duration LEASE = Duration.ofMinutes(5);
  private static final Path FIGURES = Path.of("target", "replication-figures.txt");

  private static TwoRegions regions;

  static int shardOf(String id) {
    return Shards.forKey(id, SHARDS);
  }

  static PayloadDigest digest(String id) {
    return PayloadDigest.of(id.getBytes(UTF_8));
  }

  static List<String> ids(String prefix, int n) {
    List<String> ids = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      ids.add(prefix + "-" + i);
    }
    return ids;
  }

  /** Claims and completes {@code ids} in batches of 100 (one WriteBatch per batch). */
  static void claimAndComplete(IdempotencyStore store, List<String> ids) {
    for (int from = 0; from < ids.size(); from += 100) {
      List<String> batch = ids.subList(from, Math.min(ids.size(), from + 100));
      List<ClaimRequest> claims = new ArrayList<>();
      for (String id : batch) {
        claims.add(new ClaimRequest(id, shardOf(id), digest(id), 0, LEASE));
      }
      List<ClaimResult> results = store.claimAll(claims);
      List<CompleteRequest> completes = new ArrayList<>();
      for (int i = 0; i < batch.size(); i++) {
        if (results.get(i) instanceof ClaimResult.Acquired) {
          completes.add(new CompleteRequest(batch.get(i), shardOf(batch.get(i)), null));
        }
      }
      store.completeAll(completes);
    }
  }

  static Set<Integer> allShards() {
    Set<Integer> all = new TreeSet<>();
    for (int s = 0; s < SHARDS; s++) {
      all.add(s);
    }
    return all;
  }

  static void figure(String line) throws IOException {
    System.out.println("FIGURE " + line);
    Files.createDirectories(FIGURES.getParent());
    Files.writeString(FIGURES, line + System.lineSeparator(), StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
  }

  /** Random concurrent claims, completes and releases on both sides; stores converge to the join. */
  @Test
  void replicasConvergeToTheJoinOfAllUpdates(@TempDir Path dir) throws Exception {
    int n = 3000;
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "converge");
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), "converge")) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      assertTrue(b.log.awaitRestored(Duration.ofSeconds(30)));
      List<String> ids = ids("c", n);
      // each side works on two thirds of the ids, so a third is touched by both concurrently
      List<String> forA = new ArrayList<>(ids.subList(0, 2 * n / 3));
      List<String> forB = new ArrayList<>(ids.subList(n / 3, n));
      ExecutorService pool = Executors.newFixedThreadPool(4);
      List<CompletableFuture<Void>> work = new ArrayList<>();
      long started = System.nanoTime();
      for (int t = 0; t < 2; t++) {
        work.add(CompletableFuture.runAsync(() -> randomWork(a.gated, half(forA, 0)), pool));
        work.add(CompletableFuture.runAsync(() -> randomWork(b.gated, half(forB, 1)), pool));
      }
      CompletableFuture.allOf(work.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
      pool.shutdown();
      long writes = 0;
      await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500))
          .until(() -> a.scan().size() == n && a.scan().equals(b.scan()));
      double seconds = (System.nanoTime() - started) / 1e9;
      TreeMap<String, IdRecord> sa = a.scan();
      TreeMap<String, IdRecord> sb = b.scan();
      assertEquals(sa, sb);
      for (String id : ids) {
        IdRecord fromA = a.localJoin.get(id);
        IdRecord fromB = b.localJoin.get(id);
        IdRecord join = fromA == null ? fromB : fromB == null ? fromA : fromA.merge(fromB);
        assertNotNull(join, id);
        assertEquals(join, sa.get(id), "record of " + id + " is not the join of its updates");
      }
      writes = (long) (a.counter("tandem.replication.sent", "type", "record")
          + b.counter("tandem.replication.sent", "type", "record"));
      assertTrue(sa.values().stream().anyMatch(r -> r.phase() == Phase.COMPLETED));
      assertTrue(sa.values().stream().anyMatch(r -> r.phase() == Phase.RELEASED));
      figure(String.format("convergence: %d ids over %d shards, %d local writes shipped by both "
          + "sides, converged %.1f s after the start", n, SHARDS, writes, seconds));

      // shard leases replicate too: a's lease, then b's takeover (epoch + 1) wins everywhere
      dev.tandem.store.ShardLease leaseA =
          a.gated.mergeLease(dev.tandem.store.ShardLease.of(2, 1, A, a.gated.tickHlc()));
      await().atMost(Duration.ofSeconds(30))
          .until(() -> b.gated.lease(2).map(leaseA::equals).orElse(false));
      dev.tandem.store.ShardLease takeover =
          b.gated.mergeLease(leaseA.takenOverBy(B, b.gated.tickHlc()));
      await().atMost(Duration.ofSeconds(30))
          .until(() -> a.gated.lease(2).map(takeover::equals).orElse(false));
      assertEquals(2, a.gated.lease(2).orElseThrow().epoch());

      // idle: lag is measured from heartbeats, so it stays small and does not grow
      // (40 rounds of 200 ms: a lag taken from the newest data record would now exceed 8 s)
      long idleSince = System.nanoTime();
      double before = b.log.lag(A).heartbeats();
      await().atMost(Duration.ofSeconds(40))
          .until(() -> b.log.lag(A).heartbeats() >= before + 40 * SHARDS);
      ReplicationLag idle = b.log.lag(A);
      Duration idleFor = Duration.ofNanos(System.nanoTime() - idleSince);
      assertTrue(idle.known());
      assertTrue(idle.timeLag().compareTo(Duration.ofSeconds(3)) < 0
          && idle.timeLag().compareTo(idleFor) < 0, idle + " after " + idleFor + " idle");
      assertTrue(idle.sinceLastHeartbeat().compareTo(Duration.ofSeconds(3)) < 0, idle.toString());
      assertTrue(idle.recordsBehind() < 100, idle.toString());
      Timer lag = b.meters.find("tandem.replication.lag").tag("origin", "region-a").timer();
      assertNotNull(lag);
      StringBuilder pct = new StringBuilder();
      for (ValueAtPercentile v : lag.takeSnapshot().percentileValues()) {
        pct.append(String.format(" p%.0f=%.1f ms", v.percentile() * 100, v.value(TimeUnit.MILLISECONDS)));
      }
      figure("lag region-a -> region-b (heartbeats, " + lag.count() + " samples):" + pct
          + ", max=" + String.format("%.1f", lag.max(TimeUnit.MILLISECONDS)) + " ms; idle now "
          + idle.timeLag().toMillis() + " ms, " + idle.recordsBehind() + " records behind");
    }
  }

  private static List<String> half(List<String> ids, int salt) {
    List<String> copy = new ArrayList<>(ids);
    Collections.shuffle(copy, new Random(copy.size() * 31L + salt + System.nanoTime()));
    return copy;
  }

  /** Claims every id; acquired ones are completed (60%) or released (and maybe re-claimed). */
  private static void randomWork(IdempotencyStore store, List<String> ids) {
    Random rnd = new Random();
    for (String id : ids) {
      int shard = shardOf(id);
      ClaimResult c = store.claim(id, shard, digest(id), 0, LEASE);
      if (!(c instanceof ClaimResult.Acquired)) {
        continue;
      }
      int dice = rnd.nextInt(10);
      if (dice < 6) {
        store.complete(id, shard, null);
      } else {
        store.release(id, shard);
        if (dice < 8 && store.claim(id, shard, digest(id), 0, LEASE)
            instanceof ClaimResult.Acquired) {
          store.complete(id, shard, ("r" + dice).getBytes(UTF_8));
        }
      }
    }
  }

  /**
   * A late, lower record of another writer lands after the higher one. Compaction keeps the last
   * record per key: with the naive key (the id) the survivor would be the lower CLAIMED; with
   * (id, origin region, incarnation) both writers' records survive and the restore is COMPLETED.
   * Compaction is simulated exactly: the last value per key of the real changelog is copied, in
   * order, into a fresh topic, and a fresh replica restores from that topic.
   */
  @Test
  void compactionKeepsTheHigherRecordOfAnotherWriter(@TempDir Path dir) throws Exception {
    String id = "compact-me";
    int shard = shardOf(id);
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "compact");
        // sharded replica with nothing assigned: it reads nothing, so it has not seen a's record
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), "compact",
            x -> x.heartbeatInterval(Duration.ZERO))) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      assertInstanceOf(ClaimResult.Acquired.class, a.gated.claim(id, shard, digest(id), 0, LEASE));
      IdRecord completed = a.gated.complete(id, shard, "done".getBytes(UTF_8));
      a.log.barrier(shard, A).get(30, TimeUnit.SECONDS);
      a.log.barrier(shard, B).get(30, TimeUnit.SECONDS);
      b.log.revoke(allShards());
      // b's own lower write: a claim of an id it never saw complete
      assertInstanceOf(ClaimResult.Acquired.class,
          b.store.claim(id, shard, digest(id), 0, LEASE));
      b.log.barrier(shard, A).get(30, TimeUnit.SECONDS);

      Map<String, byte[]> lastPerKey = new LinkedHashMap<>();
      Map<String, byte[]> lastPerId = new LinkedHashMap<>();
      List<ConsumerRecord<String, byte[]>> log = readAll(regions.a(), "compact.changelog", shard);
      for (ConsumerRecord<String, byte[]> r : log) {
        lastPerKey.remove(r.key());
        lastPerKey.put(r.key(), r.value());
        ChangelogEntry e = ChangelogCodec.decode(r.value());
        if (e instanceof ChangelogEntry.RecordEntry re && re.record().id().equals(id)) {
          lastPerId.put(id, r.value());
        }
      }
      // the naive key would keep b's CLAIMED: this test would fail with it
      IdRecord naive =
          ((ChangelogEntry.RecordEntry) ChangelogCodec.decode(lastPerId.get(id))).record();
      assertEquals(Phase.CLAIMED, naive.phase());
      assertEquals(B, naive.owner().region());

      regions.a().createTopic("compacted.changelog", SHARDS);
      try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(regions.a().producerProperties())) {
        for (Map.Entry<String, byte[]> e : lastPerKey.entrySet()) {
          p.send(new ProducerRecord<>("compacted.changelog", shard, e.getKey(), e.getValue())).get();
        }
      }
      try (Replica restored = Replica.open(regions, "region-a", "restored", dir.resolve("r"),
          "compacted", x -> x.heartbeatInterval(Duration.ZERO).createTopics(false))) {
        assertTrue(restored.log.awaitRestored(Duration.ofSeconds(30)));
        IdRecord r = restored.gated.get(id, shard).orElseThrow();
        assertEquals(Phase.COMPLETED, r.phase());
        assertEquals(completed.merge(b.store.get(id, shard).orElseThrow()), r);
      }
    }
  }

  /**
   * The same scenario under the broker's real log cleaner: the changelog is compacted for real (the
   * superseded CLAIMED of region-a's writer disappears), the lower CLAIMED of region-b's writer that
   * came later survives under its own key, and a fresh replica restored from the compacted log holds
   * the join, COMPLETED.
   */
  @Test
  void realCompactionKeepsEveryWritersLargestRecord(@TempDir Path dir) throws Exception {
    try (var admin = regions.a().admin()) {
      // the cleaner otherwise looks for work every 15 s; a cluster-wide dynamic broker config
      admin.incrementalAlterConfigs(Map.of(
              new org.apache.kafka.common.config.ConfigResource(
                  org.apache.kafka.common.config.ConfigResource.Type.BROKER, ""),
              List.of(new org.apache.kafka.clients.admin.AlterConfigOp(
                  new org.apache.kafka.clients.admin.ConfigEntry("log.cleaner.backoff.ms", "200"),
                  org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET))))
          .all().get(30, TimeUnit.SECONDS);
    }
    String id = "really-compact-me";
    int shard = shardOf(id);
    java.util.function.Consumer<KafkaReplicationLog.Builder> compactFast = x -> x
        .topicConfig("segment.ms", "300")
        .topicConfig("min.cleanable.dirty.ratio", "0.01")
        .topicConfig("min.compaction.lag.ms", "0")
        .heartbeatInterval(Duration.ofMillis(100)); // appends that roll the segments
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "realcompact", compactFast);
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), "realcompact",
            x -> compactFast.accept(x.heartbeatInterval(Duration.ZERO)))) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      assertInstanceOf(ClaimResult.Acquired.class, a.gated.claim(id, shard, digest(id), 0, LEASE));
      a.log.barrier(shard, A).get(30, TimeUnit.SECONDS);
      IdRecord completed = a.gated.complete(id, shard, null);
      a.log.barrier(shard, A).get(30, TimeUnit.SECONDS);
      a.log.barrier(shard, B).get(30, TimeUnit.SECONDS);
      b.log.revoke(allShards());
      assertInstanceOf(ClaimResult.Acquired.class, b.store.claim(id, shard, digest(id), 0, LEASE));
      b.log.barrier(shard, A).get(30, TimeUnit.SECONDS);
      String keyA = ChangelogCodec.recordKey(A, a.log.incarnation(), id);
      String keyB = ChangelogCodec.recordKey(B, b.log.incarnation(), id);
      // a's CLAIMED was acknowledged (barrier) before its COMPLETED was written under the same key:
      // the log held two records under keyA; the log cleaner, for real, keeps only the newer one
      await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofSeconds(1))
          .until(() -> count(readAll(regions.a(), "realcompact.changelog", shard), keyA) == 1);
      List<ConsumerRecord<String, byte[]>> compacted =
          readAll(regions.a(), "realcompact.changelog", shard);
      assertEquals(1, count(compacted, keyB), "b's later, lower record survives under its own key");
      IdRecord survivorA = compacted.stream().filter(r -> keyA.equals(r.key()))
          .map(r -> ((ChangelogEntry.RecordEntry) ChangelogCodec.decode(r.value())).record())
          .findFirst().orElseThrow();
      assertEquals(completed, survivorA);
      try (Replica restored = Replica.open(regions, "region-a", "restored", dir.resolve("r"),
          "realcompact", x -> x.heartbeatInterval(Duration.ZERO))) {
        assertTrue(restored.log.awaitRestored(Duration.ofSeconds(30)));
        IdRecord r = restored.gated.get(id, shard).orElseThrow();
        assertEquals(Phase.COMPLETED, r.phase());
        assertEquals(completed.merge(b.store.get(id, shard).orElseThrow()), r);
      }
    }
  }

  private static long count(List<ConsumerRecord<String, byte[]>> log, String key) {
    return log.stream().filter(r -> key.equals(r.key())).count();
  }

  static List<ConsumerRecord<String, byte[]>> readAll(KafkaRegion region, String topic, int partition) {
    var props = region.consumerProperties("unused");
    props.remove("group.id");
    props.put("key.deserializer", StringDeserializer.class.getName());
    props.put("value.deserializer", ByteArrayDeserializer.class.getName());
    List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(props)) {
      TopicPartition tp = new TopicPartition(topic, partition);
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      long end = c.endOffsets(List.of(tp)).get(tp);
      while (c.position(tp) < end) {
        c.poll(Duration.ofMillis(200)).records(tp).forEach(out::add);
      }
    }
    return out;
  }

  /**
   * A replica loses its directory; a fresh one restores every record before it serves, and a claim
   * issued while it restores waits and answers from the restored state (AlreadyCompleted).
   */
  @Test
  void restoreAfterLosingTheDirectoryAnswersExactlyAsBefore(@TempDir Path dir) throws Exception {
    int n = 10_000;
    List<String> ids = ids("restore", n);
    TreeMap<String, IdRecord> before;
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a1"), "restore",
        x -> x.heartbeatInterval(Duration.ZERO))) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      claimAndComplete(a.gated, ids);
      for (int s = 0; s < SHARDS; s++) {
        a.log.barrier(s, A).get(60, TimeUnit.SECONDS);
      }
      assertTrue(a.log.catchUp(A, allShards(), Duration.ofSeconds(60)).complete());
      before = a.scan();
      assertEquals(n, before.size());
    }
    // the directory is lost: a new replica on a new directory
    Replica fresh = Replica.open(regions, "region-a", "i-fresh", dir.resolve("a2"), "restore",
        x -> x.heartbeatInterval(Duration.ZERO).restoreWait(Duration.ofSeconds(60)));
    try (fresh) {
      String probe = ids.get(n - 1);
      // issued at once: it must wait for the restore, never answer from a half-read store
      ClaimResult during = fresh.gated.claim(probe, shardOf(probe), digest(probe), 0, LEASE);
      assertInstanceOf(ClaimResult.AlreadyCompleted.class, during);
      assertTrue(fresh.log.awaitRestored(Duration.ofSeconds(60)));
      for (String id : ids) {
        assertEquals(before.get(id), fresh.gated.get(id, shardOf(id)).orElse(null), id);
      }
      assertEquals(before, fresh.scan());
      double records = fresh.counter("tandem.replication.restore.records");
      Timer t = fresh.meters.find("tandem.replication.restore").timer();
      assertEquals(SHARDS, t.count());
      double wall = t.max(TimeUnit.SECONDS);
      assertTrue(records >= 2 * n, "restored " + records + " changelog records");
      figure(String.format("restore: %.0f changelog records (%d ids, %d shards read by one "
          + "thread) in %.2f s = %.0f records/s", records, n, SHARDS, wall, records / wall));
      // more writes while the first directory is offline
      claimAndComplete(fresh.gated, ids("restore-more", 100));
      for (int s = 0; s < SHARDS; s++) {
        fresh.log.barrier(s, A).get(60, TimeUnit.SECONDS);
      }
      assertTrue(fresh.log.catchUp(A, allShards(), Duration.ofSeconds(60)).complete());
      before = fresh.scan();
    }
    // the first directory comes back: restore resumes at its checkpoint, not at the beginning
    try (Replica again = Replica.open(regions, "region-a", dir.resolve("a1"), "restore",
        x -> x.heartbeatInterval(Duration.ZERO))) {
      assertTrue(again.log.awaitRestored(Duration.ofSeconds(60)));
      double records = again.counter("tandem.replication.restore.records");
      assertTrue(records >= 200 && records < 2 * n,
          "resumed from the checkpoint: read " + records + " records, not all " + (2 * n + 200));
      assertEquals(before, again.scan());
    }
  }

  /**
   * Region B's broker stops while region A keeps writing: A's copies for B wait in A's publisher
   * spool, a catch-up of B answers "unreachable" quickly, a fresh B replica does not serve; when B is
   * back, B converges with no record missing.
   */
  @Test
  void regionDownThenBackConvergesFromTheSpool(@TempDir Path dir) throws Exception {
    List<String> first = ids("down1", 200);
    List<String> during = ids("down2", 300);
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "down");
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), "down")) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      assertTrue(b.log.awaitRestored(Duration.ofSeconds(30)));
      claimAndComplete(a.gated, first);
      await().atMost(Duration.ofSeconds(60)).until(() -> b.scan().size() == first.size());
      assertTrue(a.log.peerReachable());

      regions.b().stopBroker();
      Replica late = null;
      try {
        claimAndComplete(a.gated, during);
        await().atMost(Duration.ofSeconds(30)).until(() -> !a.log.peerReachable());
        assertTrue(a.log.unackedByPeers(shardOf(during.get(0))) > 0);

        long t0 = System.nanoTime();
        CatchUpResult cu = a.log.catchUp(B, allShards(), Duration.ofSeconds(20));
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        assertFalse(cu.complete());
        assertTrue(cu.reason().startsWith("unreachable"), cu.reason());
        assertTrue(took.compareTo(Duration.ofSeconds(10)) < 0, "catch-up took " + took);

        // a replica that starts in B now cannot restore: it must refuse, clearly, not answer
        late = Replica.open(regions, "region-b", "late", dir.resolve("late"), "down",
            x -> x.createTopics(false).restoreWait(Duration.ofSeconds(1)).apiTimeout(
                Duration.ofSeconds(1)));
        String probe = first.get(0);
        Replica l = late;
        ShardNotReadyException e = assertThrows(ShardNotReadyException.class,
            () -> l.gated.claim(probe, shardOf(probe), digest(probe), 0, LEASE));
        assertEquals(ShardNotReadyException.Reason.RESTORING, e.reason());
      } finally {
        regions.b().startBroker();
      }
      double spooled = a.meters.find("tandem.publisher.spooled").tag("region", "region-b")
          .counters().stream().mapToDouble(c -> c.count()).sum();
      assertTrue(spooled > 0, "copies for region-b went to the spool");

      TreeMap<String, IdRecord> expected = a.scan();
      assertEquals(first.size() + during.size(), expected.size());
      await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500))
          .until(() -> b.scan().equals(expected));
      try (Replica l = late) {
        assertTrue(l.log.awaitRestored(Duration.ofSeconds(60)));
        await().atMost(Duration.ofSeconds(60)).until(() -> l.scan().equals(expected));
      }
      assertTrue(a.log.catchUp(B, allShards(), Duration.ofSeconds(30)).complete());
      await().atMost(Duration.ofSeconds(30)).until(a.log::peerReachable);
    }
  }

  /**
   * Region B is down and the publisher's spool is full: B's copies can be neither sent nor spooled.
   * The writer retries them (counted) until B is back, so B still converges with no record missing,
   * and the barrier on B completes only then.
   */
  @Test
  void copiesRefusedByAFullSpoolAreRetriedUntilDelivered(@TempDir Path dir) throws Exception {
    var meters = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    DualPublisher tiny = DualPublisher.builder()
        .sink(KafkaRegionalSink.create(A, producerProps(regions.a())))
        .sink(KafkaRegionalSink.create(B, producerProps(regions.b())))
        .ackPolicy(AckPolicy.ANY)
        .timeout(Duration.ofSeconds(2))
        .spoolDirectory(dir.resolve("tiny-spool"))
        .spoolMaxRecords(5)
        .meterRegistry(meters)
        .build();
    List<String> ids = ids("full", 40);
    try (tiny;
        Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "full",
            x -> x.publisher(tiny).heartbeatInterval(Duration.ZERO)
                .retryBackoff(Duration.ofMillis(300)));
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), "full",
            x -> x.heartbeatInterval(Duration.ZERO))) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      assertTrue(b.log.awaitRestored(Duration.ofSeconds(30)));
      int shard = shardOf(ids.get(0));
      regions.b().stopBroker();
      CompletableFuture<Void> onB;
      try {
        claimAndComplete(a.gated, ids);
        onB = a.log.barrier(shard, B);
        await().atMost(Duration.ofSeconds(30))
            .until(() -> a.counter("tandem.replication.publish.retries") > 0);
        assertFalse(onB.isDone(), "nothing reached B while it is down");
        assertTrue(a.log.unackedByPeers(shard) > 0);
        // the local region acknowledges meanwhile (after the publisher's timeout for B's copy)
        a.log.barrier(shard, A).get(30, TimeUnit.SECONDS);
        assertFalse(onB.isDone(), "still nothing on B");
      } finally {
        regions.b().startBroker();
      }
      TreeMap<String, IdRecord> expected = a.scan();
      assertEquals(ids.size(), expected.size());
      onB.get(60, TimeUnit.SECONDS);
      await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500))
          .until(() -> b.scan().equals(expected));
      await().atMost(Duration.ofSeconds(30)).until(() -> a.log.unackedByPeers(shard) == 0);
    }
  }

  static java.util.Properties producerProps(KafkaRegion region) {
    java.util.Properties p = new java.util.Properties();
    p.put("bootstrap.servers", region.bootstrapServers());
    p.put("max.block.ms", "2000");
    p.put("linger.ms", "5");
    return p;
  }

  /**
   * A change that is only in region B's changelog (as when B's copy for A still waits in a spool) is
   * invisible to A until A catches up with B's changelog; a second catch-up resumes at its checkpoint.
   */
  @Test
  void catchUpAppliesAChangeOnlyInTheOtherRegionsChangelog(@TempDir Path dir) throws Exception {
    String id = "only-in-b";
    int shard = shardOf(id);
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "catchup",
        x -> x.heartbeatInterval(Duration.ZERO))) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      regions.b().createTopic("catchup.changelog", SHARDS);
      IdRecord onlyInB = new IdRecord(id, shard, 0, Phase.COMPLETED, 1, 0,
          dev.tandem.store.Owner.of("region-b", "b1"), 0, System.currentTimeMillis() << 16,
          System.currentTimeMillis(), new TreeSet<>(Set.of(digest(id))),
          new TreeSet<>(Set.of(new dev.tandem.store.Completer(B, "b1", 1))), null, null);
      var props = regions.b().producerProperties();
      props.put("key.serializer", ByteArraySerializer.class.getName());
      try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
        p.send(new ProducerRecord<>("catchup.changelog", shard,
            key(ChangelogCodec.recordKey(B, "b-inc", id)), ChangelogCodec.encode(onlyInB))).get();
      }
      assertTrue(a.log.catchUp(A, allShards(), Duration.ofSeconds(30)).complete());
      assertTrue(a.gated.get(id, shard).isEmpty(), "not in A's own changelog");

      CatchUpResult first = a.log.catchUp(B, Set.of(shard), Duration.ofSeconds(30));
      assertTrue(first.complete(), first.toString());
      assertEquals(1, first.recordsApplied());
      assertEquals(onlyInB, a.gated.get(id, shard).orElseThrow());
      CatchUpResult again = a.log.catchUp(B, Set.of(shard), Duration.ofSeconds(30));
      assertTrue(again.complete(), again.toString());
      assertEquals(0, again.recordsApplied(), "resumed at the checkpoint");
    }
  }

  /** Garbage, an unknown format and a record in the wrong partition are counted and skipped. */
  @Test
  void badChangelogRecordsAreCountedAndSkipped(@TempDir Path dir) throws Exception {
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "bad");
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), "bad")) {
      assertTrue(b.log.awaitRestored(Duration.ofSeconds(30)));
      String misplaced = "misplaced";
      int misplacedShard = shardOf(misplaced);
      int wrongPartition = (misplacedShard + 1) % SHARDS;
      byte[] valid = ChangelogCodec.encode(ChangelogCodecTest.record(misplaced, misplacedShard,
          Phase.COMPLETED, 1));
      byte[] unknownFormat = valid.clone();
      unknownFormat[0] = 7;
      var props = regions.b().producerProperties();
      props.put("key.serializer", ByteArraySerializer.class.getName());
      try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
        for (int s = 0; s < SHARDS; s++) {
          p.send(new ProducerRecord<>("bad.changelog", s, key("garbage"), "garbage".getBytes(UTF_8)))
              .get();
        }
        p.send(new ProducerRecord<>("bad.changelog", 0, key("unknown"), unknownFormat)).get();
        p.send(new ProducerRecord<>("bad.changelog", wrongPartition, key("misplaced"), valid)).get();
      }
      List<String> ids = ids("after-bad", 200);
      claimAndComplete(a.gated, ids);
      TreeMap<String, IdRecord> expected = a.scan();
      await().atMost(Duration.ofSeconds(60)).until(() -> b.scan().equals(expected));
      assertEquals(SHARDS + 1, b.counter("tandem.replication.bad.records", "reason", "corrupt"));
      assertEquals(1, b.counter("tandem.replication.bad.records", "reason", "wrong-partition"));
      assertTrue(b.store.get(misplaced, misplacedShard).isEmpty());
      assertTrue(b.store.get(misplaced, wrongPartition).isEmpty());
      // and b keeps replicating after them
      List<String> more = ids("after-bad-2", 50);
      claimAndComplete(a.gated, more);
      TreeMap<String, IdRecord> expected2 = a.scan();
      await().atMost(Duration.ofSeconds(60)).until(() -> b.scan().equals(expected2));
    }
  }

  private static byte[] key(String s) {
    return s.getBytes(UTF_8);
  }

  /**
   * Sharded mode: a replica materialises shards 0 and 1 only, serves nothing else, and on revoke of
   * shard 1 flushes its writes (another replica of the region sees them) and drops its state.
   */
  /**
   * A shard handed off just before a graceful close (a rolling deploy) still gets its marker: close
   * waits (bounded) for pending markers before it stops the scheduler and the publisher. Before, close
   * stopped the scheduler first and the marker step returned once closed, so the next holder waited
   * its whole handoffTimeout.
   */
  @Test
  void aHandoffJustBeforeCloseStillWritesItsMarker(@TempDir Path dir) throws Exception {
    try (Replica reader = Replica.open(regions, "region-a", "reader", dir.resolve("reader"),
        "hoclose", x -> {})) {
      Handoff token;
      Replica giver = Replica.open(regions, "region-a", "giver", dir.resolve("giver"), "hoclose",
          x -> {});
      try {
        List<String> inShard0 = ids("hc", 200).stream().filter(id -> shardOf(id) == 0).toList();
        claimAndComplete(giver.gated, inShard0);
        token = giver.log.handOff(0).orElseThrow();
      } finally {
        giver.close(); // at once: the marker step is still to come
      }
      assertEquals(1.0, giver.counter("tandem.replication.handoffs", "outcome", "marked"),
          "the marker is written before close returns");
      await().atMost(Duration.ofSeconds(30)).until(() -> reader.log.handedOff(token));
    }
  }

  @Test
  void shardedReplicaRevokeFlushesThenDrops(@TempDir Path dir) throws Exception {
    try (Replica full = Replica.open(regions, "region-a", "full", dir.resolve("full"), "shard",
            x -> {});
        Replica part = Replica.open(regions, "region-a", "part", dir.resolve("part"), "shard",
            x -> x.restoreWait(Duration.ofMillis(200)))) {
      part.log.revoke(allShards());
      assertEquals(Set.of(), part.log.shards());
      part.log.assign(Set.of(0, 1));
      assertTrue(part.log.awaitRestored(Duration.ofSeconds(30)));
      assertEquals(Set.of(0, 1), part.log.shards());
      List<String> inShard1 = new ArrayList<>();
      List<String> inShard0 = new ArrayList<>();
      for (String id : ids("sh", 400)) {
        if (shardOf(id) == 1) {
          inShard1.add(id);
        } else if (shardOf(id) == 0) {
          inShard0.add(id);
        }
      }
      claimAndComplete(part.gated, inShard1);
      claimAndComplete(part.gated, inShard0);
      String other = ids("sh", 400).stream().filter(id -> shardOf(id) == 3).findFirst().get();
      ShardNotReadyException e = assertThrows(ShardNotReadyException.class,
          () -> part.gated.claim(other, 3, digest(other), 0, LEASE));
      assertEquals(ShardNotReadyException.Reason.NOT_ASSIGNED, e.reason());

      part.log.revoke(Set.of(1));
      assertEquals(Set.of(0), part.log.shards());
      assertTrue(part.log.barrier(1, A).isDone());
      Map<String, IdRecord> stillThere = new HashMap<>();
      part.store.forEach(1, r -> stillThere.put(r.id(), r));
      assertEquals(Map.of(), stillThere, "shard 1 state dropped");
      assertEquals(ShardNotReadyException.Reason.NOT_ASSIGNED,
          assertThrows(ShardNotReadyException.class,
              () -> part.gated.get(inShard1.get(0), 1)).reason());
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        for (String id : inShard1) {
          if (full.gated.get(id, 1).map(r -> r.phase() != Phase.COMPLETED).orElse(true)) {
            return false;
          }
        }
        return true;
      });
      assertTrue(part.gated.isTerminal(inShard0.get(0), 0));
      CatchUpResult own = part.log.catchUp(A, Set.of(0), Duration.ofSeconds(30));
      assertTrue(own.complete(), own.toString());
      CatchUpResult notMine = part.log.catchUp(A, Set.of(2), Duration.ofSeconds(5));
      assertFalse(notMine.complete());
      CatchUpResult peer = part.log.catchUp(B, Set.of(0), Duration.ofSeconds(30));
      assertTrue(peer.complete(), peer.toString());
    }
  }

  /**
   * Issue 14, defect 5 over real changelogs, with two instances in region A (each materialising its
   * shards only): ids completed in both regions during a partition are counted once per region — the
   * sum over region A's instances — and shards moving between the instances (revoke: drop; assign:
   * restore from the changelog) move their counts without counting anything twice.
   */
  @Test
  void detectedDuplicatesFollowTheirShardsAcrossInRegionRebalances(@TempDir Path dir)
      throws Exception {
    java.util.function.Consumer<KafkaReplicationLog.Builder> shardedViaLink = lb -> {
      lb.allShards = false;
      lb.region(B, regions.b().linkBootstrapServers());
    };
    // each region reaches the other's changelog only through the link, cut while both process
    try (Replica a1 = Replica.open(regions, "region-a", "a1", dir.resolve("a1"), "dupcount",
            shardedViaLink);
        Replica a2 = Replica.open(regions, "region-a", "a2", dir.resolve("a2"), "dupcount",
            shardedViaLink);
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), "dupcount",
            lb -> lb.region(A, regions.a().linkBootstrapServers()))) {
      Set<Integer> low = Set.of(0, 1);
      Set<Integer> high = Set.of(2, 3);
      a1.log.assign(low);
      a2.log.assign(high);
      assertTrue(a1.log.awaitRestored(Duration.ofSeconds(30)));
      assertTrue(a2.log.awaitRestored(Duration.ofSeconds(30)));
      assertTrue(b.log.awaitRestored(Duration.ofSeconds(30)));
      List<String> ids = ids("twice", 24);
      List<String> inLow = ids.stream().filter(id -> low.contains(shardOf(id))).toList();
      List<String> inHigh = ids.stream().filter(id -> high.contains(shardOf(id))).toList();
      assertTrue(!inLow.isEmpty() && !inHigh.isEmpty());
      regions.cutLink();
      try {
        claimAndComplete(a1.store, inLow); // processed in region A by the shards' instance ...
        claimAndComplete(a2.store, inHigh);
        claimAndComplete(b.store, ids); // ... and in region B: a partition under AUTOMATIC
      } finally {
        regions.healLink(); // the spools replay: each id ends with completers from both regions
      }
      await().atMost(Duration.ofSeconds(60)).until(() ->
          a1.store.detectedDuplicates() == inLow.size()
              && a2.store.detectedDuplicates() == inHigh.size()
              && b.store.detectedDuplicates() == ids.size());
      for (int round = 1; round <= 2; round++) {
        // shards 0 and 1 move from a1 to a2, then back
        Replica from = round == 1 ? a1 : a2;
        Replica to = round == 1 ? a2 : a1;
        from.log.revoke(low);
        to.log.assign(low);
        assertTrue(to.log.awaitRestored(Duration.ofSeconds(30)));
        assertEquals(round == 1 ? 0 : inLow.size(), a1.store.detectedDuplicates(), "a1, round " + round);
        assertEquals(round == 1 ? ids.size() : inHigh.size(), a2.store.detectedDuplicates(),
            "a2, round " + round);
        assertEquals(ids.size(), a1.store.detectedDuplicates() + a2.store.detectedDuplicates(),
            "region A's figure (the sum over its instances) after rebalance " + round);
      }
    }
  }
}
