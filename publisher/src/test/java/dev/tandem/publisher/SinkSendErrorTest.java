package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An {@link Error} thrown inside {@code producer.send} — a user's serializer or producer interceptor
 * overflowing its stack, an OutOfMemoryError, a LinkageError — must not leave the sink's books open:
 * its outstanding-send count comes back to zero, and the copy is answered exactly once (thrown to the
 * caller when the send ran on the caller's thread, as {@code KafkaProducer.send} lets Errors
 * propagate; through the future/callback when it ran on the sink's own thread, which carries on).
 * Kafka's MockProducer runs the value serializer inside send, like KafkaProducer; no broker.
 */
class SinkSendErrorTest {

  private static final String TOPIC = "errors";
  private static final RegionId REGION = RegionId.of("region-e");
  private static final byte[] POISON = "poison".getBytes(StandardCharsets.UTF_8);
  private static final Duration BOUND = Duration.ofSeconds(10);

  /** A value serializer that overflows (here: throws StackOverflowError) on the poison value. */
  private static final class ErrorOnPoison implements Serializer<byte[]> {
    @Override
    public byte[] serialize(String topic, byte[] data) {
      if (Arrays.equals(data, POISON)) {
        throw new StackOverflowError("value serializer overflowed on the poison value");
      }
      return data;
    }
  }

  /**
   * An auto-completing mock producer with the poison-aware value serializer. Its cluster is empty:
   * MockProducer runs the serializers inside send only for a topic its cluster does not know (and then
   * writes to partition 0, the shard the messages here use).
   */
  private static MockProducer<byte[], byte[]> producer() {
    return new MockProducer<>(Cluster.empty(), true, null, new ByteArraySerializer(), new ErrorOnPoison());
  }

  private static OutboundMessage message(byte[] value) {
    return OutboundMessage.builder(TOPIC, 0).value(value).build();
  }

  private static OutboundMessage good() {
    return message("ok".getBytes(StandardCharsets.UTF_8));
  }

  /** First send to a topic goes through the sink's own thread: the Error must answer the future. */
  @Test
  void anErrorOnTheSinksThreadCompletesTheFutureAndTheThreadCarriesOn() throws Exception {
    try (KafkaRegionalSink sink = KafkaRegionalSink.wrap(REGION, producer())) {
      CompletableFuture<SinkAck> f = sink.send(message(POISON));
      ExecutionException failed = assertThrows(ExecutionException.class,
          () -> f.get(BOUND.toSeconds(), TimeUnit.SECONDS),
          "the copy whose serializer threw an Error on the sink's thread was never answered");
      assertInstanceOf(StackOverflowError.class, failed.getCause());
      assertEquals(0, sink.outstandingSends(), "outstanding sends after the Error");
      // the sink's thread still hands copies to the producer (the topic is not confirmed yet)
      SinkAck ack = sink.send(good()).get(BOUND.toSeconds(), TimeUnit.SECONDS);
      assertEquals(TOPIC, ack.destination());
      assertEquals(0, sink.outstandingSends());
    }
  }

  /** A healthy region sends inline on the caller's thread: the Error is thrown to the caller. */
  @Test
  void anErrorOnTheCallersThreadIsThrownAndTheCountIsGivenBack() throws Exception {
    try (KafkaRegionalSink sink = KafkaRegionalSink.wrap(REGION, producer())) {
      sink.send(good()).get(BOUND.toSeconds(), TimeUnit.SECONDS); // the topic is confirmed
      sink.flush(); // and the sink's thread has finished that copy's task: nothing queued, sends go inline
      assertThrows(StackOverflowError.class, () -> sink.send(message(POISON)));
      assertEquals(0, sink.outstandingSends(),
          "the copy that threw is no longer outstanding (else the region looks silent for ever)");
    }
  }

  /**
   * Through the publisher: the copy whose send threw an Error on the sink's thread is settled at once
   * (spooled as a region error), not left to the publish timeout, and flush returns.
   */
  @Test
  void aPublishWhoseCopyThrewAnErrorCompletesBeforeItsTimeout(@TempDir Path spool) throws Exception {
    KafkaRegionalSink sink = KafkaRegionalSink.wrap(REGION, producer());
    DualPublisher publisher = DualPublisher.builder().sink(sink).spoolDirectory(spool)
        .ackPolicy(AckPolicy.ANY).timeout(Duration.ofMinutes(2)).build();
    try {
      CompletableFuture<PublishResult> f = publisher.publish(message(POISON));
      // the one region's copy is spooled (a region error), so ANY is not met: the publish fails
      // naming the region, at once rather than after the two-minute timeout
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> f.get(BOUND.toSeconds(), TimeUnit.SECONDS),
          "the publish was not settled before its timeout");
      PublishException failure = assertInstanceOf(PublishException.class, e.getCause());
      assertTrue(failure.failures().containsKey(REGION), failure.toString());
      assertTrue(failure.toString().contains("StackOverflowError"),
          "settled by the Error, not by the timeout: " + failure);
      publisher.flush();
      assertEquals(0, sink.outstandingSends());
    } finally {
      Thread closer = new Thread(publisher::close, "closer");
      closer.setDaemon(true);
      closer.start();
      closer.join(BOUND.toMillis());
    }
  }
}
