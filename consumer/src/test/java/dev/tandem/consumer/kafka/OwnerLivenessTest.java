package dev.tandem.consumer.kafka;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Kafka consumer's side of the owner liveness: its builder refuses a handlerTimeout not above
 * the heartbeat interval. The liveness itself (busy versus stuck, the brokers' evidence, the renewal
 * protocol) is tested where it lives now, in {@code dev.tandem.consumer.ownership}
 * ({@code HandlerActivityTest}, {@code BrokerEvidenceTest}, {@code OwnerLivenessTest}).
 */
class OwnerLivenessTest {

  @Test
  void theBuilderRefusesAHandlerTimeoutNotAboveTheHeartbeatInterval(@TempDir Path dir) {
    var b = TandemKafkaConsumer.builder("t", new StringDeserializer(), new StringDeserializer());
    assertThrows(IllegalArgumentException.class, () -> b.handlerTimeout(Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> b.handlerTimeout(Duration.ofSeconds(-1)));
    try (IdempotencyStore store = IdempotencyStore.builder().region(TestRegions.A)
        .instance("i1").directory(dir).build()) {
      b.consumer(new MockConsumer<>("earliest")).handler((r, c) -> {}).store(store)
          .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
          .heartbeatInterval(Duration.ofSeconds(2)).handlerTimeout(Duration.ofSeconds(2));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
      assertTrue(e.getMessage().contains("handlerTimeout"), e.getMessage());
    }
  }
}
