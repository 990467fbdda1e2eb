package dev.tandem.publisher;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The record future and callback of {@link TandemKafkaProducer} under ANY, driven by hand over two
 * {@link MockProducer}s (no brokers): the publisher hands its outcome straight to the record's future
 * (no chained futures), so these pin what that path must keep — the callback runs once, before the
 * future completes, with the first acknowledging region's metadata or with the publish's failure, and
 * the published counter and flush account for the record only after that.
 */
class TandemKafkaProducerCallbackTest {

  private static final String TOPIC = "cb";
  private static final RegionId A = RegionId.of("region-a");
  private static final RegionId B = RegionId.of("region-b");

  private record Call(RecordMetadata meta, Exception error, boolean futureDoneBefore) {}

  private static double published(SimpleMeterRegistry meters, String outcome) {
    return meters.get(PublisherMeterNames.PUBLISHED).tag(PublisherMeterNames.TAG_OUTCOME, outcome).counter().count();
  }

  private static void awaitSent(MockProducer<?, ?> a, MockProducer<?, ?> b) {
    await().atMost(Duration.ofSeconds(10)).until(() -> a.history().size() == 1 && b.history().size() == 1);
  }

  @Test
  void underAnyTheCallbackGetsTheFirstAcknowledgementBeforeTheFutureCompletes(@TempDir Path spool)
      throws Exception {
    MockProducer<byte[], byte[]> a = MockRegionProducers.mock(TOPIC, false);
    MockProducer<byte[], byte[]> b = MockRegionProducers.mock(TOPIC, false);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    try (TandemKafkaProducer<byte[], byte[]> producer =
        MockRegionProducers.producer(a, b, spool, AckPolicy.ANY, meters)) {
      List<Call> calls = new ArrayList<>();
      Future<?>[] future = new Future<?>[1];
      future[0] = producer.send(new ProducerRecord<>(TOPIC, 1, null, "v".getBytes(StandardCharsets.UTF_8)),
          (meta, error) -> calls.add(new Call(meta, error, future[0].isDone())));
      // the first copies to a topic go through each sink's own thread: wait until both reached the mocks
      awaitSent(a, b);
      assertTrue(b.completeNext()); // region-b acknowledges first
      assertFalse(future[0].isDone(), "ANY completes when every copy is settled, region-a is not yet");
      assertTrue(a.completeNext());
      RecordMetadata meta = (RecordMetadata) future[0].get(10, TimeUnit.SECONDS);
      assertEquals(1, calls.size(), "the callback runs once");
      assertNull(calls.get(0).error());
      assertFalse(calls.get(0).futureDoneBefore(), "the callback runs before the future completes");
      assertSame(meta, calls.get(0).meta());
      assertEquals(TOPIC, meta.topic());
      assertEquals(1, meta.partition());
      producer.flush();
      assertEquals(1.0, published(meters, "ok"));
      assertEquals(0.0, published(meters, "failed"));
    }
  }

  @Test
  void aCopyRejectedForItsContentFailsThePublishThroughTheCallbackAndTheFuture(@TempDir Path spool)
      throws Exception {
    MockProducer<byte[], byte[]> a = MockRegionProducers.mock(TOPIC, false);
    MockProducer<byte[], byte[]> b = MockRegionProducers.mock(TOPIC, false);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    try (TandemKafkaProducer<byte[], byte[]> producer =
        MockRegionProducers.producer(a, b, spool, AckPolicy.ANY, meters)) {
      List<Call> calls = new ArrayList<>();
      Future<?>[] future = new Future<?>[1];
      future[0] = producer.send(new ProducerRecord<>(TOPIC, 0, null, "v".getBytes(StandardCharsets.UTF_8)),
          (meta, error) -> calls.add(new Call(meta, error, future[0].isDone())));
      awaitSent(a, b);
      assertTrue(a.completeNext());
      // refused for its content: not spooled (replaying would not help), so the copy failed
      assertTrue(b.errorNext(new RecordTooLargeException("too large")));
      ExecutionException thrown = assertThrows(ExecutionException.class, () -> future[0].get(10, TimeUnit.SECONDS));
      PublishException failure = assertInstanceOf(PublishException.class, thrown.getCause());
      assertInstanceOf(MessageRejectedException.class, failure.failures().get(B));
      assertEquals(1, calls.size(), "the callback runs once");
      assertSame(failure, calls.get(0).error());
      assertFalse(calls.get(0).futureDoneBefore(), "the callback runs before the future completes");
      producer.flush();
      assertEquals(0.0, published(meters, "ok"));
      assertEquals(1.0, published(meters, "failed"));
      assertEquals(0, producer.publisher().status(B).spoolDepth(), "a rejected copy is never spooled");
    }
  }
}
