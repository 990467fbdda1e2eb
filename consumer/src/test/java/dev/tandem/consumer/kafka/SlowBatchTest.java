package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.consumer.witness.KafkaTopicWitness;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, defect 2: a live owner whose batch outlasts L + margin must keep its shard lease (no
 * takeover, no duplicate), and an owner whose handler hangs must still lose it within the bound
 * ({@code handlerTimeout + L + margin + catch-up}). No fault is injected in the first test: region A
 * is only busy. Two shards: shard 0 is region A's (slow handler), shard 1 region B's (fast). L 2 s,
 * margin 1 s, 200 records per poll, 25 ms per handler: one batch of A runs 5 s, longer than the 3 s
 * of silence after which B would take over. A 10 s batch under WITNESS (3 s witness lease) must
 * keep the grant. A third cluster is the witness.
 */
@TandemClusters
class SlowBatchTest {

  static final Duration LEASE = Duration.ofSeconds(2);
  static final Duration MARGIN = Duration.ofSeconds(1);
  static final Duration HANDLER_TIMEOUT = Duration.ofSeconds(4);

  static final Duration WITNESS_LEASE = Duration.ofSeconds(3);

  static TwoRegions regions;
  static KafkaRegion witnessCluster;

  @BeforeAll
  static void start() {
    witnessCluster = KafkaRegion.start("witness");
  }

  @AfterAll
  static void stop() {
    witnessCluster.close();
  }

  private static WitnessPolicy witnessPolicy(String topic) {
    KafkaTopicWitness w = KafkaTopicWitness.builder().bootstrapServers(witnessCluster.bootstrapServers())
        .topic(topic).lease(WITNESS_LEASE).margin(Duration.ofSeconds(1))
        .requestTimeout(Duration.ofSeconds(2)).build();
    return WitnessPolicy.builder(w).renewEvery(Duration.ofMillis(500)).build();
  }

  private static void topics(String topic) {
    regions.createTopic(topic, 2);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 2);
  }

  /** Publishes {@code prefix-from .. prefix-(to-1)} to {@code partition} of both regions. */
  private static List<String> publish(TandemKafkaProducer<String, byte[]> producer, String topic,
      int partition, String prefix, int from, int to, History history) throws Exception {
    List<String> ids = new ArrayList<>();
    List<Future<RecordMetadata>> acks = new ArrayList<>();
    for (int i = from; i < to; i++) {
      String id = prefix + "-" + i;
      ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, partition, "key-" + i,
          ("payload " + i).getBytes(StandardCharsets.UTF_8));
      r.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
      acks.add(producer.send(r));
      ids.add(id);
    }
    producer.flush();
    for (int i = 0; i < acks.size(); i++) {
      acks.get(i).get();
      history.published(ids.get(i));
    }
    return ids;
  }

  private static RegionNode node(boolean a, Path dir, String topic, String prefix,
      java.util.function.Consumer<RegionNode.Options> more) {
    return new RegionNode(regions, a ? RegionNode.A : RegionNode.B, a ? "a1" : "b1", dir, topic,
        prefix, null, o -> {
          o.leaseTimeout = LEASE;
          o.margin = MARGIN;
          o.shards = 2;
          o.handlerTimeout = HANDLER_TIMEOUT;
          more.accept(o);
        });
  }

  @Test
  void aBusyOwnerKeepsItsLeaseThroughBatchesLongerThanLPlusMargin(@TempDir Path dir)
      throws Exception {
    String topic = Topics.fresh("orders-slow-batch");
    topics(topic);
    History history = new History();
    int slow = 240; // region A's shard: a 200-record batch (5 s), then a 40-record one
    int fast = 80;
    try (RegionNode a = node(true, dir, topic, "slow", o -> o.handler = (rec, ctx) -> {
          history.handled(ctx.id(), "region-a", "a1", ctx.epoch());
          TimeUnit.MILLISECONDS.sleep(25); // the handler's work, not a synchronisation
        });
        RegionNode b = node(false, dir, topic, "slow", o -> o.handler = (rec, ctx) ->
            history.handled(ctx.id(), "region-b", "b1", ctx.epoch()));
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      publish(producer, topic, 0, "s", 0, slow, history);
      publish(producer, topic, 1, "f", 0, fast, history);
      long t0 = System.nanoTime();
      a.start();
      b.start();
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == slow + fast);
      long took = (System.nanoTime() - t0) / 1_000_000;
      History.Report report = history.check(0);
      List<TakeoverReport> takeovers = new ArrayList<>(a.ownership.reports());
      takeovers.addAll(b.ownership.reports());
      System.out.printf("slow batches (25 ms x 200 per poll, L %s + margin %s): %d ms, takeovers=%d"
          + " %s%n", LEASE, MARGIN, took, takeovers.size(), report);
      takeovers.forEach(System.out::println);
      assertEquals(0, report.lost().size(), report.toString());
      assertTrue(takeovers.isEmpty(), "a busy owner was taken over: " + takeovers);
      assertEquals(0, report.duplicates(), "no fault, so no duplicate: " + report);
      assertEquals(0, a.store.detectedDuplicates() + b.store.detectedDuplicates());
    }
  }

  @Test
  void underWitnessABusyOwnerKeepsItsGrantThroughABatchLongerThanTheWitnessLease(@TempDir Path dir)
      throws Exception {
    String topic = Topics.fresh("orders-slow-witness");
    topics(topic);
    witnessCluster.createTopic("witness-" + topic, 1);
    WitnessPolicy pa = witnessPolicy("witness-" + topic);
    WitnessPolicy pb = witnessPolicy("witness-" + topic);
    History history = new History();
    // one 200-record batch of 50 ms handlers: 10 s, longer than the witness lease (3 s) twice over;
    // without renewals the grant runs out within lease + lease after the batch starts
    int slow = 200;
    try (RegionNode a = node(true, dir, topic, "slowwit", o -> {
          o.policy = pa;
          o.handler = (rec, ctx) -> {
            history.handled(ctx.id(), "region-a", "a1", ctx.epoch());
            TimeUnit.MILLISECONDS.sleep(50); // the handler's work, not a synchronisation
          };
        });
        RegionNode b = node(false, dir, topic, "slowwit", o -> o.policy = pb);
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      publish(producer, topic, 0, "w", 0, slow, history);
      a.start();
      b.start();
      try {
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == slow);
      } catch (RuntimeException e) {
        System.out.println("DIAG handled=" + history.distinctHandled() + " holds=" + pa.holds(0)
            + " owns=" + a.ownership.owns(0) + " lease=" + a.ownership.lease(0));
        a.meters.getMeters().forEach(m -> m.measure().forEach(ms -> {
          if (ms.getValue() != 0 && m.getId().getName().startsWith("tandem.consumer")) {
            System.out.println("DIAG " + m.getId() + " " + ms.getValue());
          }
        }));
        throw e;
      }
      History.Report report = history.check(0);
      double lost = a.counter("tandem.consumer.claims.lost");
      System.out.printf("slow batch under WITNESS (lease %s): takeovers=%d claims lost=%.0f %s%n",
          WITNESS_LEASE, b.ownership.reports().size(), lost, report);
      assertTrue(b.ownership.reports().isEmpty(), "a busy owner lost its grant: "
          + b.ownership.reports());
      assertEquals(0.0, lost, "the grant lapsed under a running batch (claims fenced off)");
      assertEquals(0, report.duplicates(), report.toString());
      assertEquals(slow, history.totalRuns(), "each message ran once: " + report);
      assertTrue(pa.holds(0), "A still holds shard 0's witness lease");
    } finally {
      for (WitnessPolicy p : List.of(pa, pb)) {
        p.close();
        p.witness().close();
      }
    }
  }

  @Test
  void anOwnerWhoseHandlerHangsIsTakenOverWithinTheBound(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-hung-handler");
    topics(topic);
    History history = new History();
    int n = 100;
    String hungId = "h-30";
    CountDownLatch release = new CountDownLatch(1);
    AtomicLong hungAt = new AtomicLong();
    RegionNode a = node(true, dir, topic, "hung", o -> o.handler = (rec, ctx) -> {
      history.handled(ctx.id(), "region-a", "a1", ctx.epoch());
      if (ctx.id().equals(hungId) && hungAt.get() == 0) {
        hungAt.set(System.nanoTime());
        release.await(); // hangs until the test ends
      }
    });
    try (RegionNode b = node(false, dir, topic, "hung", o -> o.handler = (rec, ctx) ->
            history.handled(ctx.id(), "region-b", "b1", ctx.epoch()));
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      publish(producer, topic, 0, "h", 0, n, history);
      a.start();
      b.start();
      await().atMost(Duration.ofSeconds(60)).until(() -> hungAt.get() != 0);
      await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
          .until(() -> !b.ownership.reports().isEmpty());
      long takeoverMs = (System.nanoTime() - hungAt.get()) / 1_000_000;
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n);
      TakeoverReport t = b.ownership.reports().get(0);
      History.Report report = history.check(0);
      System.out.printf("hung handler (handlerTimeout %s, L %s + margin %s): taken over %d ms after"
          + " the hang; %s; %s%n", HANDLER_TIMEOUT, LEASE, MARGIN, takeoverMs, t, report);
      assertEquals(0, t.shard(), t.toString());
      assertTrue(takeoverMs >= HANDLER_TIMEOUT.toMillis(),
          "taken over " + takeoverMs + " ms after the hang: the owner was busy, not stuck, before"
              + " handlerTimeout " + HANDLER_TIMEOUT);
      long bound = HANDLER_TIMEOUT.plus(LEASE).plus(MARGIN).plusSeconds(5).toMillis();
      assertTrue(takeoverMs <= bound, "taken over " + takeoverMs + " ms after the hang, beyond "
          + bound + " ms (handlerTimeout + L + margin + 5 s for catch-up and load)");
      assertEquals(0, report.lost().size(), report.toString());
      assertTrue(report.duplicates() <= t.bound().orElseThrow(), report + " vs " + t);
    } finally {
      release.countDown();
      a.close();
    }
  }
}
