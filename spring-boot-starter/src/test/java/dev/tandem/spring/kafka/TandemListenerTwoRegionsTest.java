package dev.tandem.spring.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.OwnershipAdmin;
import dev.tandem.consumer.ownership.ShardMoveResult;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18, consumer side: {@code @KafkaListener} methods in one Spring application context per
 * region (two real in-JVM KRaft clusters) get the guarantee of {@code TandemKafkaConsumer}.
 */
class TandemListenerTwoRegionsTest {

  static TwoRegions regions;
  static Map<String, String> bootstrap;
  @TempDir Path dir;

  @BeforeAll
  static void start() {
    regions = TwoRegions.start("region-a", "region-b");
    bootstrap = new LinkedHashMap<>();
    bootstrap.put("region-a", regions.a().bootstrapServers());
    bootstrap.put("region-b", regions.b().bootstrapServers());
  }

  @AfterAll
  static void stop() {
    if (regions != null) {
      regions.close();
    }
  }

  private TandemKafkaProducer<String, String> producer(Path spool) {
    return TandemKafkaProducer.builder(new StringSerializer(), new StringSerializer())
        .region(RegionId.of("region-a"), regions.a().producerProperties())
        .region(RegionId.of("region-b"), regions.b().producerProperties())
        .publisher(p -> p.spoolDirectory(spool))
        .build();
  }

  private static List<String> publish(TandemKafkaProducer<String, String> producer, String topic,
      int from, int to, History history) throws Exception {
    List<String> ids = new ArrayList<>();
    List<Future<RecordMetadata>> acks = new ArrayList<>();
    for (int i = from; i < to; i++) {
      String id = topic + "-" + i;
      ProducerRecord<String, String> r = new ProducerRecord<>(topic, "key-" + i, "order " + i);
      r.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
      acks.add(producer.send(r));
      ids.add(id);
    }
    producer.flush();
    for (int i = 0; i < acks.size(); i++) {
      acks.get(i).get(30, TimeUnit.SECONDS);
      history.published(ids.get(i));
    }
    return ids;
  }

  @Test
  void copyMissingInTheOwnerRegionIsReSentAfterMaxHoldAndRunsOnceThere() throws Exception {
    String topic = "spring-resend";
    topic(topic);
    History history = new History();
    Map<String, Object> shortHold = Map.of("test.max.hold.ms", "2000");
    var fa = java.util.concurrent.CompletableFuture.supplyAsync(() -> context(topic, "region-a",
        false, RegionContext.recording(history, 1, 2), shortHold));
    var fb = java.util.concurrent.CompletableFuture.supplyAsync(() -> context(topic, "region-b",
        false, RegionContext.recording(history, 1, 2), shortHold));
    try (RegionContext a = fa.join();
        RegionContext b = fb.join();
        dev.tandem.publisher.KafkaRegionalSink onlyB = dev.tandem.publisher.KafkaRegionalSink.create(
            RegionId.of("region-b"), regions.b().producerProperties())) {
      // a shard region-a owns; its copy is published to region-b only (region-a's copy lost)
      int shard = -1;
      for (int s = 0; s < 8 && shard < 0; s++) {
        if (a.tandem().ownership().lease(s).owner().equals(RegionId.of("region-a"))) {
          shard = s;
        }
      }
      assertTrue(shard >= 0, "region-a owns a shard");
      String id = topic + "-only-in-b";
      onlyB.send(dev.tandem.publisher.OutboundMessage.builder(topic, shard)
          .key("k".getBytes(StandardCharsets.UTF_8)).value("order".getBytes(StandardCharsets.UTF_8))
          .id(id).build()).get(30, TimeUnit.SECONDS);
      history.published(id);
      long t0 = System.nanoTime();
      // region-b holds it (region-a owns the shard), re-sends it to region-a after maxHold (2 s);
      // region-a runs it; the completion replicates and region-b acknowledges its held copy
      await().atMost(Duration.ofSeconds(40)).until(() -> history.runsOf(id).size() >= 1
          && b.counter("tandem.consumer.follower.acknowledged", null, null) >= 1);
      System.out.printf("%s: re-sent %.0f time(s), run in %s %.1f s after the publish%n", topic,
          b.counter("tandem.consumer.follower.resent", null, null), history.runsOf(id).get(0).region(),
          (System.nanoTime() - t0) / 1e9);
      assertEquals(1, history.runsOf(id).size(), "run once: " + history.runsOf(id));
      assertEquals("region-a", history.runsOf(id).get(0).region(), "run by the owner region");
      assertEquals(1.0, b.counter("tandem.consumer.follower.resent", null, null),
          "the follower re-sent its held copy once");
      assertTrue(a.support().takeovers().isEmpty() && b.support().takeovers().isEmpty(),
          "no takeover: the owner was alive");
    }
  }

  @Test
  void undeserializableValueIsRetriedThenDeadLetteredAndThePartitionMovesOn() throws Exception {
    String topic = "spring-poison";
    topic(topic);
    regions.createTopic(topic + ".tandem-dlq", 8);
    History history = new History();
    Map<String, String> seen = new ConcurrentHashMap<>();
    BiConsumer<ConsumerRecord<String, String>, String> handler = (r, region) -> {
      if (r.value() == null || r.value().startsWith("poison")) {
        seen.put(RegionContext.id(r), region + ": " + r.value());
      }
      history.handled(RegionContext.id(r), region, region + "-1", 0);
    };
    Map<String, Object> poison = Map.of("spring.kafka.consumer.value-deserializer",
        PoisonDeserializer.class.getName());
    var fa = java.util.concurrent.CompletableFuture.supplyAsync(() -> context(topic, "region-a",
        false, handler, poison));
    var fb = java.util.concurrent.CompletableFuture.supplyAsync(() -> context(topic, "region-b",
        false, handler, poison));
    try (RegionContext a = fa.join();
        RegionContext b = fb.join();
        TandemKafkaProducer<String, String> producer = producer(dir.resolve("spool"))) {
      int n = 40;
      Set<String> poisoned = new java.util.TreeSet<>();
      List<Future<RecordMetadata>> acks = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        String id = topic + "-" + i;
        boolean bad = i % 20 == 7;
        ProducerRecord<String, String> r = new ProducerRecord<>(topic, "key-" + i,
            (bad ? "poison " : "order ") + i);
        r.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
        acks.add(producer.send(r));
        if (bad) {
          poisoned.add(id);
        } else {
          history.published(id);
        }
      }
      for (Future<RecordMetadata> f : acks) {
        f.get(30, TimeUnit.SECONDS);
      }
      // each unreadable record: maxAttempts (3) failed attempts in its owner region, then a dead
      // letter; its partition moves on and every readable record behind it is handled once
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= n - poisoned.size()
          && a.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS")
              + b.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS") >= poisoned.size());
      System.out.printf("%s: %d messages, %d unreadable, dead letters A=%.0f B=%.0f%n", topic, n,
          poisoned.size(), a.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS"),
          b.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS"));
      assertEquals(poisoned.size(), (int) (a.counter("tandem.consumer.dead.letters", "reason",
          "MAX_ATTEMPTS") + b.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS")),
          "each unreadable record dead-lettered once");
      assertTrue(seen.isEmpty(), "the listener never saw an unreadable record: " + seen);
      History.Report report = history.check(0);
      assertEquals(0, report.duplicates(), report.toString());
      assertTrue(report.lost().isEmpty(), "the readable ones handled: " + report.lost());
    }
  }

  private RegionContext context(String topic, String region, boolean batch,
      BiConsumer<ConsumerRecord<String, String>, String> handler, Map<String, Object> extra) {
    return new RegionContext(topic + "/" + region, region, bootstrap, dir, topic, batch, extra,
        handler);
  }

  /** Both regions' contexts, started together (a region started late would lose its shards). */
  private RegionContext[] both(String topic, boolean batch,
      BiConsumer<ConsumerRecord<String, String>, String> handlerA, Map<String, Object> extraA,
      BiConsumer<ConsumerRecord<String, String>, String> handlerB) {
    var fa = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> context(topic, "region-a", batch, handlerA, extraA));
    var fb = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> context(topic, "region-b", batch, handlerB, Map.of()));
    return new RegionContext[] {fa.join(), fb.join()};
  }

  private void topic(String topic) {
    regions.createTopic(topic, 8);
    // the regions' changelog topics exist (with leaders) before their producers start: two regions
    // creating them at start-up and producing at once hit KAFKA-15591 (a produce request reordered
    // around the new partition's creation spins on OUT_OF_ORDER_SEQUENCE_NUMBER); see the notes
    for (var r : regions.both()) {
      r.createTopic("tandem-" + topic + ".changelog", 8, Map.of("cleanup.policy", "compact,delete", "retention.ms", "691200000"));
      awaitLeaders(r.bootstrapServers(), "tandem-" + topic + ".changelog");
    }
  }

  private static void awaitLeaders(String bootstrapServers, String topic) {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
      await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> admin.describeTopics(List.of(topic))
          .allTopicNames().get(10, TimeUnit.SECONDS).get(topic).partitions().stream()
          .allMatch(p -> p.leader() != null && !p.leader().isEmpty()));
    }
  }

  private static long sumBounds(List<TakeoverReport> reports) {
    long sum = 0;
    for (TakeoverReport r : reports) {
      assertTrue(r.bound().isPresent(), "a bound was reported: " + r);
      sum += r.bound().getAsLong();
    }
    return sum;
  }

  @Test
  void faultFreeRecordListenerHandlesEachOfFiveThousandOnceAcrossBothContexts() throws Exception {
    faultFree("spring-ff-record", false, 5_000);
  }

  @Test
  void faultFreeBatchListenerHandlesEachOnceAcrossBothContexts() throws Exception {
    faultFree("spring-ff-batch", true, 1_000);
  }

  private void faultFree(String topic, boolean batch, int n) throws Exception {
    topic(topic);
    History history = new History();
    RegionContext[] ab = both(topic, batch, RegionContext.recording(history, 5, 10), Map.of(),
        RegionContext.recording(history, 5, 10));
    try (RegionContext a = ab[0];
        RegionContext b = ab[1];
        TandemKafkaProducer<String, String> producer = producer(dir.resolve("spool"))) {
      long t0 = System.nanoTime();
      publish(producer, topic, 0, n, history);
      await().atMost(Duration.ofSeconds(90)).until(() -> history.distinctHandled() >= n);
      // the follower copies are acknowledged once the completions replicate: no late run appears
      await().atMost(Duration.ofSeconds(30)).until(() ->
          a.counter("tandem.consumer.follower.acknowledged", null, null)
              + b.counter("tandem.consumer.follower.acknowledged", null, null) >= n);
      History.Report report = history.check(0);
      System.out.printf("%s: %d messages in %.1f s: %s%n", topic, n,
          (System.nanoTime() - t0) / 1e9, report);
      assertEquals(n, report.published());
      assertTrue(report.lost().isEmpty(), "lost: " + report.lost());
      assertEquals(0, report.duplicates(), "each handled exactly once: " + report);
      assertEquals(2, report.runsByRegion().size(), "both regions handled their shards: " + report);
      assertTrue(a.support().takeovers().isEmpty() && b.support().takeovers().isEmpty(),
          "no takeover without a fault");
    }
  }

  @Test
  void regionAClosedMidStreamBTakesOverWithinTheBoundAndLosesNothing() throws Exception {
    String topic = "spring-takeover";
    topic(topic);
    int n = 1_000;
    History history = new History();
    AtomicInteger handledByA = new AtomicInteger();
    BiConsumer<ConsumerRecord<String, String>, String> rec = RegionContext.recording(history, 5, 20);
    RegionContext[] ab = both(topic, false, (r, region) -> {
      rec.accept(r, region);
      handledByA.incrementAndGet();
    }, Map.of(), rec);
    RegionContext a = ab[0];
    try (RegionContext b = ab[1];
        TandemKafkaProducer<String, String> producer = producer(dir.resolve("spool"))) {
      publish(producer, topic, 0, n, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> handledByA.get() >= 100);
      int fault = history.beginFault("A closed");
      long closedAt = System.nanoTime();
      a.close();
      await().atMost(Duration.ofSeconds(90)).until(() -> history.distinctHandled() >= n);
      long doneAt = System.nanoTime();
      history.endFault(fault);
      List<TakeoverReport> takeovers = b.support().takeovers();
      History.Report report = history.check(0);
      long bound = sumBounds(takeovers);
      System.out.printf("%s: %d messages, A closed after %d of its own, takeovers=%d (shards %s), "
              + "bound=%d, all handled %.1f s after the close: %s%n", topic, n, handledByA.get(),
          takeovers.size(), takeovers.stream().map(TakeoverReport::shard).toList(), bound,
          (doneAt - closedAt) / 1e9, report);
      for (TakeoverReport t : takeovers) {
        System.out.println("  " + t);
      }
      assertTrue(report.lost().isEmpty(), "nothing lost: " + report.lost());
      assertFalse(takeovers.isEmpty(), "B took A's shards over");
      assertTrue(report.duplicates() <= bound,
          "duplicates " + report.duplicates() + " within the reported bound " + bound);
    } finally {
      a.close();
    }
  }

  @Test
  void listenerThatThrowsIsRetriedThenDeadLetteredAndNeverCommittedPast() throws Exception {
    String topic = "spring-failing";
    topic(topic);
    regions.createTopic(topic + ".tandem-dlq", 1);
    int n = 200;
    History history = new History();
    Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
    Map<String, String> committedPast = new ConcurrentHashMap<>();
    BiConsumer<ConsumerRecord<String, String>, String> handler = (r, region) -> {
      String id = RegionContext.id(r);
      int i = Integer.parseInt(id.substring(id.lastIndexOf('-') + 1));
      if (i % 50 == 7) {
        attempts.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
        // while it fails, its group's committed offset must not have passed it
        long committed = committed(region, "spring-" + topic + "-" + region,
            new TopicPartition(r.topic(), r.partition()));
        if (committed > r.offset()) {
          committedPast.put(id, "committed " + committed + " > offset " + r.offset());
        }
        throw new IllegalStateException("order " + id + " cannot be handled");
      }
      history.handled(id, region, region + "-1", 0);
      RegionContext.sleep(5);
    };
    RegionContext[] ab = both(topic, false, handler, Map.of(), handler);
    try (RegionContext a = ab[0];
        RegionContext b = ab[1];
        TandemKafkaProducer<String, String> producer = producer(dir.resolve("spool"))) {
      List<String> ids = publish(producer, topic, 0, n, history);
      Set<String> failing = new java.util.TreeSet<>();
      for (String id : ids) {
        if (Integer.parseInt(id.substring(id.lastIndexOf('-') + 1)) % 50 == 7) {
          failing.add(id);
        }
      }
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= n - failing.size()
          && a.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS")
              + b.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS") >= failing.size());
      System.out.printf("%s: %d messages, %d failing, attempts %s, dead letters A=%.0f B=%.0f%n", topic,
          n, failing.size(), attempts, a.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS"),
          b.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS"));
      for (String id : failing) {
        assertEquals(3, attempts.get(id).get(), id + " ran maxAttempts times, then dead-lettered");
      }
      assertEquals(failing.size(), (int) (a.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS")
          + b.counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS")));
      assertTrue(committedPast.isEmpty(), "never committed past a failing record: " + committedPast);
      History.Report report = history.check(0);
      assertEquals(0, report.duplicates(), report.toString());
      Set<String> lost = new java.util.TreeSet<>(report.lost());
      lost.removeAll(failing);
      assertTrue(lost.isEmpty(), "the others handled: " + lost);
    }
  }

  @Test
  void heldFollowerRecordSurvivesItsOwnerRegionsDeath() throws Exception {
    String topic = "spring-held";
    topic(topic);
    int n = 200;
    History history = new History();
    CountDownLatch release = new CountDownLatch(1);
    Map<String, Integer> targetShard = new ConcurrentHashMap<>();
    String target = topic + "-" + 100;
    BiConsumer<ConsumerRecord<String, String>, String> rec = RegionContext.recording(history, 5, 10);
    // region A dies holding the target's claim: its listener never returns (beyond handlerTimeout,
    // so its leases lapse as when its process is gone) and it never completes the target
    RegionContext[] ab = both(topic, false, (r, region) -> {
      if (target.equals(RegionContext.id(r))) {
        targetShard.put(region, r.partition());
        try {
          release.await(120, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        throw new IllegalStateException("region A died before completing " + target);
      }
      rec.accept(r, region);
    }, Map.of("test.handler.timeout.ms", "3000"), rec);
    RegionContext a = ab[0];
    try (RegionContext b = ab[1];
        TandemKafkaProducer<String, String> producer = producer(dir.resolve("spool"))) {
      // A's listener that never returns must hold only its own partition: published while A's
      // group still forms, its first consumer (all 8 partitions) blocks and never rejoins, so A's
      // group waits max.poll.interval.ms (5 min) for it, A handles none of its other shards, and
      // B takes those over only by NO_PROGRESS after tandem.stuck.after.ms (the test took 64 s in CI)
      awaitListenerGroupsFormed(topic);
      // the target must be in a shard A owns: publish until A's listener holds it
      publish(producer, topic, 0, n, history);
      boolean aOwnsTarget;
      await().atMost(Duration.ofSeconds(30)).until(() -> targetShard.containsKey("region-a")
          || history.runsOf(target).size() > 0);
      aOwnsTarget = targetShard.containsKey("region-a");
      org.junit.jupiter.api.Assumptions.assumeTrue(aOwnsTarget,
          "the target landed in a shard of B; the scenario needs one of A's");
      long diedAt = System.nanoTime();
      // B holds its copy meanwhile: it never runs it before taking the shard over
      await().atMost(Duration.ofSeconds(60)).until(() -> history.runsOf(target).size() == 1);
      long tookMs = (System.nanoTime() - diedAt) / 1_000_000;
      List<TakeoverReport> takeovers = b.support().takeovers();
      assertTrue(takeovers.stream().anyMatch(t -> t.shard() == targetShard.get("region-a")),
          "B took the target's shard over: " + takeovers);
      assertEquals("region-b", history.runsOf(target).get(0).region());
      System.out.printf("%s: target %s on shard %d held by B and handled %d ms after A died; "
              + "takeovers %s; held deliveries in B %.0f%n", topic, target, targetShard.get("region-a"),
          tookMs, takeovers, b.counter("tandem.consumer.follower.held", null, null));
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= n);
      History.Report report = history.check(0);
      assertTrue(report.lost().isEmpty(), "nothing lost: " + report.lost());
      assertTrue(report.duplicates() <= sumBounds(takeovers), report.toString());
    } finally {
      release.countDown();
      a.close();
    }
  }

  /**
   * Issue 21 for Spring: {@code tandem evacuate}/{@code return} (here {@link OwnershipAdmin}, as the
   * CLI calls it) reach the listener containers of a region: its lease ticker acts on the request
   * (planned handover: drain the shard's running listeners, the peer acknowledges every change,
   * epoch + 1) during a steady stream — every shard moves, nothing runs twice, nothing is lost.
   */
  @Test
  void evacuateAndReturnRegionADuringASteadyStreamWithoutDuplicatesOrLoss() throws Exception {
    String topic = "spring-evacuate";
    topic(topic);
    int total = 1_500;
    History history = new History();
    RegionContext[] ab = both(topic, false, RegionContext.recording(history, 1, 3), Map.of(),
        RegionContext.recording(history, 1, 3));
    RegionId regionA = RegionId.of("region-a");
    RegionId regionB = RegionId.of("region-b");
    Map<String, Object> adminConfig = new LinkedHashMap<>();
    adminConfig.put(TandemRegionConfig.REGIONS_CONFIG, "region-a,region-b");
    adminConfig.put(TandemRegionConfig.REGION_PREFIX + "region-a.bootstrap.servers",
        bootstrap.get("region-a"));
    adminConfig.put(TandemRegionConfig.REGION_PREFIX + "region-b.bootstrap.servers",
        bootstrap.get("region-b"));
    adminConfig.put(TandemRegionConfig.SHARDS_CONFIG, 8);
    adminConfig.put(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG, "tandem-" + topic);
    adminConfig.put(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG, 3_000L);
    try (RegionContext a = ab[0];
        RegionContext b = ab[1];
        TandemKafkaProducer<String, String> producer = producer(dir.resolve("spool"));
        OwnershipAdmin admin = OwnershipAdmin.create(adminConfig, dir.resolve("admin"))) {
      Set<Integer> homeA = new java.util.TreeSet<>();
      for (int s = 0; s < 8; s++) {
        if (admin.leases().get(s).owner().equals(regionA)) {
          homeA.add(s);
        }
      }
      assertFalse(homeA.isEmpty(), "region-a owns shards");
      var feed = java.util.concurrent.CompletableFuture.runAsync(() -> {
        try {
          for (int i = 0; i < total; i += 20) {
            publish(producer, topic, i, Math.min(total, i + 20), history);
            Thread.sleep(5); // a steady stream, not one burst
          }
        } catch (Exception e) {
          throw new java.util.concurrent.CompletionException(e);
        }
      });
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 300);

      long t0 = System.nanoTime();
      List<ShardMoveResult> evacuated = admin.evacuate(regionA, Duration.ofSeconds(20), false);
      long evacuateMillis = (System.nanoTime() - t0) / 1_000_000;
      System.out.println(topic + ": evacuate A: " + evacuated);
      assertEquals(homeA, shardsOf(evacuated), evacuated.toString());
      for (ShardMoveResult r : evacuated) {
        assertEquals(ShardMoveResult.Outcome.MOVED, r.outcome(), r.toString());
        assertEquals(regionB, r.to(), r.toString());
      }
      await().atMost(Duration.ofSeconds(20)).until(() -> admin.leases().stream()
          .allMatch(l -> l.owner().equals(regionB)));
      int handledAtEvacuation = history.distinctHandled();
      await().atMost(Duration.ofSeconds(60))
          .until(() -> history.distinctHandled() >= Math.min(total, handledAtEvacuation + 300));

      long t1 = System.nanoTime();
      List<ShardMoveResult> returned = admin.returnTo(regionA, Duration.ofSeconds(20));
      long returnMillis = (System.nanoTime() - t1) / 1_000_000;
      System.out.println(topic + ": return A: " + returned);
      assertEquals(homeA, shardsOf(returned), returned.toString());
      for (ShardMoveResult r : returned) {
        assertEquals(ShardMoveResult.Outcome.MOVED, r.outcome(), r.toString());
        assertEquals(regionA, r.to(), r.toString());
      }
      await().atMost(Duration.ofSeconds(20)).until(() -> admin.leases().stream()
          .allMatch(l -> l.owner().equals(homeA.contains(l.shard()) ? regionA : regionB)));

      feed.get(60, TimeUnit.SECONDS);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= total);
      // every copy in both regions acknowledged (committed): none is left that could run late
      await().atMost(Duration.ofSeconds(60)).until(() -> lag("region-a", topic) == 0
          && lag("region-b", topic) == 0);
      History.Report report = history.check(0);
      System.out.printf("%s: messages=%d duplicates=%d lost=%d evacuate(%d shards)=%d ms "
              + "return=%d ms %s%n", topic, total, report.duplicates(), report.lost().size(),
          homeA.size(), evacuateMillis, returnMillis, report);
      assertTrue(report.lost().isEmpty(), "nothing lost: " + report.lost());
      assertEquals(0, report.duplicates(), "each handled exactly once: " + report);
      assertTrue(a.support().takeovers().isEmpty() && b.support().takeovers().isEmpty(),
          "no takeover, only planned handovers");
    }
  }

  /**
   * Waits until the listener group of {@code topic} in each region is STABLE with its 8 members
   * (listener concurrency 8) each assigned a partition of the topic's 8.
   */
  private static void awaitListenerGroupsFormed(String topic) {
    for (String region : bootstrap.keySet()) {
      String group = "spring-" + topic + "-" + region;
      try (Admin admin = Admin.create(
          Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap.get(region)))) {
        await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> {
          ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all()
              .get(10, TimeUnit.SECONDS).get(group);
          return d.groupState() == GroupState.STABLE && d.members().size() == 8
              && d.members().stream().allMatch(m -> m.assignment().topicPartitions().size() == 1);
        });
      }
    }
  }

  /** Records of {@code topic} in {@code region} not yet committed by that region's listener group. */
  private static long lag(String region, String topic) {
    Map<String, Object> p = Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap.get(region));
    try (Admin admin = Admin.create(p)) {
      Map<TopicPartition, OffsetAndMetadata> committed = admin
          .listConsumerGroupOffsets("spring-" + topic + "-" + region)
          .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
      Map<TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> latest = new LinkedHashMap<>();
      for (int s = 0; s < 8; s++) {
        latest.put(new TopicPartition(topic, s), org.apache.kafka.clients.admin.OffsetSpec.latest());
      }
      long lag = 0;
      for (var e : admin.listOffsets(latest).all().get(10, TimeUnit.SECONDS).entrySet()) {
        OffsetAndMetadata c = committed.get(e.getKey());
        lag += e.getValue().offset() - (c == null ? 0 : c.offset());
      }
      return lag;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static Set<Integer> shardsOf(List<ShardMoveResult> results) {
    Set<Integer> s = new java.util.TreeSet<>();
    results.forEach(r -> s.add(r.shard()));
    return s;
  }

  private static long committed(String region, String group, TopicPartition tp) {
    Map<String, Object> p = Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap.get(region));
    try (Admin admin = Admin.create(p)) {
      Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(group)
          .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
      OffsetAndMetadata o = m.get(tp);
      return o == null ? -1 : o.offset();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
