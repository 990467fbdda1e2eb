package dev.tandem.publisher;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.Envelope;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Review s7-r of s7/publish (helper c's per-record allocation cuts), over two auto-completing
 * {@link MockProducer}s: behaviour that 26a8761 had and the branch changed.
 */
class PublishPathReviewTest {

  private static final String TOPIC = "rv";
  private static final RegionId A = RegionId.of("region-a");
  private static final RegionId B = RegionId.of("region-b");

  /**
   * f9ccd43 claims the same bytes on the wire. Envelope accepts a negative publishedAt (only the shard
   * is checked), and 26a8761 sent such a message to both regions with the header "-1". On the branch
   * the header encoding throws, the copy counts as a region error and goes to the spool.
   */
  @Test
  void aMessageWhoseEnvelopeHasANegativePublishTimeIsSentToBothRegionsAsBefore(@TempDir Path spool)
      throws Exception {
    MockProducer<byte[], byte[]> a = MockRegionProducers.mock(TOPIC, true);
    MockProducer<byte[], byte[]> b = MockRegionProducers.mock(TOPIC, true);
    byte[] value = "v".getBytes(StandardCharsets.UTF_8);
    OutboundMessage m = OutboundMessage.builder(TOPIC, 0).value(value)
        .envelope(Envelope.forPayload("0193a3c4-7b2e-7a11-9c1d-5e6f7a8b9c0d", value, 0, -1L))
        .build();
    try (DualPublisher publisher = DualPublisher.builder()
        .sink(KafkaRegionalSink.wrap(A, a)).sink(KafkaRegionalSink.wrap(B, b))
        .spoolDirectory(spool).ackPolicy(AckPolicy.ALL).build()) {
      PublishResult r = publisher.publish(m).get(10, TimeUnit.SECONDS);
      assertEquals(Set.of(), r.spooled(), "no copy spooled: " + r);
      assertEquals(Set.of(A, B), r.acknowledged().keySet());
      assertArrayEquals("-1".getBytes(StandardCharsets.US_ASCII),
          a.history().get(0).headers().lastHeader(TandemHeaders.PUBLISHED_AT).value());
    }
  }

  /**
   * 26a8761 ran a TandemKafkaProducer record's callback after publish returned (the engine's ordering
   * lock released). On the branch the Publication's listener is the record's Send, so for a publish
   * whose last copy settles inline (here: auto-completing mocks; in production an inline rejection or
   * a full spool on the last region) the user's callback runs on the sending thread while it still
   * holds the engine's ordering lock (and the last region's handOff monitor): any other thread's
   * send() waits for the callback to return.
   */
  @Test
  void anotherThreadCanSendWhileARecordCallbackRuns(@TempDir Path spool) throws Exception {
    MockProducer<byte[], byte[]> a = MockRegionProducers.mock(TOPIC, true);
    MockProducer<byte[], byte[]> b = MockRegionProducers.mock(TOPIC, true);
    try (TandemKafkaProducer<byte[], byte[]> producer =
        MockRegionProducers.producer(a, b, spool, AckPolicy.ALL, null)) {
      byte[] v = "v".getBytes(StandardCharsets.UTF_8);
      // warm up: the first copies to a topic go through each sink's own thread
      producer.send(new ProducerRecord<>(TOPIC, 0, null, v)).get(10, TimeUnit.SECONDS);
      await().atMost(Duration.ofSeconds(10)).until(() -> a.history().size() == 1 && b.history().size() == 1);

      CountDownLatch otherSendReturned = new CountDownLatch(1);
      boolean[] seenInCallback = new boolean[1];
      Future<?> f = producer.send(new ProducerRecord<>(TOPIC, 0, null, v), (meta, err) -> {
        Thread other = new Thread(() -> {
          producer.send(new ProducerRecord<>(TOPIC, 1, null, v));
          otherSendReturned.countDown();
        }, "other-sender");
        other.start();
        try {
          seenInCallback[0] = otherSendReturned.await(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      f.get(20, TimeUnit.SECONDS);
      assertTrue(seenInCallback[0],
          "another thread's send() did not return within 5 s while a record callback ran:"
              + " the callback runs under the publisher's ordering lock");
    }
  }

  /**
   * Kafka's I/O thread catches only Exception around a record callback (ProducerBatch and Sender.run in
   * kafka-clients 4.1.2), so an Error escaping a callback kills the producer's Sender thread. 26a8761
   * ran the Tandem record callback as a CompletableFuture stage, which captured any Throwable. On the
   * branch the user's Callback runs inside the region producer's callback chain (KafkaRegionalSink
   * lambda -> DirectCopy.accept -> Publication.complete -> Send.completed), each catching only
   * RuntimeException: an Error thrown by the user's callback escapes into the region producer (here:
   * out of MockProducer.completeNext, on a real producer: its I/O thread).
   */
  @Test
  void anErrorThrownByARecordCallbackDoesNotEscapeIntoTheRegionProducer(@TempDir Path spool) throws Exception {
    MockProducer<byte[], byte[]> a = MockRegionProducers.mock(TOPIC, false);
    MockProducer<byte[], byte[]> b = MockRegionProducers.mock(TOPIC, false);
    try (TandemKafkaProducer<byte[], byte[]> producer =
        MockRegionProducers.producer(a, b, spool, AckPolicy.ALL, null)) {
      Future<?> f = producer.send(new ProducerRecord<>(TOPIC, 0, null, "v".getBytes(StandardCharsets.UTF_8)),
          (meta, err) -> {
            throw new AssertionError("a user callback that throws an Error");
          });
      await().atMost(Duration.ofSeconds(10)).until(() -> a.history().size() == 1 && b.history().size() == 1);
      assertTrue(a.completeNext());
      assertDoesNotThrow(() -> b.completeNext(), "the Error escaped into region-b's producer callback");
      f.get(10, TimeUnit.SECONDS);
    }
  }
}
