package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.RegionHealth;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Properties;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetCommitCallback;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 21 on two real KRaft regions (one pair of clusters for the class; the broker test last):
 * a clean stop of a region's consumer commits every acknowledged offset and prints no stack trace;
 * {@link TandemRegion#health()} turns DOWN when the region's own broker stops and UP when it is back.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CleanShutdownAndHealthTest {

  static TwoRegions regions;

  @BeforeAll
  static void start() {
    regions = TwoRegions.start();
  }

  @AfterAll
  static void stop() {
    // both clusters stop at once (TwoRegions.close stops one after the other): the class's largest
    // fixed cost on a loaded machine
    closeInParallel(regions.a(), regions.b());
  }

  /** Closes each on its own thread and waits for all; the first failure is rethrown. */
  static void closeInParallel(AutoCloseable... all) {
    java.util.List<java.util.concurrent.CompletableFuture<Void>> closing = new java.util.ArrayList<>();
    for (AutoCloseable c : all) {
      closing.add(java.util.concurrent.CompletableFuture.runAsync(() -> {
        try {
          c.close();
        } catch (Exception e) {
          throw new java.util.concurrent.CompletionException(e);
        }
      }, r -> new Thread(r, "test-close").start()));
    }
    java.util.concurrent.CompletableFuture.allOf(closing.toArray(java.util.concurrent.CompletableFuture[]::new))
        .join();
  }

  /** Regions A and B of one test, made at once (each restores its replica from the changelogs). */
  static TandemRegion[] bothRegions(Path dir, String prefix, long heartbeatMs, long leaseMs)
      throws Exception {
    java.util.concurrent.CompletableFuture<TandemRegion> b =
        java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          try {
            return region(dir, "region-b", prefix, heartbeatMs, leaseMs);
          } catch (Exception e) {
            throw new java.util.concurrent.CompletionException(e);
          }
        }, r -> new Thread(r, "test-region-b").start());
    TandemRegion a;
    try {
      a = region(dir, "region-a", prefix, heartbeatMs, leaseMs);
    } catch (Exception e) {
      b.thenAccept(TandemRegion::close);
      throw e;
    }
    try {
      return new TandemRegion[] {a, b.join()};
    } catch (RuntimeException e) {
      a.close();
      throw e;
    }
  }

  static TandemRegion region(Path dir, String region, String prefix, long heartbeatMs, long leaseMs)
      throws Exception {
    Path file = RegionFiles.write(dir, regions, region, prefix,
        "tandem.lease.timeout.ms=" + leaseMs,
        "tandem.heartbeat.interval.ms=" + heartbeatMs,
        "group.id=ops",
        "max.poll.records=50");
    return TandemRegion.create(TandemRegion.load(file));
  }

  private static void topics(String topic) {
    RegionFiles.createTopics(regions, topic);
  }

  /**
   * close() called while a handler runs (the everyday case of a rolling deploy under load): the
   * handler finishes, its record is acknowledged, and close() commits it — the group's committed
   * offset of every partition A processed is one past the last record its handler completed — and
   * the stop logs no "final commit failed" and no stack trace.
   */
  @Test
  @Order(1)
  void cleanStopCommitsAcknowledgedOffsetsWithoutAStackTrace(@TempDir Path dir) throws Exception {
    String topic = "clean-stop";
    topics(topic);
    History history = new History();
    int n = 200;
    AtomicInteger aRuns = new AtomicInteger();
    CountDownLatch blocked = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    // per partition, the highest offset whose handler completed in region A
    Map<Integer, Long> lastHandled = new ConcurrentHashMap<>();
    // a heartbeat round (its own-broker probe is a blocking call of the consumer) is not due while
    // close() runs: the stop's only blocking calls are the commits
    TandemRegion[] ab = bothRegions(dir, "cs1", 5000, 20000);
    TandemRegion a = ab[0];
    TandemRegion b = ab[1];
    TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"));
    try {
      // A's Kafka consumer, recording the commits the client saw succeed (a commit that threw may or
      // may not have reached the broker: nothing the loop can count on)
      Map<Integer, Long> clientAttempted = new ConcurrentHashMap<>();
      Map<Integer, Long> clientCommitted = new ConcurrentHashMap<>();
      TandemKafkaConsumer<String, byte[]> ca = a.kafkaConsumer(topic, new StringDeserializer(),
          new ByteArrayDeserializer(), (rec, ctx) -> {
            if (aRuns.incrementAndGet() == 30) {
              blocked.countDown();
              assertTrue(release.await(60, TimeUnit.SECONDS));
            }
            history.handled(ctx.id(), "region-a", a.instance(), ctx.epoch());
            lastHandled.merge(rec.partition(), rec.offset(), Math::max);
          }, Map.of(), cb -> cb.consumer(recordingCommits(
              new KafkaConsumer<>(kafkaProperties(a)), clientAttempted, clientCommitted)));
      b.kafkaConsumer(topic, new StringDeserializer(), new ByteArrayDeserializer(),
          (rec, ctx) -> history.handled(ctx.id(), "region-b", b.instance(), ctx.epoch())).start();
      ca.start();
      Publishing.publish(producer, topic, "cs", 0, n, history);
      assertTrue(blocked.await(60, TimeUnit.SECONDS), "A's handler reached its 30th record");

      String log = stderrOf(() -> {
        Thread closer = new Thread(ca::close, "closer");
        closer.start();
        // close() has woken the loop and waits for the running handler (in the processor's close)
        await().atMost(Duration.ofSeconds(30))
            .until(() -> closer.getState() == Thread.State.TIMED_WAITING);
        release.countDown();
        try {
          closer.join(TimeUnit.SECONDS.toMillis(90));
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
        assertFalse(closer.isAlive(), "close() returned");
      });
      System.err.print(log);

      Map<TopicPartition, OffsetAndMetadata> committed = regions.a().admin()
          .listConsumerGroupOffsets("ops").partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
      Map<Integer, Long> expected = new TreeMap<>();
      Map<Integer, Long> actual = new TreeMap<>();
      Map<Integer, Long> confirmed = new TreeMap<>();
      lastHandled.forEach((p, off) -> {
        expected.put(p, off + 1);
        OffsetAndMetadata om = committed.get(new TopicPartition(topic, p));
        actual.put(p, om == null ? -1L : om.offset());
        confirmed.put(p, clientCommitted.getOrDefault(p, -1L));
      });
      System.out.printf("clean stop: A handled %d, acknowledged per partition %s, group's committed"
          + " %s, commits the client saw succeed %s%n", aRuns.get(), expected, actual, confirmed);
      System.out.printf("clean stop: every commit asked for %s, succeeded %s%n",
          new TreeMap<>(clientAttempted), new TreeMap<>(clientCommitted));
      assertFalse(expected.isEmpty(), "A processed records");
      assertEquals(new TreeMap<>(clientAttempted), new TreeMap<>(clientCommitted),
          "every acknowledged position the loop committed (owned and followed partitions) is"
              + " committed by the time close() returns");
      assertEquals(expected, confirmed,
          "close() commits every acknowledged offset, and the commit succeeds: one past the last"
              + " record A's handler completed, per partition");
      assertEquals(expected, actual, "the group's committed offsets are the acknowledged ones");
      assertFalse(log.contains("final commit failed"), "no failed final commit:\n" + log);
      assertFalse(log.contains("WakeupException"), "no WakeupException:\n" + log);
      assertFalse(log.lines().anyMatch(l -> l.startsWith("\tat ")), "no stack trace:\n" + log);
    } finally {
      closeInParallel(producer, a, b);
    }
  }

  /** Stopping region A's broker turns A's health DOWN (reason: own broker); starting it, UP. */
  @Test
  @Order(2)
  void healthDownWhenTheOwnBrokerStopsAndUpWhenItStarts(@TempDir Path dir) throws Exception {
    String topic = "health";
    topics(topic);
    History history = new History();
    TandemRegion[] ab = bothRegions(dir, "hl", 500, 2000);
    TandemRegion a = ab[0];
    TandemRegion b = ab[1];
    TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"));
    try {
      a.kafkaConsumer(topic, new StringDeserializer(), new ByteArrayDeserializer(),
          (rec, ctx) -> history.handled(ctx.id(), "region-a", a.instance(), ctx.epoch())).start();
      b.kafkaConsumer(topic, new StringDeserializer(), new ByteArrayDeserializer(),
          (rec, ctx) -> history.handled(ctx.id(), "region-b", b.instance(), ctx.epoch())).start();
      Publishing.publish(producer, topic, "hl", 0, 40, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 40);
      await().atMost(Duration.ofSeconds(30)).until(() -> a.health().status() == RegionHealth.Status.UP);
      RegionHealth up = a.health();
      System.out.println("health before: " + up.details());
      assertTrue(up.storeRestored());
      assertEquals(4, up.shards().size());
      // which region owns what depends on the start (a slow start lets B take A's shards over)
      assertEquals(up.shards().stream().filter(s -> "region-a".equals(s.owner())).count(),
          up.shardsOwned(), "A owns the shards whose lease names it");
      assertEquals(Boolean.TRUE, up.ownBrokerReachable().orElse(null));

      long stoppedAt = System.nanoTime();
      regions.a().stopBroker();
      try {
        await().atMost(Duration.ofSeconds(30)).until(() -> a.health().status() == RegionHealth.Status.DOWN);
        long downMillis = (System.nanoTime() - stoppedAt) / 1_000_000;
        RegionHealth down = a.health();
        System.out.println("health " + downMillis + " ms after the broker stopped: " + down);
        assertTrue(down.reasons().get(0).contains("own Kafka broker does not answer"),
            down.reasons().toString());
        assertNotEquals(RegionHealth.Status.DOWN, b.health().status(), "B's broker runs: " + b.health());
        // no flapping: DOWN holds while the broker stays down — across B's takeover of A's shards
        // (L + margin = 3 s after the stop) and the end of A's probe evidence (its 2 s bound), where
        // the own-broker evidence passes from the poll loop's probes to the own changelog lane
        await().during(Duration.ofSeconds(4)).atMost(Duration.ofSeconds(15))
            .until(() -> a.health().status() == RegionHealth.Status.DOWN);
      } finally {
        regions.a().startBroker();
      }
      long startedAt = System.nanoTime();
      await().atMost(Duration.ofSeconds(60)).until(() -> a.health().status() == RegionHealth.Status.UP);
      System.out.println("health UP " + (System.nanoTime() - startedAt) / 1_000_000
          + " ms after the broker started: " + a.health());
    } finally {
      closeInParallel(producer, a, b);
    }
  }

  /** Kafka consumer settings of region {@code r}'s consumers, as the region makes them. */
  static Properties kafkaProperties(TandemRegion r) {
    Properties p = new Properties();
    p.putAll(r.regionClientProperties(r.region()));
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "ops");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "50");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    return p;
  }

  /**
   * {@code c}, recording per partition the offset of the newest commit asked for, commitSync or
   * commitAsync ({@code attempted}: the loop's acknowledged position) and of the newest that
   * succeeded: a commitSync that returned normally, a commitAsync whose callback saw no error
   * ({@code committed}).
   */
  @SuppressWarnings("unchecked")
  static Consumer<byte[], byte[]> recordingCommits(KafkaConsumer<byte[], byte[]> c,
      Map<Integer, Long> attempted, Map<Integer, Long> committed) {
    return (Consumer<byte[], byte[]>) Proxy.newProxyInstance(Consumer.class.getClassLoader(),
        new Class<?>[] {Consumer.class}, (proxy, method, args) -> {
          Object result;
          boolean commit = method.getName().equals("commitSync") && args != null
              && args[0] instanceof Map<?, ?>;
          boolean async = method.getName().equals("commitAsync") && args != null
              && args[0] instanceof Map<?, ?>;
          if (commit || async) {
            ((Map<TopicPartition, OffsetAndMetadata>) args[0]).forEach(
                (tp, om) -> attempted.put(tp.partition(), om.offset()));
          }
          if (async) {
            // the loop's turns commit without waiting: committed once the client answers success
            OffsetCommitCallback cb = (OffsetCommitCallback) args[1];
            args = new Object[] {args[0], (OffsetCommitCallback) (offsets, error) -> {
              if (error == null) {
                offsets.forEach((tp, om) -> committed.put(tp.partition(), om.offset()));
              }
              if (cb != null) {
                cb.onComplete(offsets, error);
              }
            }};
          }
          try {
            result = method.invoke(c, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
          if (commit) {
            ((Map<TopicPartition, OffsetAndMetadata>) args[0]).forEach(
                (tp, om) -> committed.put(tp.partition(), om.offset()));
          }
          return result;
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
}
