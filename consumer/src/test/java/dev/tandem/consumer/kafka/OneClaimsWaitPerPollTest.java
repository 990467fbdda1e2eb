package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.store.IdempotencyStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A poll that brings records of several owned partitions waits ONCE for their claims to reach the own
 * changelog (issue 20: the wait was one changelog round trip per owned partition, serial, so a loop
 * turn with n partitions waited n round trips), and still no handler runs before its claim is durable
 * (MockConsumer, scripted claims-durable barriers held by the test, no cluster).
 */
class OneClaimsWaitPerPollTest {

  static final TopicPartition P1 = new TopicPartition(HandoffGateTest.TOPIC, 1);

  @Test
  void theClaimsOfAllOwnedPartitionsOfAPollAreAwaitedTogether(@TempDir Path dir) {
    Map<Integer, CompletableFuture<Void>> durable = new ConcurrentHashMap<>();
    List<Integer> asked = new CopyOnWriteArrayList<>();
    HandoffGateTest.RecordingConsumer kafka = new HandoffGateTest.RecordingConsumer();
    Map<TopicPartition, Long> beginning = new HashMap<>();
    HandoffGateTest.FOUR.forEach(tp -> beginning.put(tp, 0L));
    kafka.updateBeginningOffsets(beginning);
    List<String> runs = new CopyOnWriteArrayList<>();
    try (IdempotencyStore store = IdempotencyStore.builder().region(HandoffGateTest.A).instance("i1")
            .directory(dir.resolve("store")).build();
        TandemKafkaConsumer<String, byte[]> loop = TandemKafkaConsumer
            .builder(HandoffGateTest.TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
            .consumer(kafka)
            .handler((rec, ctx) -> runs.add(ctx.id()))
            .store(store)
            .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
            .replicationLog(new HandoffGateTest.ScriptedLog(), false)
            // the own changelog acknowledges a shard's claims only when the test says so
            .processorOptions(p -> p.claimsDurable(s -> {
              asked.add(s);
              return durable.computeIfAbsent(s, k -> new CompletableFuture<>());
            }, Duration.ofSeconds(60)))
            .pollTimeout(Duration.ofMillis(20))
            .meterRegistry(new SimpleMeterRegistry())
            .build()) {
      // both partitions' records are in the log before the assignment: the first poll brings both
      for (long o = 0; o < 3; o++) {
        kafka.append(HandoffGateTest.record(0, o));
        kafka.append(HandoffGateTest.record(1, o));
      }
      loop.start();
      HandoffGateTest.rebalance(kafka, List.of(HandoffGateTest.P0, P1));

      // one wait for both: the second partition's claims are asked for while the first's are still
      // unacknowledged (one partition at a time, shard 1 would be asked only after shard 0's wait)
      await().atMost(Duration.ofSeconds(10))
          .until(() -> asked.contains(0) && asked.contains(1));
      assertTrue(runs.isEmpty(), "no handler before its claim is durable: " + runs);

      // the one wait ends when every shard of the batch is acknowledged (one changelog producer
      // acknowledges them together in practice); then every handler runs, each shard in its order
      durable.get(0).complete(null);
      durable.get(1).complete(null);
      await().atMost(Duration.ofSeconds(10)).until(() -> runs.size() == 6);
      assertEquals(List.of("id-0", "id-1", "id-2"), runs.stream().filter(id -> !id.startsWith("id-1-")).toList(),
          "shard 0's handlers in its order");
      assertEquals(List.of("id-1-0", "id-1-1", "id-1-2"), runs.stream().filter(id -> id.startsWith("id-1-")).toList(),
          "shard 1's handlers in its order");
      assertEquals(2, asked.size(), "one claims-durable request per shard, for the one wait: " + asked);
    }
  }
}
