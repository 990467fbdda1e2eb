package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A {@link RegionalSink} over one Kafka cluster: a {@code Producer<byte[], byte[]>} that sends each
 * copy to the message's destination topic and {@link OutboundMessage#shard() shard} as the partition,
 * with the envelope headers (via {@link KafkaEnvelopeHeaders}) after the message's own headers.
 *
 * <p>The future completes from the producer callback, so with {@code acks=all} only when the broker
 * has the copy. Too-large, invalid-topic and serialization errors are reported as {@link
 * MessageRejectedException} (replaying would not help); every other error counts against the region.
 *
 * <p>Producer settings matter: {@code acks=all} and {@code enable.idempotence=true} (forced by {@link
 * #create}) keep per-partition order across retries; keep {@code max.block.ms} short, because {@code
 * send} runs under the publisher's ordering lock, and {@code delivery.timeout.ms} at or above the
 * publisher's timeout.
 */
public final class KafkaRegionalSink implements RegionalSink {

  /** How long {@link #close()} waits for the producer to finish sending. */
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(10);

  private final RegionId region;
  private final Producer<byte[], byte[]> producer;
  private final Properties adminConfig;
  private final Duration closeTimeout;
  private volatile Admin admin;

  private KafkaRegionalSink(
      RegionId region, Producer<byte[], byte[]> producer, Properties adminConfig, Duration closeTimeout) {
    this.region = Objects.requireNonNull(region, "region");
    this.producer = Objects.requireNonNull(producer, "producer");
    this.adminConfig = adminConfig;
    this.closeTimeout = closeTimeout;
  }

  /**
   * A sink that creates and owns a {@link KafkaProducer} from {@code producerConfig}; the key and
   * value serializers are replaced by byte-array ones, {@code acks} is forced to {@code all} and
   * idempotence on. Its {@link #probe()} asks the cluster for its nodes.
   */
  public static KafkaRegionalSink create(RegionId region, Properties producerConfig) {
    Properties p = new Properties();
    p.putAll(producerConfig);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, p.get(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG));
    for (Map.Entry<Object, Object> e : p.entrySet()) {
      String k = e.getKey().toString();
      if (k.startsWith("security.") || k.startsWith("sasl.") || k.startsWith("ssl.")) {
        admin.put(k, e.getValue());
      }
    }
    return new KafkaRegionalSink(
        region, new KafkaProducer<>(p), admin, DEFAULT_CLOSE_TIMEOUT);
  }

  /**
   * A sink over an existing producer, which it then owns (closes on {@link #close()}). The producer
   * must use {@code acks=all}; use idempotence to keep per-partition order across retries.
   */
  public static KafkaRegionalSink wrap(RegionId region, Producer<byte[], byte[]> producer) {
    return new KafkaRegionalSink(region, producer, null, DEFAULT_CLOSE_TIMEOUT);
  }

  @Override
  public RegionId region() {
    return region;
  }

  /** The underlying producer (for {@code partitionsFor} and metrics); do not send through it. */
  public Producer<byte[], byte[]> producer() {
    return producer;
  }

  @Override
  public CompletableFuture<SinkAck> send(OutboundMessage m) {
    RecordHeaders headers = new RecordHeaders();
    for (MessageHeader h : m.headers()) {
      headers.add(h.name(), h.valueUnsafe());
    }
    KafkaEnvelopeHeaders.write(m.envelope(), headers);
    ProducerRecord<byte[], byte[]> record =
        new ProducerRecord<>(
            m.destination(),
            m.shard(),
            m.timestamp() < 0 ? null : m.timestamp(),
            m.keyUnsafe(),
            m.valueUnsafe(),
            headers);
    CompletableFuture<SinkAck> ack = new CompletableFuture<>();
    try {
      producer.send(record, (meta, err) -> {
        if (err == null) {
          ack.complete(new SinkAck(region, meta.topic(), meta.partition(), meta.offset(), meta.timestamp()));
        } else {
          ack.completeExceptionally(classify(err));
        }
      });
    } catch (RuntimeException e) {
      ack.completeExceptionally(classify(e));
    }
    return ack;
  }

  private Throwable classify(Throwable err) {
    if (err instanceof RecordTooLargeException
        || err instanceof RecordBatchTooLargeException
        || err instanceof InvalidTopicException
        || err instanceof InvalidRecordException
        || err instanceof SerializationException) {
      return new MessageRejectedException(region, err.toString(), err);
    }
    return err;
  }

  @Override
  public CompletableFuture<Void> probe() {
    if (adminConfig == null) {
      return RegionalSink.super.probe();
    }
    Admin a = admin;
    if (a == null) {
      synchronized (this) {
        if (admin == null) {
          admin = Admin.create(adminConfig);
        }
        a = admin;
      }
    }
    return a.describeCluster(new DescribeClusterOptions().timeoutMs(5_000))
        .nodes()
        .toCompletionStage()
        .toCompletableFuture()
        .thenAccept(nodes -> {
          if (nodes.isEmpty()) {
            throw new IllegalStateException("region " + region + " reports no brokers");
          }
        });
  }

  @Override
  public void flush() {
    producer.flush();
  }

  @Override
  public void close() {
    try {
      producer.close(closeTimeout);
    } finally {
      if (admin != null) {
        admin.close(Duration.ofSeconds(1));
      }
    }
  }

  @Override
  public String toString() {
    return "KafkaRegionalSink[" + region + "]";
  }
}
