package dev.tandem.consumer.kafka;

import dev.tandem.consumer.DeadLetter;
import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The Kafka {@link DeadLetterSink}: writes the original record (key, value, every original header)
 * to {@code <topic>.tandem-dlq} in the consumer's own region, adding {@value #REASON_HEADER}, {@value
 * #DETAIL_HEADER}, {@value #REGION_HEADER} and {@value #SOURCE_HEADER} ({@code topic/partition@offset}).
 * The dead-letter topic must exist (create it next to the data topic). The future completes when the
 * broker acknowledged the write (use a producer with {@code acks=all}).
 *
 * <p>Works with the {@code ConsumerRecord<byte[], byte[]>} transport messages of {@link
 * TandemKafkaConsumer}; for any other transport message (a Service Bus or HTTP trigger of a function
 * app) it writes the payload to {@code fallbackTopic}, which must then be configured, keyed by the
 * Tandem id, with the envelope headers the message carried ({@code tandem-id}, {@code
 * tandem-digest}, {@code tandem-shard}, {@code tandem-published-at}, {@code tandem-sig}, {@code
 * tandem-key-id}) and {@value #SOURCE_HEADER} {@code shard <n>}.
 */
public final class KafkaDeadLetterSink implements DeadLetterSink {

  /** Suffix of the dead-letter topic: {@code orders} → {@code orders.tandem-dlq}. */
  public static final String TOPIC_SUFFIX = ".tandem-dlq";
  /** The {@code DeadLetterReason} name. */
  public static final String REASON_HEADER = "tandem-dlq-reason";
  /** Human-readable explanation. */
  public static final String DETAIL_HEADER = "tandem-dlq-detail";
  /** The region that dead-lettered it. */
  public static final String REGION_HEADER = "tandem-dlq-region";
  /** Where the original was read: {@code topic/partition@offset}. */
  public static final String SOURCE_HEADER = "tandem-dlq-source";

  private static final int MAX_DETAIL_BYTES = 1024;
  /** The envelope a dead letter from another transport carries to the fallback topic. */
  private static final List<String> ENVELOPE_HEADERS = List.of(TandemHeaders.ID,
      TandemHeaders.DIGEST, TandemHeaders.SHARD, TandemHeaders.PUBLISHED_AT, TandemHeaders.SIG,
      TandemHeaders.KEY_ID);

  private final Producer<byte[], byte[]> producer;
  private final RegionId region;
  private final String fallbackTopic;

  private KafkaDeadLetterSink(Producer<byte[], byte[]> producer, RegionId region, String fallbackTopic) {
    this.producer = Objects.requireNonNull(producer, "producer");
    this.region = Objects.requireNonNull(region, "region");
    this.fallbackTopic = fallbackTopic;
  }

  /** A sink writing through {@code producer} (of the own region; the caller closes it). */
  public static KafkaDeadLetterSink create(Producer<byte[], byte[]> producer, RegionId region) {
    return new KafkaDeadLetterSink(producer, region, null);
  }

  /** As {@link #create}, with a topic for dead letters that did not come from a Kafka record. */
  public static KafkaDeadLetterSink create(
      Producer<byte[], byte[]> producer, RegionId region, String fallbackTopic) {
    return new KafkaDeadLetterSink(producer, region, Objects.requireNonNull(fallbackTopic, "fallbackTopic"));
  }

  /** The dead-letter topic of {@code topic}. */
  public static String topicFor(String topic) {
    return topic + TOPIC_SUFFIX;
  }

  @Override
  public CompletableFuture<Void> send(DeadLetter letter) {
    RecordHeaders headers = new RecordHeaders();
    String topic;
    byte[] key = null;
    String source;
    if (letter.message().transportMessage() instanceof ConsumerRecord<?, ?> rec) {
      topic = topicFor(rec.topic());
      if (rec.key() instanceof byte[] k) {
        key = k;
      }
      for (Header h : rec.headers()) {
        headers.add(h.key(), h.value());
      }
      source = rec.topic() + "/" + rec.partition() + "@" + rec.offset();
    } else if (fallbackTopic != null) {
      topic = fallbackTopic;
      source = "shard " + letter.message().shard();
      // not a Kafka record (a Service Bus or HTTP trigger): its other headers cannot be listed, but
      // the envelope can, so an operator finds the letter by its id (a Service Bus MessageId when
      // sent by TandemServiceBusSender) and the record keeps what a re-publish needs
      for (String name : ENVELOPE_HEADERS) {
        String v = letter.message().header(name);
        if (v != null) {
          headers.add(name, utf8(v));
        }
      }
      if (letter.id() != null) {
        key = utf8(letter.id());
      }
    } else {
      return CompletableFuture.failedFuture(new IllegalStateException(
          "dead letter of " + letter.id() + " is not from a Kafka record and no fallback topic is set"));
    }
    headers.add(REASON_HEADER, utf8(letter.reason().name()));
    headers.add(DETAIL_HEADER, truncated(letter.detail()));
    headers.add(REGION_HEADER, utf8(region.name()));
    headers.add(SOURCE_HEADER, utf8(source));
    CompletableFuture<Void> done = new CompletableFuture<>();
    try {
      producer.send(
          new ProducerRecord<>(topic, null, key, letter.message().payload(), headers),
          (md, e) -> {
            if (e != null) {
              done.completeExceptionally(e);
            } else {
              done.complete(null);
            }
          });
    } catch (RuntimeException e) {
      done.completeExceptionally(e);
    }
    return done;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] truncated(String s) {
    byte[] b = utf8(s);
    return b.length <= MAX_DETAIL_BYTES ? b : java.util.Arrays.copyOf(b, MAX_DETAIL_BYTES);
  }
}
