package dev.tandem.consumer.internal;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.KafkaRegionalSink;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The producers a region makes on first use and closes with itself: the dead-letter producer to the
 * own cluster (shared by every {@link KafkaDeadLetterSink} of the region) and one re-send sink per
 * other region (a follower re-sends a held copy through it to the owner's topic). Thread-safe.
 */
public final class RegionProducers {

  private final TandemRegionConfig config;
  private final RegionId region;
  private final String instance;
  private Producer<byte[], byte[]> dlqProducer;
  private KafkaDeadLetterSink kafkaDeadLetters;
  private final Map<RegionId, KafkaRegionalSink> resendSinks = new LinkedHashMap<>();

  public RegionProducers(TandemRegionConfig config, String instance) {
    this.config = config;
    this.region = config.region();
    this.instance = instance;
  }

  /** The dead-letter sink of Kafka records ({@code <topic>.tandem-dlq} in the own cluster). */
  public synchronized KafkaDeadLetterSink kafkaDeadLetters() {
    if (kafkaDeadLetters == null) {
      kafkaDeadLetters = KafkaDeadLetterSink.create(dlqProducer(), region);
    }
    return kafkaDeadLetters;
  }

  /** A dead-letter sink to {@code topic} in the own cluster, on the shared producer. */
  public synchronized KafkaDeadLetterSink kafkaDeadLetters(String topic) {
    return KafkaDeadLetterSink.create(dlqProducer(), region, Objects.requireNonNull(topic, "topic"));
  }

  private synchronized Producer<byte[], byte[]> dlqProducer() {
    if (dlqProducer == null) {
      Properties p = config.regionClientProperties(region);
      p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      p.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, "tandem-dlq-" + region + "-" + instance);
      dlqProducer = new KafkaProducer<>(p);
    }
    return dlqProducer;
  }

  /** The re-send sink to each other region, made on first use. */
  public synchronized Map<RegionId, KafkaRegionalSink> resendSinks() {
    if (resendSinks.isEmpty()) {
      for (RegionId r : config.regions()) {
        if (!r.equals(region)) {
          Properties p = config.regionClientProperties(r);
          p.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG,
              "tandem-resend-" + region + "-" + instance + "-to-" + r);
          // a re-send is sent from the poll loop to a region that may be down: never block the loop
          // for long on its missing metadata (the follower keeps holding the copy either way)
          p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, "3000");
          resendSinks.put(r, KafkaRegionalSink.create(r, p));
        }
      }
    }
    return resendSinks;
  }

  /** Closes the re-send sinks, then the dead-letter producer. */
  public synchronized void close() {
    for (KafkaRegionalSink s : resendSinks.values()) {
      RegionAssembly.closeQuietly(s);
    }
    if (dlqProducer != null) {
      Producer<byte[], byte[]> p = dlqProducer;
      RegionAssembly.closeQuietly(() -> p.close(Duration.ofSeconds(5)));
    }
  }
}
