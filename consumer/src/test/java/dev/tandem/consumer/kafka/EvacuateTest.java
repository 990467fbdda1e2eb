package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.OwnershipAdmin;
import dev.tandem.consumer.ownership.ShardMoveResult;
import dev.tandem.consumer.ownership.ShardMoveResult.Outcome;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.ShardLease;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Evacuate and return, remotely ({@link OwnershipAdmin}), on two real KRaft clusters with two
 * consumer instances per region: the request travels through each region's ownership request topic,
 * the instance that runs each shard hands it over (planned handover) and answers, and the client
 * reports every shard.
 */
class EvacuateTest {

  static final int SHARDS = 12;
  static TwoRegions regions;

  @BeforeAll
  static void start() {
    regions = TwoRegions.start();
  }

  @AfterAll
  static void stop() {
    regions.close();
  }

  /** The key table the admin is made from: the same regions, shards and changelog prefix. */
  static Map<String, Object> adminConfig(String prefix) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put(TandemRegionConfig.REGIONS_CONFIG, RegionNode.A.name() + "," + RegionNode.B.name());
    c.put(TandemRegionConfig.REGION_PREFIX + RegionNode.A.name() + ".bootstrap.servers",
        regions.a().bootstrapServers());
    c.put(TandemRegionConfig.REGION_PREFIX + RegionNode.B.name() + ".bootstrap.servers",
        regions.b().bootstrapServers());
    c.put(TandemRegionConfig.SHARDS_CONFIG, SHARDS);
    c.put(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG, prefix);
    c.put(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG, 3_000L);
    return c;
  }

  static RegionNode node(RegionId region, String instance, Path dir, String topic, String prefix,
      History history, Consumer<RegionNode.Options> more) {
    return new RegionNode(regions, region, instance, dir, topic, prefix, history, o -> {
      o.shards = SHARDS;
      o.handlerTimeout = Duration.ofSeconds(60);
      // a handler that takes a few ms, as real work does
      o.handler = (rec, ctx) -> {
        Thread.sleep(2);
        history.handled(ctx.id(), region.name(), instance, ctx.epoch());
      };
      more.accept(o);
    });
  }

  private static CompletableFuture<Void> stream(TandemKafkaProducer<String, byte[]> producer,
      String topic, String prefix, int from, int to, History history) {
    return CompletableFuture.runAsync(() -> {
      try {
        for (int i = from; i < to; i += 20) {
          Publishing.publish(producer, topic, prefix, i, Math.min(to, i + 20), history);
          Thread.sleep(5); // a steady stream, not one burst
        }
      } catch (Exception e) {
        throw new CompletionException(e);
      }
    });
  }

  private static Set<Integer> shardsOf(List<ShardMoveResult> results) {
    return results.stream().map(ShardMoveResult::shard).collect(Collectors.toCollection(TreeSet::new));
  }

  private static void assertAllMoved(List<ShardMoveResult> results, Set<Integer> shards,
      RegionId to, long epoch, OwnershipAdmin admin) {
    assertEquals(shards, shardsOf(results), results.toString());
    for (ShardMoveResult r : results) {
      assertEquals(Outcome.MOVED, r.outcome(), r.toString());
      assertEquals(to, r.to(), r.toString());
      assertEquals(epoch, r.newEpoch(), r.toString());
      assertTrue(r.bound().isEmpty(), "a planned handover has no bound, zero duplicates");
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> admin.leases().stream()
        .filter(l -> shards.contains(l.shard())).allMatch(l -> l.owner().equals(to)));
  }

  @Test
  void evacuateAndReturnDuringASteadyStreamWithoutDuplicatesOrLoss(@TempDir Path dir)
      throws Exception {
    String topic = "orders-evacuate";
    String prefix = "ev";
    regions.createTopic(topic, SHARDS);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), SHARDS);
    History history = new History();
    int total = 3000;
    Set<Integer> homeA = new TreeSet<>(List.of(0, 2, 4, 6, 8, 10)); // sorted([a, b])[shard % 2]
    Set<Integer> homeB = new TreeSet<>(List.of(1, 3, 5, 7, 9, 11));
    Set<Integer> all = new TreeSet<>(homeA);
    all.addAll(homeB);
    try (RegionNode a1 = node(RegionNode.A, "a1", dir, topic, prefix, history, o -> { });
        RegionNode a2 = node(RegionNode.A, "a2", dir, topic, prefix, history, o -> { });
        RegionNode b1 = node(RegionNode.B, "b1", dir, topic, prefix, history, o -> { });
        RegionNode b2 = node(RegionNode.B, "b2", dir, topic, prefix, history, o -> { });
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"));
        OwnershipAdmin admin = OwnershipAdmin.create(adminConfig(prefix), dir.resolve("admin"))) {
      a1.start();
      a2.start();
      b1.start();
      b2.start();
      CompletableFuture<Void> feed = stream(producer, topic, "ev", 0, total, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 300);

      // B's six shards go to A first, so that A then holds all twelve
      List<ShardMoveResult> toA = admin.evacuate(RegionNode.B, Duration.ofSeconds(20), false);
      System.out.println("evacuate B: " + toA);
      assertAllMoved(toA, homeB, RegionNode.A, 1, admin);

      // the measured one: region A with 12 shards, two instances, evacuated mid-stream
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 900);
      long t0 = System.nanoTime();
      List<ShardMoveResult> evacuated = admin.evacuate(RegionNode.A, Duration.ofSeconds(20), false);
      long evacuateMillis = (System.nanoTime() - t0) / 1_000_000;
      System.out.println("evacuate A: " + evacuated);
      assertEquals(SHARDS, evacuated.size());
      for (ShardMoveResult r : evacuated) {
        assertEquals(Outcome.MOVED, r.outcome(), r.toString());
        assertEquals(homeA.contains(r.shard()) ? 1 : 2, r.newEpoch(), r.toString());
      }
      await().atMost(Duration.ofSeconds(20)).until(() -> admin.leases().stream()
          .allMatch(l -> l.owner().equals(RegionNode.B)));

      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 1800);
      long t1 = System.nanoTime();
      List<ShardMoveResult> returned = admin.returnTo(RegionNode.A, Duration.ofSeconds(20));
      long returnMillis = (System.nanoTime() - t1) / 1_000_000;
      System.out.println("return A: " + returned);
      assertAllMoved(returned, homeA, RegionNode.A, 2, admin);

      feed.get(60, TimeUnit.SECONDS);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == total);
      History.Report report = history.check(Duration.ofSeconds(5).toNanos());
      long slowestShard = evacuated.stream().mapToLong(r -> r.took().toMillis()).max().orElse(-1);
      System.out.printf("evacuate: messages=%d duplicates=%d lost=%d evacuate(12 shards)=%dms "
          + "(slowest shard result %dms) return(6)=%dms %s%n", total, report.duplicates(),
          report.lost().size(), evacuateMillis, slowestShard, returnMillis, report);
      assertEquals(0, report.lost().size(), report.toString());
      assertEquals(0, report.duplicates(), report.toString());
      for (RegionNode n : List.of(a1, a2, b1, b2)) {
        assertEquals(0, n.ownership.reports().size(), n.instance + ": no takeover, only handovers");
      }
      double acted = 0;
      for (RegionNode n : List.of(a1, a2)) {
        acted += n.meters.find("tandem.ownership.requests").tag("outcome", "acted").counter().count();
      }
      assertEquals(SHARDS, acted, "A's two instances acted on the 12 shards of the evacuation");
      assertTrue(a1.meters.find("tandem.ownership.requests").tag("outcome", "acted").counter().count() > 0
          && a2.meters.find("tandem.ownership.requests").tag("outcome", "acted").counter().count() > 0,
          "each instance handed over the shards it ran");
    }
  }

  @Test
  void anInstanceThatDoesNotAnswerKeepsItsShardsUntilForcedWithABound(@TempDir Path dir)
      throws Exception {
    String topic = "orders-evacuate-hung";
    String prefix = "evh";
    regions.createTopic(topic, SHARDS);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), SHARDS);
    History history = new History();
    Map<String, Set<Integer>> ran = new ConcurrentHashMap<>();
    CountDownLatch release = new CountDownLatch(1);
    java.util.concurrent.atomic.AtomicBoolean hang = new java.util.concurrent.atomic.AtomicBoolean();
    Consumer<RegionNode.Options> recordShards = o -> { };
    try (RegionNode a1 = new RegionNode(regions, RegionNode.A, "a1", dir, topic, prefix, history,
            o -> hangable(o, RegionNode.A, "a1", history, ran, null, null));
        RegionNode a2 = new RegionNode(regions, RegionNode.A, "a2", dir, topic, prefix, history,
            o -> hangable(o, RegionNode.A, "a2", history, ran, hang, release));
        RegionNode b1 = node(RegionNode.B, "b1", dir, topic, prefix, history, recordShards);
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"));
        OwnershipAdmin admin = OwnershipAdmin.create(adminConfig(prefix), dir.resolve("admin"))) {
      a1.start();
      a2.start();
      b1.start();
      Publishing.publish(producer, topic, "hg", 0, 240, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 240);
      Set<Integer> ranByA2 = Set.copyOf(ran.getOrDefault("a2", Set.of()));
      Set<Integer> ranByA1 = Set.copyOf(ran.getOrDefault("a1", Set.of()));
      assertFalse(ranByA2.isEmpty() || ranByA1.isEmpty(), "both of A's instances run shards");

      // a2 hangs inside a handler: alive in its group, holding its shards, answering nothing
      hang.set(true);
      Publishing.publish(producer, topic, "hg", 240, 300, history);
      await().atMost(Duration.ofSeconds(30)).until(() -> release.getCount() == 1 && hung.get() > 0);

      List<ShardMoveResult> first = admin.evacuate(RegionNode.A, Duration.ofSeconds(4), false);
      System.out.println("evacuate A, a2 hung: " + first);
      Set<Integer> notAnswered = new TreeSet<>();
      for (ShardMoveResult r : first) {
        if (r.outcome() == Outcome.NOT_ANSWERED) {
          notAnswered.add(r.shard());
          assertTrue(ranByA2.contains(r.shard()), "only the hung instance's shards: " + r);
          assertEquals(0, r.newEpoch(), r.toString());
          assertTrue(r.bound().isEmpty());
        } else {
          assertEquals(Outcome.MOVED, r.outcome(), r.toString());
          assertTrue(ranByA1.contains(r.shard()), "a1 answered for its own shards: " + r);
        }
      }
      assertFalse(notAnswered.isEmpty(), "the hung instance's shards are reported: " + first);
      for (ShardLease l : admin.leases()) {
        if (notAnswered.contains(l.shard())) {
          assertEquals(RegionNode.A, l.owner(), "nothing forced without force: " + l);
          assertEquals(0, l.epoch(), l.toString());
        }
      }

      List<ShardMoveResult> forced = admin.evacuate(RegionNode.A, Duration.ofSeconds(4), true);
      System.out.println("evacuate A --force, a2 hung: " + forced);
      assertEquals(notAnswered, shardsOf(forced));
      for (ShardMoveResult r : forced) {
        assertEquals(Outcome.FORCED, r.outcome(), r.toString());
        assertEquals(1, r.newEpoch(), r.toString());
        assertTrue(r.bound().isPresent(), "A's changelog acknowledged the fence: " + r);
      }
      await().atMost(Duration.ofSeconds(20)).until(() -> admin.leases().stream()
          .allMatch(l -> l.owner().equals(RegionNode.B)));
      release.countDown();
    } finally {
      release.countDown();
    }
  }

  static final java.util.concurrent.atomic.AtomicInteger hung =
      new java.util.concurrent.atomic.AtomicInteger();

  /** A node whose handler records the shards it ran, and hangs (until released) once asked to. */
  static void hangable(RegionNode.Options o, RegionId region, String instance, History history,
      Map<String, Set<Integer>> ran, java.util.concurrent.atomic.AtomicBoolean hang,
      CountDownLatch release) {
    o.shards = SHARDS;
    o.handlerTimeout = Duration.ofSeconds(60);
    o.handler = (rec, ctx) -> {
      if (hang != null && hang.get()) {
        hung.incrementAndGet();
        release.await(60, TimeUnit.SECONDS);
      }
      ran.computeIfAbsent(instance, k -> ConcurrentHashMap.newKeySet()).add(ctx.shard());
      history.handled(ctx.id(), region.name(), instance, ctx.epoch());
    };
  }
}
