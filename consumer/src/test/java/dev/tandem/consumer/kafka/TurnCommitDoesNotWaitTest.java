package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.store.IdempotencyStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The owner's turn does not wait for the group coordinator (issue 20, the follower's added latency):
 * the offset a turn makes due is sent with {@code commitAsync}, so a coordinator that answers slowly
 * does not hold the next turn's records back. Before, each turn ended with a {@code commitSync}, one
 * coordinator round trip per turn during which the next records waited. MockConsumer whose blocking
 * commit waits until the test releases it (the slow coordinator), no cluster.
 */
class TurnCommitDoesNotWaitTest {

  @Test
  void theNextTurnsRecordsAreHandledWhileTheCoordinatorHasNotAnswered(@TempDir Path dir) {
    HandoffGateTest.RecordingConsumer kafka = new HandoffGateTest.RecordingConsumer();
    kafka.updateBeginningOffsets(Map.of(HandoffGateTest.P0, 0L));
    CountDownLatch slow = new CountDownLatch(1);
    kafka.slowCoordinator = slow;
    List<String> runs = new CopyOnWriteArrayList<>();
    java.util.concurrent.atomic.AtomicInteger claimsWaits = new java.util.concurrent.atomic.AtomicInteger();
    try (IdempotencyStore store = IdempotencyStore.builder().region(HandoffGateTest.A).instance("i1")
            .directory(dir.resolve("store")).build();
        TandemKafkaConsumer<String, byte[]> loop = TandemKafkaConsumer
            .builder(HandoffGateTest.TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
            .consumer(kafka)
            .handler((rec, ctx) -> runs.add(ctx.id()))
            .store(store)
            .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
            .replicationLog(new HandoffGateTest.ScriptedLog(), false)
            // claims count as durable at once; counted: the turn's one other wait on the owner's path
            .processorOptions(p -> p.claimsDurable(s -> {
              claimsWaits.incrementAndGet();
              return CompletableFuture.completedFuture(null);
            }, Duration.ofSeconds(5)))
            .pollTimeout(Duration.ofMillis(20))
            .meterRegistry(new SimpleMeterRegistry())
            .build()) {
      try {
        for (long o = 0; o < 3; o++) {
          kafka.append(HandoffGateTest.record(o));
        }
        loop.start();
        HandoffGateTest.rebalance(kafka, List.of(HandoffGateTest.P0));
        // the first turn handled its records; its offset is due (sent, or waiting for the answer)
        await("the first turn's records handled").atMost(Duration.ofSeconds(10))
            .until(() -> runs.size() == 3);

        // the next records arrive while the coordinator still has not answered anything blocking
        for (long o = 3; o < 6; o++) {
          kafka.append(HandoffGateTest.record(o));
        }
        await("the next turn's records handled while the coordinator is slow")
            .atMost(Duration.ofSeconds(10)).until(() -> runs.size() == 6);
        await("their offset sent too").atMost(Duration.ofSeconds(10))
            .until(() -> kafka.commits.stream().anyMatch(m -> m.containsKey(HandoffGateTest.P0)
                && m.get(HandoffGateTest.P0).offset() == 6));
        assertEquals(0, kafka.blockingCommits.get(),
            "no steady-state turn waits for the coordinator (blocking commit calls)");
        // what a turn with records still waits for on the owner's path, besides its handlers: its
        // claims in the own changelog, once per turn (one shard here; one wait for all shards of a
        // poll, OneClaimsWaitPerPollTest)
        assertEquals(kafka.nonEmptyPolls.get(), claimsWaits.get(),
            "one claims-durable wait per turn with records");
      } finally {
        slow.countDown(); // the stop's final commit may wait for the coordinator
      }
    }
  }
}
