package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.Envelope;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.KafkaEnvelopeHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.IdRecord;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Both regions consuming at once on two real KRaft clusters, no fault. */
@TandemClusters
class TwoRegionConsumerTest {

  /** A changelog and id prefix no other class of this JVM uses (shared regions). */
  static final String SLOW_PREFIX = Topics.fresh("slow");

  static TwoRegions regions;

  @Test
  void faultFreeEveryMessageHandledExactlyOnceAcrossBothRegions(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-ff");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    int n = 10_000;
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "ff", history, o -> {});
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "ff", history, o -> {});
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      a.start();
      b.start();
      Publishing.publish(producer, topic, "ff", 0, n, history);
      await().atMost(Duration.ofSeconds(120)).until(() -> history.distinctHandled() == n);
      // both followers acknowledge along: every copy in both regions is settled
      await().atMost(Duration.ofSeconds(60)).until(
          () -> a.counter("tandem.consumer.follower.acknowledged")
              + b.counter("tandem.consumer.follower.acknowledged") >= n);
      History.Report report = history.check(0);
      System.out.println("fault-free: " + report);
      assertEquals(0, report.lost().size());
      assertEquals(0, report.duplicates(), "no duplicate without a fault");
      assertEquals(n, history.totalRuns());
      assertTrue(report.runsByRegion().getOrDefault("region-a", 0) > 0, "region-a did part of the work");
      assertTrue(report.runsByRegion().getOrDefault("region-b", 0) > 0, "region-b did part of the work");
      assertEquals(0, a.ownership.reports().size() + b.ownership.reports().size(), "zero takeovers");
      assertEquals(0.0, a.counter("tandem.consumer.takeovers") + b.counter("tandem.consumer.takeovers"));
      assertEquals(0L, a.store.detectedDuplicates() + b.store.detectedDuplicates());
    }
  }

  @Test
  void ownerConsumersStopMidStreamFollowerTakesOverWithinTheBound(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-stop");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    int n = 400;
    CountDownLatch hang = new CountDownLatch(1);
    AtomicInteger aRuns = new AtomicInteger();
    AtomicLong hungAt = new AtomicLong();
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "stop", history, o -> {
          o.leaseTimeout = Duration.ofSeconds(2);
          o.margin = Duration.ofSeconds(1);
          o.window = 50;
          // the stop is simulated by a handler that never returns: stuck once past handlerTimeout
          // (the lease renewer keeps a busy owner's leases up to it; the default is 30 s)
          o.handlerTimeout = Duration.ofSeconds(2);
          o.handler = (rec, ctx) -> {
            history.handled(ctx.id(), "region-a", "a1", ctx.epoch());
            if (aRuns.incrementAndGet() == 60) {
              // region A's consumer stops mid-handler: the side effect happened, no completion
              hungAt.set(System.nanoTime());
              hang.await();
            }
          };
        });
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "stop", history, o -> {
          o.leaseTimeout = Duration.ofSeconds(2);
          o.margin = Duration.ofSeconds(1);
          o.window = 50;
        });
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      a.start();
      b.start();
      Publishing.publish(producer, topic, "stop", 0, n, history);
      try {
        await().atMost(Duration.ofSeconds(60)).until(() -> hungAt.get() != 0);
        int fault = history.beginFault("region-a consumers stopped");
        await().atMost(Duration.ofSeconds(60)).until(() -> b.ownership.reports().size() == 2);
        long takeoverMillis = (System.nanoTime() - hungAt.get()) / 1_000_000;
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n);
        history.endFault(fault);
        List<TakeoverReport> reports = b.ownership.reports();
        long bound = 0;
        for (TakeoverReport r : reports) {
          assertEquals(RegionNode.A, r.from());
          assertTrue(r.ownerChangelog().complete(), "A's broker answers: its changelog was read: " + r);
          assertEquals(0, r.windowAdded(), "no window term when the owner's changelog was read");
          bound += r.bound().orElseThrow();
        }
        History.Report report = history.check(Duration.ofSeconds(5).toNanos());
        System.out.printf("consumers-stopped: messages=%d duplicates=%d bound=%d takeover=%dms reports=%s%n",
            n, report.duplicates(), bound, takeoverMillis, reports);
        assertEquals(0, report.lost().size());
        assertTrue(report.duplicates() <= bound, "duplicates " + report.duplicates() + " <= bound " + bound);
        assertEquals(0, report.duplicatesOutsideFaults());
        assertTrue(bound >= 1, "the hung message is CLAIMED without COMPLETED");
        // the takeover is visible in the meters too
        assertEquals(2.0, b.counter("tandem.consumer.takeovers"));
        var summary = b.meters.find("tandem.consumer.duplicate.bound").summary();
        assertEquals(2L, summary.count());
        assertEquals((double) bound, summary.totalAmount());
        for (TakeoverReport r : reports) {
          assertEquals(1.0, b.meters.find("tandem.consumer.lease.epoch")
              .tag("shard", Integer.toString(r.shard())).gauge().value());
        }
      } finally {
        hang.countDown();
      }
      // the old owner, unblocked, sees the higher epoch and processes nothing more
      int before = aRuns.get();
      List<String> more = Publishing.publish(producer, topic, "stop", n, n + 40, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n + 40);
      assertEquals(before, aRuns.get(), "region A no longer processes the shards it lost: " + more.size());
    }
  }

  @Test
  void conflictGoesToTheOwnersDeadLetterTopicAndBothRegionsAgree(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-conflict");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "cf", history, o -> {});
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "cf", history, o -> {});
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      a.start();
      b.start();
      for (String payload : List.of("first payload", "second payload")) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, 0, "k",
            payload.getBytes(StandardCharsets.UTF_8));
        r.headers().add(TandemHeaders.ID, "conflicted-1".getBytes(StandardCharsets.UTF_8));
        producer.send(r).get();
      }
      await().atMost(Duration.ofSeconds(60)).until(() -> a.store.get("conflicted-1", 0)
          .map(IdRecord::isConflict).orElse(false)
          && b.store.get("conflicted-1", 0).map(IdRecord::isConflict).orElse(false));
      assertEquals(1, history.totalRuns(), "only the first payload ran");
      // shard 0 is owned by region-a: its dead-letter topic holds the conflicting copy
      List<ConsumerRecord<byte[], byte[]>> dlq = readAll(regions.a().consumerProperties("dlq-check"),
          KafkaDeadLetterSink.topicFor(topic), 1);
      assertEquals("CONFLICT", new String(dlq.get(0).headers()
          .lastHeader(KafkaDeadLetterSink.REASON_HEADER).value(), StandardCharsets.UTF_8));
      assertEquals("second payload", new String(dlq.get(0).value(), StandardCharsets.UTF_8));
      assertEquals(1.0, a.counter("tandem.consumer.conflicts"));
      // the follower acknowledges both copies once the owner decided; it never dead-letters twice
      await().atMost(Duration.ofSeconds(30)).until(() -> b.counter("tandem.consumer.follower.acknowledged") >= 2);
      assertEquals(0.0, b.counter("tandem.consumer.conflicts"));
    }
  }

  @Test
  void slowOwnerFollowerResendCausesNoDuplicate(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-slow");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, SLOW_PREFIX, history, o -> {});
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, SLOW_PREFIX, history,
            o -> o.maxHold = Duration.ofSeconds(2))) {
      a.start();
      b.start();
      // the owner's (region-a's) copy is late: only region-b's copy exists for now
      byte[] payload = "late in region a".getBytes(StandardCharsets.UTF_8);
      Envelope env = Envelope.forPayload("slow-1", payload, 0, System.currentTimeMillis());
      Properties pp = regions.b().producerProperties();
      try (KafkaProducer<String, byte[]> onlyB = new KafkaProducer<>(pp)) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, 0, "k", payload);
        KafkaEnvelopeHeaders.write(env, r.headers());
        onlyB.send(r).get();
        history.published("slow-1");
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> b.counter("tandem.consumer.follower.acknowledged") >= 1);
        // now the owner's own (delayed) copy arrives too: skipped as a duplicate
        ProducerRecord<String, byte[]> late = new ProducerRecord<>(topic, 0, "k", payload);
        KafkaEnvelopeHeaders.write(env, late.headers());
        try (KafkaProducer<String, byte[]> onlyA = new KafkaProducer<>(regions.a().producerProperties())) {
          onlyA.send(late).get();
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> a.counter("tandem.consumer.duplicates.suppressed") >= 1);
      }
      assertEquals(1.0, b.counter("tandem.consumer.follower.resent"));
      assertEquals(1, history.totalRuns(), "the re-sent copy ran once, in the owner region");
      assertEquals("region-a", history.runsOf("slow-1").get(0).region());
      assertEquals(0, b.ownership.reports().size(), "a slow owner is not taken over");
    }
  }

  static List<ConsumerRecord<byte[], byte[]>> readAll(Properties p, String topic, int atLeast) {
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      c.subscribe(List.of(topic));
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        c.poll(Duration.ofMillis(200)).forEach(out::add);
        return out.size() >= atLeast;
      });
    }
    return out;
  }

  @Test
  void ownerHeartbeatingWithoutProgressIsTakenOverByTheHoldingFollower(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-stuck");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    AtomicInteger aFailures = new AtomicInteger();
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "stuck", history, o -> {
          o.maxAttempts = 1000;
          o.handler = (rec, ctx) -> {
            // region A's downstream is broken for this message: it fails on every attempt
            aFailures.incrementAndGet();
            throw new IllegalStateException("downstream of region-a is down");
          };
        });
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "stuck", history,
            o -> o.stuckAfter = Duration.ofSeconds(3));
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      a.start();
      b.start();
      ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, 0, "k",
          "stuck".getBytes(StandardCharsets.UTF_8));
      r.headers().add(TandemHeaders.ID, "stuck-1".getBytes(StandardCharsets.UTF_8));
      producer.send(r).get();
      history.published("stuck-1");
      long sent = System.nanoTime();
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == 1);
      long handledMillis = (System.nanoTime() - sent) / 1_000_000;
      List<TakeoverReport> reports = b.ownership.reports();
      System.out.printf("stuck-owner: messages=1 duplicates=%d bound=%s takeover-and-handled=%dms a-failures=%d %s%n",
          history.check(0).duplicates(), reports.isEmpty() ? "-" : reports.get(0).bound(), handledMillis,
          aFailures.get(), reports);
      assertEquals(1, reports.size(), "only the stuck shard is taken over");
      assertEquals(0, reports.get(0).shard());
      assertTrue(reports.get(0).reason().contains("without progress"), reports.get(0).reason());
      assertTrue(aFailures.get() >= 1, "region A was alive and trying");
      assertEquals("region-b", history.runsOf("stuck-1").get(0).region());
      assertEquals(0, history.check(0).duplicates());
      assertTrue(reports.get(0).bound().orElseThrow() <= 1, "at most A's live claim: " + reports.get(0));
    }
  }

  /**
   * Region A's changelog does not acknowledge A's claims for a while (the durable-claims hook answers
   * never): no handler of A runs meanwhile — its batches come back CLAIMS_NOT_DURABLE and are re-read
   * — and once it acknowledges again every message runs exactly once: the loop is held back, not
   * wedged, and no takeover happens.
   */
  @Test
  void aChangelogThatDoesNotAcknowledgeHoldsHandlersBackWithoutWedging(@TempDir Path dir)
      throws Exception {
    String topic = Topics.fresh("orders-slowlog");
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    int n = 200;
    java.util.concurrent.atomic.AtomicBoolean down = new java.util.concurrent.atomic.AtomicBoolean(true);
    AtomicInteger ranWhileDown = new AtomicInteger();
    java.util.concurrent.atomic.AtomicReference<RegionNode> aRef = new java.util.concurrent.atomic.AtomicReference<>();
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "sl", history, o -> {
          o.processor = p -> p.claimsDurable(shard -> down.get()
              ? new java.util.concurrent.CompletableFuture<>()
              : aRef.get().log.barrier(shard, RegionNode.A), Duration.ofMillis(300));
          o.handler = (rec, ctx) -> {
            if (down.get()) {
              ranWhileDown.incrementAndGet();
            }
            history.handled(ctx.id(), "region-a", "a1", ctx.epoch());
          };
        });
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "sl", history, o -> {});
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      aRef.set(a);
      a.start();
      b.start();
      Publishing.publish(producer, topic, "sl", 0, n, history);
      await().atMost(Duration.ofSeconds(60))
          .until(() -> a.counter("tandem.consumer.claims.not.durable") >= 2);
      down.set(false);
      await().atMost(Duration.ofSeconds(120)).until(() -> history.distinctHandled() == n);
      History.Report report = history.check(0);
      System.out.println("slow changelog: " + report + " notDurable="
          + a.counter("tandem.consumer.claims.not.durable"));
      assertEquals(0, ranWhileDown.get(), "no handler of A ran while its claims were not durable");
      assertEquals(0, report.lost().size());
      assertEquals(0, report.duplicates());
      assertTrue(report.runsByRegion().getOrDefault("region-a", 0) > 0, "A processed after the hold");
      assertEquals(0, a.ownership.reports().size() + b.ownership.reports().size(), "no takeover");
      assertEquals(0.0, a.counter("tandem.consumer.reclaimed.expired"), "parked claims resumed, not re-run");
    }
  }
}
