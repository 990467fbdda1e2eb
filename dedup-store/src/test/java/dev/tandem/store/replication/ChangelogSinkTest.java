package dev.tandem.store.replication;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.SinkAck;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * The changelog sink replaces its producer when it is out of order with its broker: a later copy of
 * a partition acknowledged before an earlier one (KAFKA-15591), or an idempotence error. Producers
 * are fakes whose callbacks the test fires in any order.
 */
class ChangelogSinkTest {

  private static final RegionId A = RegionId.of("region-a");
  private static final RegionId B = RegionId.of("region-b");

  /** A producer that keeps every send's callback for the test to complete. */
  static final class HeldProducer extends MockProducer<byte[], byte[]> {
    final List<Callback> callbacks = new CopyOnWriteArrayList<>();
    final List<ProducerRecord<byte[], byte[]>> records = new CopyOnWriteArrayList<>();

    HeldProducer() {
      super(false, null, new ByteArraySerializer(), new ByteArraySerializer());
    }

    @Override
    public synchronized Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record,
        Callback callback) {
      if (closed()) {
        throw new IllegalStateException("MockProducer is already closed.");
      }
      records.add(record);
      callbacks.add(callback);
      return new CompletableFuture<>();
    }

    void ack(int i) {
      ProducerRecord<byte[], byte[]> r = records.get(i);
      callbacks.get(i).onCompletion(new RecordMetadata(
          new TopicPartition(r.topic(), r.partition()), i, 0, 0L, 0, 0), null);
    }

    void fail(int i, Exception e) {
      callbacks.get(i).onCompletion(null, e);
    }
  }

  private final List<HeldProducer> producers = new CopyOnWriteArrayList<>();
  private final SimpleMeterRegistry meters = new SimpleMeterRegistry();

  private ChangelogSink sink() {
    return new ChangelogSink(A, B, r -> {
      HeldProducer p = new HeldProducer();
      producers.add(p);
      return KafkaRegionalSink.wrap(r, p);
    }, meters);
  }

  private static OutboundMessage copy(int shard, String key) {
    return OutboundMessage.builder("t.changelog", shard).key(key.getBytes()).value(new byte[] {1})
        .build();
  }

  private double resets(String reason) {
    var c = meters.find("tandem.replication.producer.reset").tag("reason", reason).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aLaterCopyOfAPartitionAcknowledgedBeforeAnEarlierOneReplacesTheProducer() {
    ChangelogSink sink = sink();
    CompletableFuture<SinkAck> first = sink.send(copy(3, "k1"));
    CompletableFuture<SinkAck> second = sink.send(copy(3, "k2"));
    HeldProducer old = producers.get(0);
    await().atMost(Duration.ofSeconds(10)).until(() -> old.callbacks.size() == 2);

    old.ack(1); // the KAFKA-15591 sign: the later request was appended, the earlier one was not

    assertEquals(1, resets("overtaken"));
    assertEquals(2, producers.size(), "a new producer (new producer id)");
    assertTrue(old.closed(), "the old producer is closed at once");
    assertTrue(second.isDone() && !second.isCompletedExceptionally());
    assertFalse(first.isDone(), "the overtaken copy's outcome is its old producer's to give");
    // the old producer fails it (forced close); the publisher then spools and replays it
    old.fail(0, new org.apache.kafka.common.KafkaException("Producer is closed forcefully."));
    assertTrue(first.isCompletedExceptionally());
    assertEquals(1, resets("overtaken"), "outcomes of a replaced producer trigger nothing");

    CompletableFuture<SinkAck> third = sink.send(copy(3, "k3"));
    HeldProducer fresh = producers.get(1);
    await().atMost(Duration.ofSeconds(10)).until(() -> fresh.callbacks.size() == 1);
    fresh.ack(0);
    assertTrue(third.isDone() && !third.isCompletedExceptionally(), "the new producer sends");
    sink.close();
  }

  @Test
  void copiesOfDifferentPartitionsAcknowledgedInAnyOrderAreNormal() {
    ChangelogSink sink = sink();
    sink.send(copy(1, "k1"));
    sink.send(copy(2, "k2"));
    sink.send(copy(1, "k3"));
    HeldProducer p = producers.get(0);
    await().atMost(Duration.ofSeconds(10)).until(() -> p.callbacks.size() == 3);
    p.ack(1);
    p.ack(0);
    p.ack(2);
    assertEquals(0, resets("overtaken"));
    assertEquals(1, producers.size());
    assertFalse(p.closed());
    sink.close();
  }

  @Test
  void anIdempotenceErrorReplacesTheProducerAndFailsTheCopyForTheSpool() {
    ChangelogSink sink = sink();
    CompletableFuture<SinkAck> f = sink.send(copy(0, "k1"));
    HeldProducer old = producers.get(0);
    await().atMost(Duration.ofSeconds(10)).until(() -> old.callbacks.size() == 1);
    old.fail(0, new OutOfOrderSequenceException("0 (incoming seq. number), 6 (current end)"));
    assertTrue(f.isCompletedExceptionally(), "failed: the publisher spools and replays it");
    assertEquals(1, resets("idempotence"));
    assertEquals(2, producers.size());
    assertTrue(old.closed());
    sink.close();
  }

  @Test
  void anOrdinaryFailureKeepsTheProducer() {
    ChangelogSink sink = sink();
    CompletableFuture<SinkAck> f = sink.send(copy(0, "k1"));
    HeldProducer p = producers.get(0);
    await().atMost(Duration.ofSeconds(10)).until(() -> p.callbacks.size() == 1);
    p.fail(0, new org.apache.kafka.common.errors.TimeoutException("expired"));
    assertTrue(f.isCompletedExceptionally());
    assertEquals(0, resets("idempotence") + resets("overtaken"));
    assertEquals(1, producers.size());
    sink.close();
  }
}
