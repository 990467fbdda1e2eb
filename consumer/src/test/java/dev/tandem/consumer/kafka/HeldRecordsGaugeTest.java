package dev.tandem.consumer.kafka;

import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.A;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.B;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.L;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.MARGIN;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.P0;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.WAIT;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.consumer.kafka.HandoffGateTest.RecordingConsumer;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.ManualClock;
import dev.tandem.store.IdempotencyStore;
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
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The follower's held-records gauge ({@code tandem.consumer.follower.held}) and {@link
 * TandemKafkaConsumer#heldRecords()} say what the follower holds now: nothing once the loop stopped
 * (its held copies are not committed; the next holder reads them again), and the sum of every
 * running loop of the topic when several share one registry (a region object making several
 * consumers of a topic). Fast: MockConsumers, an in-memory replication network, a ManualClock.
 */
class HeldRecordsGaugeTest {

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(System.currentTimeMillis());

  {
    clock.advance(Duration.ofSeconds(1)); // a hold start of nanoTime 0 reads as "not holding"
  }

  final InMemoryReplicationLog.Network net = InMemoryReplicationLog.network(clock);
  final List<AutoCloseable> open = new ArrayList<>();

  record Follower(RecordingConsumer kafka, TandemKafkaConsumer<String, byte[]> loop) {}

  /** A region-b instance (region-a owns partition 0, so b follows it), meters in {@code meters}. */
  Follower follower(String instance, MeterRegistry meters) {
    RecordingConsumer kafka = new RecordingConsumer();
    kafka.updateBeginningOffsets(Map.of(P0, 0L));
    kafka.updateEndOffsets(Map.of(P0, 0L));
    IdempotencyStore store = IdempotencyStore.builder().region(B).instance(instance)
        .directory(dir.resolve(instance)).clock(clock).meterRegistry(new SimpleMeterRegistry())
        .build();
    InMemoryReplicationLog log = net.join(store);
    log.assign(Set.of(0));
    ShardOwnership ownership = ShardOwnership.builder().region(B).regions(List.of(A, B))
        .store(store).replicationLog(log)
        .policy(OwnershipPolicy.automatic(L, MARGIN, Duration.ofSeconds(60))).window(100)
        .revalidateAfter(L).clock(clock).meterRegistry(new SimpleMeterRegistry()).build();
    TandemKafkaConsumer<String, byte[]> loop = TandemKafkaConsumer
        .builder(HandoffGateTest.TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
        .consumer(kafka)
        .handler((rec, ctx) -> {})
        .store(store)
        .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
        .replicationLog(log, false)
        .ownership(ownership)
        .pollTimeout(Duration.ofMillis(20))
        .commitTimeout(Duration.ofSeconds(2))
        .clock(clock)
        .meterRegistry(meters)
        .build();
    open.add(store);
    open.add(log);
    open.add(loop);
    return new Follower(kafka, loop);
  }

  /**
   * Starts the loop, gives it partition 0 with the copies at {@code offsets}; waits for the hold.
   * The copies are in the log before the assignment, so the first poll brings them all: a follower
   * pauses a partition once it holds a copy of it, so a copy appended after that poll would never be
   * fetched (appended one by one after the assignment, the hold raced the loop's 20 ms polls).
   */
  static void holding(Follower f, long... offsets) {
    for (long o : offsets) {
      f.kafka().append(HandoffGateTest.record(o));
    }
    f.loop().start();
    HandoffGateTest.rebalance(f.kafka(), List.of(P0));
    await().atMost(WAIT).until(() -> f.kafka().assignment().contains(P0));
    await().atMost(WAIT).until(() -> f.loop().heldRecords() == offsets.length);
  }

  static double gauge(MeterRegistry meters) {
    return meters.get("tandem.consumer.follower.held").gauge().value();
  }

  @AfterEach
  void close() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  @Test
  void aStoppedFollowerReportsNoHeldRecords() {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Follower b = follower("b-1", meters);
    holding(b, 0, 1);
    assertEquals(2.0, gauge(meters));

    b.loop().close();
    assertEquals(0L, b.loop().heldRecords(), "a stopped loop holds nothing");
    assertEquals(0.0, gauge(meters), "the gauge of a stopped loop");
  }

  @Test
  void theGaugeIsTheSumOfTheRunningLoopsOfTheTopicInOneRegistry() {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Follower b1 = follower("b-1", meters);
    Follower b2 = follower("b-2", meters);
    holding(b1, 0);
    holding(b2, 0, 1, 2);
    assertEquals(4.0, gauge(meters), "b-1 holds 1 and b-2 holds 3");

    b2.loop().close();
    assertEquals(1.0, gauge(meters), "only b-1 runs, holding 1");
    b1.loop().close();
    assertEquals(0.0, gauge(meters));
  }
}
