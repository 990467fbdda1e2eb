package dev.tandem.consumer.kafka;

import static dev.tandem.consumer.kafka.HandoffGateTest.record;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.kafka.HandoffGateTest.RecordingConsumer;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.replication.InMemoryReplicationLog;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fast two-region set-up of the {@link TandemKafkaConsumer} ownership tests: each instance's
 * topic is a Kafka {@code MockConsumer} (HandoffGateTest's log-like one), the instances' stores
 * replicate over an {@link InMemoryReplicationLog} network that the test delivers, and time is one
 * {@link ManualClock}. Each {@link #node} is a real poll loop on its own thread, with AUTOMATIC
 * ownership ({@link #L}, {@link #MARGIN}); everything a test opened is closed after it.
 *
 * <p>Shards: {@code sorted([a, b])[shard % 2]}: region-a owns partition 0.
 */
abstract class MockRegionsFixture {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  static final TopicPartition P0 = new TopicPartition(HandoffGateTest.TOPIC, 0);
  static final Duration L = Duration.ofSeconds(6);
  static final Duration MARGIN = Duration.ofSeconds(3);
  static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir Path dir;
  // the records' envelopes carry the real time: the wall clock starts there, then moves by hand
  final ManualClock clock = new ManualClock(System.currentTimeMillis());

  {
    // the loop reads a hold start of nanoTime 0 as "not holding" (System.nanoTime is never 0 in
    // practice, a ManualClock starts there): start the monotonic clock past it
    clock.advance(Duration.ofSeconds(1));
  }

  final InMemoryReplicationLog.Network net = InMemoryReplicationLog.network(clock);
  final List<AutoCloseable> open = new ArrayList<>();

  /**
   * One instance: its region's topic, its store and replica, its ownership, its poll loop, the ids
   * its handler ran, its ownership's meters (also the loop's unless the test gave the loop a
   * registry of its own), and the gate its handler passes.
   */
  record Node(RegionId region, RecordingConsumer kafka, IdempotencyStore store,
      InMemoryReplicationLog log, ShardOwnership ownership, TandemKafkaConsumer<String, byte[]> loop,
      List<String> runs, SimpleMeterRegistry meters, Gate gate) {

    long committed(TopicPartition tp) {
      long c = -1;
      for (Map<TopicPartition, OffsetAndMetadata> m : kafka.commits) {
        if (m.containsKey(tp)) {
          c = m.get(tp).offset();
        }
      }
      return c;
    }

    Phase phase(String id) {
      return store.get(id, 0).map(r -> r.phase()).orElse(null);
    }
  }

  /** Lets a test stop a handler in the middle of a batch. */
  static final class Gate {
    volatile String blockOn;
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);

    void pass(String id) throws InterruptedException {
      if (id.equals(blockOn)) {
        entered.countDown();
        assertTrue(release.await(30, TimeUnit.SECONDS));
      }
    }
  }

  Node node(RegionId region, String instance, boolean handShards) {
    return node(region, instance, handShards, 100);
  }

  Node node(RegionId region, String instance, boolean handShards, int window) {
    return node(region, instance, handShards, window, null);
  }

  /**
   * An instance of {@code region}; {@code handShards}: the loop hands the replica its shards
   * (otherwise the replica follows shard 0 from the start); {@code loopMeters}: the loop's registry,
   * or null for the node's own.
   */
  Node node(RegionId region, String instance, boolean handShards, int window,
      MeterRegistry loopMeters) {
    RecordingConsumer kafka = new RecordingConsumer();
    kafka.updateBeginningOffsets(Map.of(P0, 0L));
    kafka.updateEndOffsets(Map.of(P0, 0L)); // answers the own-broker probe
    IdempotencyStore store = IdempotencyStore.builder().region(region).instance(instance)
        .directory(dir.resolve(instance)).clock(clock).meterRegistry(new SimpleMeterRegistry())
        .build();
    InMemoryReplicationLog log = net.join(store);
    if (!handShards) {
      log.assign(Set.of(0));
    }
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    ShardOwnership ownership = ShardOwnership.builder().region(region).regions(List.of(A, B))
        .store(store).replicationLog(log)
        .policy(OwnershipPolicy.automatic(L, MARGIN, Duration.ofSeconds(60))).window(window)
        .revalidateAfter(L).clock(clock).meterRegistry(meters).build();
    List<String> runs = new CopyOnWriteArrayList<>();
    Gate gate = new Gate();
    TandemKafkaConsumer<String, byte[]> loop = TandemKafkaConsumer
        .builder(HandoffGateTest.TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
        .consumer(kafka)
        .handler((rec, ctx) -> {
          gate.pass(ctx.id());
          runs.add(ctx.id());
        })
        .store(store)
        .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
        .replicationLog(log, handShards)
        .ownership(ownership)
        .pollTimeout(Duration.ofMillis(20))
        .commitTimeout(Duration.ofSeconds(2))
        .clock(clock)
        .meterRegistry(loopMeters == null ? meters : loopMeters)
        .build();
    open.add(store);
    open.add(log);
    open.add(loop);
    return new Node(region, kafka, store, log, ownership, loop, runs, meters, gate);
  }

  /** Starts the loop and gives it partition 0. */
  static void startWithP0(Node n) {
    n.loop().start();
    HandoffGateTest.rebalance(n.kafka(), List.of(P0));
    await().atMost(WAIT).until(() -> n.kafka().assignment().contains(P0));
  }

  /** The same message reaches both regions' topics (the publisher writes both). */
  static void publish(long offset, Node... regions) {
    for (Node n : regions) {
      n.kafka().append(record(offset));
    }
  }

  /** Waits until {@code condition} holds, delivering the changelogs between checks. */
  void awaitDelivering(BooleanSupplier condition) {
    await().atMost(WAIT).until(() -> {
      net.deliver();
      return condition.getAsBoolean();
    });
  }

  @AfterEach
  void close() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }
}
