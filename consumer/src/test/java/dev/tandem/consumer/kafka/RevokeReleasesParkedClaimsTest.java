package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.TandemIds;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The poll loop's rebalance listener hands a revoked partition's parked claims back (review finding 1
 * on fix/b): a claim parked because the changelog did not acknowledge it is RELEASED when its
 * partition is revoked, so the next instance claims it at once. No broker: Kafka's MockConsumer.
 */
class RevokeReleasesParkedClaimsTest {

  @TempDir Path dir;

  @Test
  void aRevokedPartitionsParkedClaimIsReleased() throws Exception {
    String topic = "orders";
    TopicPartition tp = new TopicPartition(topic, 0);
    MockConsumer<byte[], byte[]> mock = new MockConsumer<>("earliest");
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    DeadLetterSink sink = letter -> CompletableFuture.completedFuture(null);
    try (IdempotencyStore store = IdempotencyStore.builder().region(TestRegions.A)
        .instance("i1").directory(dir).build()) {
      TandemKafkaConsumer<byte[], byte[]> c = TandemKafkaConsumer
          .builder(topic, new ByteArrayDeserializer(), new ByteArrayDeserializer())
          .consumer(mock).store(store).deadLetterSink(sink).meterRegistry(registry)
          .handler((rec, ctx) -> { })
          // a changelog that never acknowledges: every claim is parked
          .processorOptions(p -> p.claimsDurable(shard -> new CompletableFuture<>(),
              Duration.ofMillis(50)))
          .build();
      String id = TandemIds.newId();
      byte[] payload = "order".getBytes(StandardCharsets.UTF_8);
      ConsumerRecord<byte[], byte[]> rec = new ConsumerRecord<>(topic, 0, 0L, null, payload);
      EnvelopeCodec.write(Envelope.forPayload(id, payload, 0, System.currentTimeMillis()),
          (k, v) -> rec.headers().add(k, v.getBytes(StandardCharsets.UTF_8)));
      mock.schedulePollTask(() -> {
        mock.rebalance(List.of(tp));
        mock.updateBeginningOffsets(Map.of(tp, 0L));
        mock.updateEndOffsets(Map.of(tp, 1L));
        mock.addRecord(rec);
      });
      c.start();
      try {
        await().atMost(Duration.ofSeconds(30)).until(() ->
            registry.find("tandem.consumer.claims.not.durable").counter() != null
                && registry.find("tandem.consumer.claims.not.durable").counter().count() >= 1);
        assertEquals(Phase.CLAIMED, store.get(id, 0).orElseThrow().phase(), "parked");
        mock.schedulePollTask(() -> mock.rebalance(List.of())); // partition 0 revoked
        await().atMost(Duration.ofSeconds(30))
            .until(() -> store.get(id, 0).orElseThrow().phase() == Phase.RELEASED);
      } finally {
        c.close();
      }
    }
  }
}
