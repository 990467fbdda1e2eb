package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.consumer.witness.WitnessGrant;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16: consumers made from region objects share one store and one ownership correctly — two
 * {@code kafkaConsumer(...)} on one region object (two topics), and two region objects in two
 * "processes" of one region (one consumer group, a rebalance between them). Built with the builder
 * form. One pair of clusters for the class.
 */
@TandemClusters
class TandemRegionSharingTest {

  /** A changelog and id prefix no other class of this JVM uses (shared regions). */
  static final String AS_PREFIX = Topics.fresh("as");

  /** A changelog and id prefix no other class of this JVM uses (shared regions). */
  static final String RB_PREFIX = Topics.fresh("rb");

  static TwoRegions regions;

  static TandemRegion.Builder region(String name, Path stateDir, String prefix) {
    Map<String, String> bootstrap = new LinkedHashMap<>();
    bootstrap.put("region-a", regions.a().bootstrapServers());
    bootstrap.put("region-b", regions.b().bootstrapServers());
    return TandemRegion.builder()
        .regions(bootstrap)
        .localRegion(name)
        .stateDir(stateDir)
        .shards(4)
        .groupId("orders")
        .automatic(Duration.ofSeconds(2), Duration.ofSeconds(1))
        .heartbeatInterval(Duration.ofMillis(500))
        .config("tandem.changelog.topic.prefix", prefix)
        .config(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
        .config(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000")
        .config(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000")
        .config(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "100")
        .meterRegistry(new SimpleMeterRegistry());
  }

  private static void topics(String... topics) {
    for (String t : topics) {
      regions.createTopic(t, 4);
      regions.createTopic(KafkaDeadLetterSink.topicFor(t), 4);
    }
  }

  /** Where each id was processed: its partition, which is its shard. */
  private static final Map<String, Integer> SHARD_OF = new ConcurrentHashMap<>();

  private static TandemRecordHandler<String, byte[]> recording(History history, TandemRegion r,
      AtomicInteger runs, Set<String> topicsSeen) {
    return (rec, ctx) -> {
      SHARD_OF.put(ctx.id(), rec.partition());
      history.handled(ctx.id(), r.region().name(), r.instance(), ctx.epoch());
      runs.incrementAndGet();
      topicsSeen.add(rec.topic());
    };
  }

  @Test
  void twoTopicsOnOneRegionObjectShareItsStoreAndOwnership(@TempDir Path dir) throws Exception {
    String t1 = "share-orders";
    String t2 = "share-payments";
    topics(t1, t2);
    History history = new History();
    AtomicInteger aRuns = new AtomicInteger();
    AtomicInteger bRuns = new AtomicInteger();
    Set<String> aTopics = ConcurrentHashMap.newKeySet();
    Set<String> bTopics = ConcurrentHashMap.newKeySet();
    int n = 200;
    try (TandemRegion a = region("region-a", dir.resolve("a"), "st").build();
        TandemRegion b = region("region-b", dir.resolve("b"), "st").build();
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      List<TandemKafkaConsumer<String, byte[]>> aConsumers = a.kafkaConsumer(List.of(t1, t2),
          new StringDeserializer(), new ByteArrayDeserializer(), recording(history, a, aRuns, aTopics));
      List<TandemKafkaConsumer<String, byte[]>> bConsumers = b.kafkaConsumer(List.of(t1, t2),
          new StringDeserializer(), new ByteArrayDeserializer(), recording(history, b, bRuns, bTopics));
      assertEquals(2, aConsumers.size());
      // what a consumer refuses at build, naming the key
      ConfigException noGroup = assertThrows(ConfigException.class, () -> a.kafkaConsumer(t1,
          new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {},
          Map.of(ConsumerConfig.GROUP_ID_CONFIG, ""), cb -> {}));
      assertTrue(noGroup.getMessage().contains("group.id"), noGroup.getMessage());
      ConfigException autoCommit = assertThrows(ConfigException.class, () -> a.kafkaConsumer(t1,
          new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {},
          Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true"), cb -> {}));
      assertTrue(autoCommit.getMessage().contains("enable.auto.commit"), autoCommit.getMessage());
      regions.a().createTopic("share-wide", 8); // more partitions than tandem.shards=4
      ConfigException wide = assertThrows(ConfigException.class, () -> a.kafkaConsumer("share-wide",
          new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {}));
      assertTrue(wide.getMessage().contains("tandem.shards") && wide.getMessage().contains("8"),
          wide.getMessage());
      assertEquals(1.0, a.meterRegistry().get("tandem.region.open").tag("guarantee", "full")
          .tag("policy", "automatic").gauge().value(), "the region says what it promises");
      // one store, one ownership behind both consumers of a region object
      for (TandemKafkaConsumer<String, byte[]> c : aConsumers) {
        assertTrue(c.processor().store() == a.store(), "claims go to the region's replicated store");
        assertTrue(c.ownership() == a.ownership());
        c.start();
      }
      bConsumers.forEach(TandemKafkaConsumer::start);
      Publishing.publish(producer, t1, "o", 0, n, history);
      Publishing.publish(producer, t2, "p", 0, n, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 2 * n);
      // every loop of both regions stopped before the check: a duplicate run after every id was
      // seen once would otherwise be missed
      aConsumers.forEach(TandemKafkaConsumer::close);
      bConsumers.forEach(TandemKafkaConsumer::close);
      History.Report report = history.check(Duration.ofSeconds(2).toNanos());
      System.out.printf("two topics per region object: messages=%d runs A=%d B=%d duplicates=%d%n",
          2 * n, aRuns.get(), bRuns.get(), report.duplicates());
      assertEquals(0, report.lost().size());
      assertEquals(0, report.duplicates(), "each id once over both topics and both regions");
      assertEquals(Set.of(t1, t2), aTopics, "region A processed both topics");
      assertEquals(Set.of(t1, t2), bTopics, "region B processed both topics");
      assertEquals(0, a.ownership().reports().size() + b.ownership().reports().size());
      // every id of both topics ends completed in each region's one store (its own completions
      // and the other region's, replicated)
      await().atMost(Duration.ofSeconds(20)).until(() -> {
        for (int i = 0; i < n; i++) {
          for (String id : List.of("o-" + i, "p-" + i)) {
            int shard = SHARD_OF.get(id);
            if (!a.store().isTerminal(id, shard) || !b.store().isTerminal(id, shard)) {
              return false;
            }
          }
        }
        return true;
      });
    }
  }

  @Test
  void assignedShardsServeOneConsumerPerRegionObject(@TempDir Path dir) {
    try (TandemRegion a = region("region-a", dir.resolve("a"), AS_PREFIX).assignedShardsOnly(true).build()) {
      a.kafkaConsumer("share-assigned", new StringDeserializer(), new ByteArrayDeserializer(),
          (rec, ctx) -> {});
      // a second consumer would revoke the first one's shards in the log: refused, naming the key
      ConfigException e = assertThrows(ConfigException.class, () -> a.kafkaConsumer("share-assigned-2",
          new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {}));
      assertTrue(e.getMessage().contains("tandem.store.shards"), e.getMessage());
    }
  }

  /**
   * The library's default L and margin here: a rebalance inside a region leaves revoked shards
   * unrenewed for a few seconds (join, sync, restore), which the test's 2 s + 1 s would read as a
   * dead owner (README, known limits: keep in-region rebalances well below L + margin).
   */
  private static final Duration L = Duration.ofSeconds(6);
  private static final Duration MARGIN = Duration.ofSeconds(3);

  @Test
  void twoRegionObjectsOfOneRegionRebalanceWithoutDuplicates(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("share-rebalance");
    topics(topic);
    History history = new History();
    AtomicInteger a1Runs = new AtomicInteger();
    AtomicInteger a2Runs = new AtomicInteger();
    AtomicInteger bRuns = new AtomicInteger();
    Set<String> seen = ConcurrentHashMap.newKeySet();
    int n = 600;
    try (TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"));
        TandemRegion a1 = region("region-a", dir.resolve("a1"), RB_PREFIX).automatic(L, MARGIN).build();
        TandemRegion b = region("region-b", dir.resolve("b"), RB_PREFIX).automatic(L, MARGIN).build()) {
      assertNotEquals(a1.instance(), b.instance());
      TandemKafkaConsumer<String, byte[]> a1Consumer = a1.kafkaConsumer(topic,
          new StringDeserializer(), new ByteArrayDeserializer(),
          recording(history, a1, a1Runs, seen)).start();
      TandemKafkaConsumer<String, byte[]> bConsumer = b.kafkaConsumer(topic,
          new StringDeserializer(), new ByteArrayDeserializer(),
          recording(history, b, bRuns, seen)).start();
      Publishing.publish(producer, topic, RB_PREFIX, 0, n / 3, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= n / 6);
      // a second process of region A joins the group mid-stream: a rebalance inside region A
      try (TandemRegion a2 = region("region-a", dir.resolve("a2"), RB_PREFIX).automatic(L, MARGIN).build()) {
        assertNotEquals(a1.instance(), a2.instance(), "each state directory has its own instance");
        a2.kafkaConsumer(topic, new StringDeserializer(), new ByteArrayDeserializer(),
            recording(history, a2, a2Runs, seen)).start();
        // publish in small steps until the rebalance gave a2 partitions and it processed some
        // (a1 alone would otherwise take everything published before a2 joined)
        int next = n / 3;
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (a2Runs.get() == 0 && next < 2 * n / 3 && System.nanoTime() < deadline) {
          Publishing.publish(producer, topic, RB_PREFIX, next, next + 10, history);
          next += 10;
          int published = next;
          await().atMost(Duration.ofSeconds(30)).until(() -> history.distinctHandled() >= published);
        }
        Publishing.publish(producer, topic, RB_PREFIX, next, 2 * n / 3, history);
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 2 * n / 3);
        assertTrue(a2Runs.get() > 0, "the second process of region A got partitions and worked");
      } // ... and leaves again: its partitions go back to a1
      Publishing.publish(producer, topic, RB_PREFIX, 2 * n / 3, n, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n);
      // both loops stopped (a2 closed already) before the check: no late duplicate is missed
      a1Consumer.close();
      bConsumer.close();
      History.Report report = history.check(Duration.ofSeconds(2).toNanos());
      System.out.printf("two processes of region A: messages=%d runs a1=%d a2=%d b=%d duplicates=%d%n",
          n, a1Runs.get(), a2Runs.get(), bRuns.get(), report.duplicates());
      assertEquals(0, report.lost().size());
      assertEquals(0, report.duplicates(), "no duplicate across the rebalances");
      assertTrue(a2Runs.get() > 0, "the second process of region A worked");
      assertEquals(0, a1.ownership().reports().size() + b.ownership().reports().size(),
          "a rebalance inside region A is no takeover");
    }
  }

  /** A witness that grants nothing (the region is never asked to take over here). */
  private static TakeoverWitness refusingWitness(Duration lease) {
    return new TakeoverWitness() {
      @Override
      public WitnessGrant acquire(int shard, RegionId candidate, long epoch) {
        return WitnessGrant.refused(null, epoch);
      }

      @Override
      public void release(int shard, RegionId holder) {}

      @Override
      public Duration leaseDuration() {
        return lease;
      }

      @Override
      public void close() {}
    };
  }

  /**
   * The edges of a region object's life: a list of topics builds all consumers or none; an unknown
   * topic is accepted, auto-creation asked for is refused; the open gauge
   * ends with the region and a processor cannot be registered with a closed region; under WITNESS
   * an owner revalidates after the witness lease, the time the peer needs to take a shard over.
   */
  @Test
  void aRegionObjectsLifeEdges(@TempDir Path dir) throws Exception {
    topics("share-life");
    regions.a().createTopic("share-life-wide", 8); // more partitions than tandem.shards=4
    try (TandemRegion a = region("region-a", dir.resolve("a"), "lf").assignedShardsOnly(true).build()) {
      assertThrows(ConfigException.class, () -> a.kafkaConsumer(List.of("share-life",
          "share-life-wide"), new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {}));
      // none was kept: the one consumer an assigned-mode region serves is still available
      a.kafkaConsumer("share-life", new StringDeserializer(), new ByteArrayDeserializer(),
          (rec, ctx) -> {});
    }
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    TandemRegion b = region("region-b", dir.resolve("b"), "lf").meterRegistry(meters).build();
    OnceProcessor processor;
    try {
      ConfigException autoCreate = assertThrows(ConfigException.class, () -> b.kafkaConsumer(
          "share-life-missing", new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {},
          Map.of(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "true"), cb -> {}));
      assertTrue(autoCreate.getMessage().contains("allow.auto.create.topics"), autoCreate.getMessage());
      // a consumer's own max.poll.interval.ms is checked against the revoke bound too
      ConfigException maxPoll = assertThrows(ConfigException.class, () -> b.kafkaConsumer(
          "share-life", new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {},
          Map.of(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "30000"), cb -> {}));
      assertTrue(maxPoll.getMessage().contains("tandem.revoke.timeout.ms")
          && maxPoll.getMessage().contains("max.poll.interval.ms"), maxPoll.getMessage());
      // a missing topic is accepted (logged): its consumer waits for it, with
      // allow.auto.create.topics=false it never creates it. Not asserted against the cluster: the
      // testkit's brokers have auto.create.topics.enable=false, so it could not fail here
      b.kafkaConsumer("share-life-missing", new StringDeserializer(), new ByteArrayDeserializer(),
          (rec, ctx) -> {});
      assertEquals(1.0, meters.get("tandem.region.open").gauge().value());
      processor = b.processorBuilder(b.kafkaDeadLetters()).build();
    } finally {
      b.close();
    }
    assertTrue(meters.find("tandem.region.open").gauges().isEmpty(),
        "a closed region's open gauge is removed");
    try {
      assertThrows(IllegalStateException.class, () -> b.register(processor),
          "a processor registered with a closed region would never be closed by it");
    } finally {
      processor.close();
    }
    try (TandemRegion w = region("region-a", dir.resolve("w"), "lf")
        .witness(refusingWitness(Duration.ofSeconds(1))).build()) {
      assertEquals(Duration.ofSeconds(1), w.ownership().revalidateAfter(),
          "WITNESS: an owner silent for the witness lease may have been taken over (L is 2 s here)");
    }
  }

  /**
   * close() tells every consumer to stop before it waits for any: consumer 1's handler runs until
   * consumer 2 has stopped. Closed one after another, consumer 1's close would wait for its handler,
   * which waits for consumer 2, which is told to stop only after consumer 1's close returned (the
   * handler gives up after 30 s and the close takes that long).
   */
  @Test
  void closeStopsEveryConsumerBeforeWaitingForAny(@TempDir Path dir) throws Exception {
    String t1 = "share-close-1";
    String t2 = "share-close-2";
    topics(t1, t2);
    History history = new History();
    AtomicReference<TandemKafkaConsumer<String, byte[]>> second = new AtomicReference<>();
    CountDownLatch inHandler = new CountDownLatch(1);
    AtomicBoolean sawSecondStopped = new AtomicBoolean();
    AtomicBoolean first = new AtomicBoolean(true);
    long closeMillis;
    try (TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      TandemRegion b = region("region-b", dir.resolve("b"), "cl").build();
      try {
        TandemKafkaConsumer<String, byte[]> c1 = b.kafkaConsumer(t1, new StringDeserializer(),
            new ByteArrayDeserializer(), (rec, ctx) -> {
              if (first.compareAndSet(true, false)) {
                inHandler.countDown();
                try {
                  second.get().stopped().get(30, TimeUnit.SECONDS);
                  sawSecondStopped.set(true);
                } catch (Exception e) {
                  // not stopped within 30 s: the flag stays false
                }
              }
            });
        second.set(b.kafkaConsumer(t2, new StringDeserializer(), new ByteArrayDeserializer(),
            (rec, ctx) -> {}));
        c1.start();
        second.get().start();
        Publishing.publish(producer, t1, "cl", 0, 8, history);
        assertTrue(inHandler.await(60, TimeUnit.SECONDS), "consumer 1 ran a handler");
      } finally {
        long start = System.nanoTime();
        b.close();
        closeMillis = (System.nanoTime() - start) / 1_000_000;
      }
    }
    System.out.printf("region close with a handler waiting for another consumer: %d ms%n",
        closeMillis);
    assertTrue(sawSecondStopped.get(), "consumer 2 was told to stop while consumer 1 was closing");
  }
}
