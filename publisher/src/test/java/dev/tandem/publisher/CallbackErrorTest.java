package dev.tandem.publisher;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.testkit.MockProducers;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A record callback that throws an Error (review s7-r F3) is caught where our code calls it, logged and
 * counted in {@link PublisherMeterNames#CALLBACK_ERRORS}; the region producers keep working, and the
 * next record's callback runs as usual.
 */
class CallbackErrorTest {

  private static final String TOPIC = "cb";
  private static final RegionId A = RegionId.of("region-a");
  private static final RegionId B = RegionId.of("region-b");

  @Test
  void anErrorFromARecordCallbackIsCountedAndTheNextRecordIsDelivered(@TempDir Path spool) throws Exception {
    MockProducer<byte[], byte[]> a = MockProducers.of(TOPIC, 1, false);
    MockProducer<byte[], byte[]> b = MockProducers.of(TOPIC, 1, false);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (TandemKafkaProducer<byte[], byte[]> producer =
        TandemKafkaProducer.builder(new ByteArraySerializer(), new ByteArraySerializer())
            .region(A, a).region(B, b)
            .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ALL).name("cb-test").meterRegistry(registry))
            .build()) {
      Future<RecordMetadata> first = producer.send(record(), (meta, err) -> {
        throw new AssertionError("a user callback that throws an Error");
      });
      await().atMost(Duration.ofSeconds(10)).until(() -> a.history().size() == 1 && b.history().size() == 1);
      assertTrue(a.completeNext());
      assertDoesNotThrow(() -> b.completeNext(), "the Error escaped into region-b's producer callback");
      assertEquals(0, first.get(10, TimeUnit.SECONDS).offset(), "the record's future still completes");
      assertEquals(1.0, registry.get(PublisherMeterNames.CALLBACK_ERRORS).tag(PublisherMeterNames.TAG_PUBLISHER,
          "cb-test").counter().count());

      boolean[] secondCallback = {false};
      Future<RecordMetadata> second = producer.send(record(), (meta, err) -> secondCallback[0] = err == null);
      await().atMost(Duration.ofSeconds(10)).until(() -> a.history().size() == 2 && b.history().size() == 2);
      assertTrue(a.completeNext());
      assertTrue(b.completeNext());
      assertEquals(1, second.get(10, TimeUnit.SECONDS).offset());
      assertTrue(secondCallback[0], "the next record's callback ran with its metadata");
      assertEquals(1.0, registry.get(PublisherMeterNames.CALLBACK_ERRORS).counter().count(),
          "only the throwing callback is counted");
    }
  }

  private static ProducerRecord<byte[], byte[]> record() {
    return new ProducerRecord<>(TOPIC, 0, null, "v".getBytes(StandardCharsets.UTF_8));
  }
}
