package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.OwnershipAdmin;
import dev.tandem.consumer.ownership.ShardMoveResult;
import dev.tandem.consumer.ownership.ShardOwnership;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Evacuate and return, remotely ({@link OwnershipAdmin}), on two real KRaft clusters with two
 * consumer instances per region: the request travels through each region's ownership request topic,
 * the instance that runs each shard hands it over (planned handover) and answers, and the client
 * reports every shard. The tests share the clusters and the four instances: the second starts where
 * the first left off (every shard at home).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EvacuateTest {

  static final int SHARDS = 12;
  static final String TOPIC = "orders-evacuate";
  static final String PREFIX = "ev";
  static TwoRegions regions;
  static Path dir;
  static final History history = new History();
  /** Per instance: the shards whose handler it ran since the last reset. */
  static final Map<String, Set<Integer>> ran = new ConcurrentHashMap<>();
  static final AtomicBoolean hangA2 = new AtomicBoolean();
  static final CountDownLatch releaseA2 = new CountDownLatch(1);
  static final AtomicInteger hungInA2 = new AtomicInteger();
  static RegionNode a1;
  static RegionNode a2;
  static RegionNode b1;
  static RegionNode b2;
  static TandemKafkaProducer<String, byte[]> producer;
  static OwnershipAdmin admin;

  /** One pair of clusters, two instances per region and one admin client for both tests. */
  @BeforeAll
  static void start(@TempDir Path tmp) {
    dir = tmp;
    long t0 = System.nanoTime();
    regions = TwoRegions.start();
    System.out.printf("setup: clusters %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    regions.createTopic(TOPIC, SHARDS);
    regions.createTopic(KafkaDeadLetterSink.topicFor(TOPIC), SHARDS);
    // the four instances, the producer and the admin open their clients and restore their stores
    // at the same time (each waits on brokers, not on the CPU), and the instances join their
    // groups together: one rebalance per group instead of one per instance
    CompletableFuture<RegionNode> fa1 = CompletableFuture.supplyAsync(
        () -> node(RegionNode.A, "a1", null).start());
    CompletableFuture<RegionNode> fa2 = CompletableFuture.supplyAsync(
        () -> node(RegionNode.A, "a2", hangA2).start());
    CompletableFuture<RegionNode> fb1 = CompletableFuture.supplyAsync(
        () -> node(RegionNode.B, "b1", null).start());
    CompletableFuture<RegionNode> fb2 = CompletableFuture.supplyAsync(
        () -> node(RegionNode.B, "b2", null).start());
    producer = Publishing.producer(regions, dir.resolve("pub"));
    admin = OwnershipAdmin.create(adminConfig(PREFIX), dir.resolve("admin"));
    a1 = fa1.join();
    a2 = fa2.join();
    b1 = fb1.join();
    b2 = fb2.join();
    System.out.printf("setup: all %d ms%n", (System.nanoTime() - t0) / 1_000_000);
  }

  @AfterAll
  static void stop() throws Exception {
    releaseA2.countDown();
    long t0 = System.nanoTime();
    // closed together: each close waits on its brokers (final commits, changelog flush), not on
    // the others; closing one by one made the group rebalance onto the rest each time
    List<CompletableFuture<Void>> closing = new java.util.ArrayList<>();
    for (AutoCloseable c : new AutoCloseable[] {admin, producer, a1, a2, b1, b2}) {
      if (c != null) {
        closing.add(CompletableFuture.runAsync(() -> {
          try {
            c.close();
          } catch (Exception e) {
            throw new CompletionException(e);
          }
          System.out.printf("teardown: %s closed at %d ms%n", c,
              (System.nanoTime() - t0) / 1_000_000);
        }));
      }
    }
    CompletableFuture.allOf(closing.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
    regions.close();
    System.out.printf("teardown: all %d ms%n", (System.nanoTime() - t0) / 1_000_000);
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

  /**
   * An instance whose handler takes a few ms, as real work does, records the shards it ran, and
   * hangs (alive in its group, holding its shards, answering nothing) while {@code hang} is set.
   */
  static RegionNode node(RegionId region, String instance, AtomicBoolean hang) {
    return new RegionNode(regions, region, instance, dir, TOPIC, PREFIX, history, o -> {
      o.shards = SHARDS;
      o.handlerTimeout = Duration.ofSeconds(60);
      o.handler = (rec, ctx) -> {
        if (hang != null && hang.get()) {
          hungInA2.incrementAndGet();
          releaseA2.await(60, TimeUnit.SECONDS);
        }
        Thread.sleep(2);
        ran.computeIfAbsent(instance, k -> ConcurrentHashMap.newKeySet()).add(ctx.shard());
        history.handled(ctx.id(), region.name(), instance, ctx.epoch());
      };
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
  @Order(1)
  void evacuateAndReturnDuringASteadyStreamWithoutDuplicatesOrLoss() throws Exception {
    int total = 3000;
    Set<Integer> homeA = new TreeSet<>(List.of(0, 2, 4, 6, 8, 10)); // sorted([a, b])[shard % 2]
    Set<Integer> homeB = new TreeSet<>(List.of(1, 3, 5, 7, 9, 11));
    CompletableFuture<Void> feed = stream(producer, TOPIC, "ev", 0, total, history);
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
    for (ShardLease l : admin.leases()) {
      // what a status reader shows, and what keeps automatic failback off until the return
      assertEquals(java.util.Optional.of(RegionNode.A), ShardOwnership.evacuatedFrom(l),
          "marked evacuated: " + l);
    }

    await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 1800);
    long t1 = System.nanoTime();
    List<ShardMoveResult> returned = admin.returnTo(RegionNode.A, Duration.ofSeconds(20));
    long returnMillis = (System.nanoTime() - t1) / 1_000_000;
    System.out.println("return A: " + returned);
    assertAllMoved(returned, homeA, RegionNode.A, 2, admin);
    for (ShardLease l : admin.leases()) {
      if (homeA.contains(l.shard())) {
        assertEquals(java.util.Optional.empty(), ShardOwnership.evacuatedFrom(l),
            "the return cleared the mark: " + l);
      }
    }

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
    double actedA1 = acted(a1);
    double actedA2 = acted(a2);
    assertEquals(SHARDS, actedA1 + actedA2, "A's two instances acted on the 12 shards of the evacuation");
    assertTrue(actedA1 > 0 && actedA2 > 0, "each instance handed over the shards it ran");
  }

  private static double acted(RegionNode n) {
    return n.meters.find("tandem.ownership.requests").tag("outcome", "acted").counter().count();
  }

  @Test
  @Order(2)
  void anInstanceThatDoesNotAnswerKeepsItsShardsUntilForcedWithABound() throws Exception {
    await().atMost(Duration.ofSeconds(20)).until(() -> admin.leases().stream()
        .allMatch(l -> l.owner().equals(admin.regions().get(l.shard() % 2))));
    ran.clear();
    Publishing.publish(producer, TOPIC, "hg", 0, 120, history);
    await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 3120);
    Set<Integer> ranByA2 = Set.copyOf(ran.getOrDefault("a2", Set.of()));
    Set<Integer> ranByA1 = Set.copyOf(ran.getOrDefault("a1", Set.of()));
    assertFalse(ranByA2.isEmpty() || ranByA1.isEmpty(), "both of A's instances run shards");

    // a2 hangs inside a handler: alive in its group, holding its shards, answering nothing
    hangA2.set(true);
    Publishing.publish(producer, TOPIC, "hg", 120, 180, history);
    await().atMost(Duration.ofSeconds(30)).until(() -> hungInA2.get() > 0);

    long t0 = System.nanoTime();
    List<ShardMoveResult> first = admin.evacuate(RegionNode.A, Duration.ofSeconds(3), false);
    System.out.printf("evacuate A, a2 hung (%d ms): %s%n", (System.nanoTime() - t0) / 1_000_000,
        first);
    Set<Integer> notAnswered = new TreeSet<>();
    for (ShardMoveResult r : first) {
      if (r.outcome() == Outcome.NOT_ANSWERED) {
        notAnswered.add(r.shard());
        assertTrue(ranByA2.contains(r.shard()), "only the hung instance's shards: " + r);
        assertEquals(2, r.newEpoch(), r.toString());
        assertTrue(r.bound().isEmpty());
      } else {
        assertEquals(Outcome.MOVED, r.outcome(), r.toString());
        assertTrue(ranByA1.contains(r.shard()), "a1 answered for its own shards: " + r);
      }
    }
    assertEquals(ranByA2, notAnswered, "every shard of the hung instance is reported: " + first);
    for (ShardLease l : admin.leases()) {
      if (notAnswered.contains(l.shard())) {
        assertEquals(RegionNode.A, l.owner(), "nothing forced without force: " + l);
        assertEquals(2, l.epoch(), l.toString());
      }
    }

    long t1 = System.nanoTime();
    List<ShardMoveResult> forced = admin.evacuate(RegionNode.A, Duration.ofSeconds(3), true);
    System.out.printf("evacuate A --force, a2 hung (%d ms): %s%n",
        (System.nanoTime() - t1) / 1_000_000, forced);
    assertEquals(notAnswered, shardsOf(forced));
    for (ShardMoveResult r : forced) {
      assertEquals(Outcome.FORCED, r.outcome(), r.toString());
      assertEquals(3, r.newEpoch(), r.toString());
      assertTrue(r.bound().isPresent(), "A's changelog acknowledged the fence: " + r);
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> admin.leases().stream()
        .allMatch(l -> l.owner().equals(RegionNode.B)));
    for (ShardLease l : admin.leases()) {
      assertEquals(java.util.Optional.of(RegionNode.A), ShardOwnership.evacuatedFrom(l),
          "moved or forced by an evacuation, marked either way: " + l);
    }
    releaseA2.countDown();
  }
}
