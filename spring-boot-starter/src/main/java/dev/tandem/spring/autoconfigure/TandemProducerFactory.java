package dev.tandem.spring.autoconfigure;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.publisher.TandemProducerConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Utils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.kafka.core.ProducerFactory;

/**
 * A Spring Kafka {@link ProducerFactory} backed by one {@link TandemKafkaProducer}: every {@code
 * KafkaTemplate.send} writes the record to every region under one Tandem id (a record header), with
 * the ack policy, spool and timeouts of {@code tandem.*}. The one producer is shared by all threads
 * (it is thread-safe) and closed when the application context closes; {@code KafkaTemplate}'s
 * per-send {@code close()} does nothing (as with Spring's own shared producer).
 *
 * <p><b>No transactions.</b> A transaction cannot commit atomically across two independent clusters;
 * {@link #transactionCapable()} is false and {@link #createProducer(String)} (what {@code KafkaTemplate}
 * calls with a transaction id prefix) throws {@link UnsupportedOperationException} saying so. The
 * auto-configuration refuses {@code spring.kafka.producer.transaction-id-prefix} and {@code
 * spring.kafka.template.transaction-id-prefix} at start-up.
 *
 * @param <K> key type
 * @param <V> value type
 */
public class TandemProducerFactory<K, V> implements ProducerFactory<K, V>, DisposableBean {

  private static final Logger log = LoggerFactory.getLogger(TandemProducerFactory.class);

  static final String NO_TRANSACTIONS = "Tandem's KafkaTemplate does not support transactions: a "
      + "transaction cannot commit atomically across two independent Kafka clusters (regions). Remove "
      + "the transaction id prefix; sends are idempotent under one Tandem id and Tandem consumers "
      + "process each id once.";

  private final TandemKafkaProducer<K, V> producer;
  private final Producer<K, V> shared;
  private final Serializer<K> keySerializer;
  private final Serializer<V> valueSerializer;
  private final Map<String, Object> configuration;

  /**
   * A factory over a new {@link TandemKafkaProducer}.
   *
   * @param kafkaProducerSettings Kafka producer settings common to every region (Spring Boot's {@code
   *     spring.kafka.producer.*}; {@code bootstrap.servers} is ignored: each region's comes from
   *     {@code tandem.regions.<r>.bootstrap.servers}); {@code key.serializer} and {@code
   *     value.serializer} serialize for the wrapper
   * @param tandemKeys the producer's Tandem keys ({@link TandemPropertyKeys#producerConfig})
   * @param meterRegistry where the publisher's meters go (null: Micrometer's global registry)
   * @throws org.apache.kafka.common.config.ConfigException naming the key, for a bad Tandem key
   */
  @SuppressWarnings("unchecked")
  public TandemProducerFactory(Map<String, Object> kafkaProducerSettings,
      Map<String, Object> tandemKeys, MeterRegistry meterRegistry) {
    Map<String, Object> common = new LinkedHashMap<>(kafkaProducerSettings);
    common.remove(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG);
    if (common.get(ProducerConfig.TRANSACTIONAL_ID_CONFIG) != null) {
      throw new IllegalStateException(NO_TRANSACTIONS + " (transactional.id="
          + common.get(ProducerConfig.TRANSACTIONAL_ID_CONFIG) + ")");
    }
    Map<String, Object> all = new LinkedHashMap<>(common);
    all.putAll(tandemKeys);
    // the key table checks every tandem.* key (ConfigException naming it) before anything opens
    TandemProducerConfig tc = new TandemProducerConfig(all);
    this.keySerializer = (Serializer<K>) serializer(common, ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, true);
    this.valueSerializer =
        (Serializer<V>) serializer(common, ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, false);
    TandemKafkaProducer.Builder<K, V> b = TandemKafkaProducer.builder(keySerializer, valueSerializer);
    Properties regionCommon = new Properties();
    tc.nonTandemOriginals().forEach((k, v) -> {
      if (!k.equals(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG)
          && !k.equals(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG)) {
        regionCommon.put(k, v);
      }
    });
    for (RegionId r : tc.regions()) {
      Properties p = new Properties();
      p.putAll(regionCommon);
      p.putAll(tc.regionClientProperties(r));
      Object clientId = p.get(ProducerConfig.CLIENT_ID_CONFIG);
      if (clientId != null) {
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId + "-" + r.name());
      }
      b.region(r, p);
    }
    b.idHeader(tc.getString(TandemProducerConfig.ID_HEADER_CONFIG));
    b.partitionRecheckInterval(
        Duration.ofMillis(tc.getLong(TandemProducerConfig.PARTITION_RECHECK_MS_CONFIG)));
    b.publisher(pb -> {
      pb.ackPolicy(tc.ackPolicy())
          .timeout(Duration.ofMillis(tc.getLong(TandemProducerConfig.TIMEOUT_MS_CONFIG)))
          .spoolDirectory(Path.of(tc.getString(TandemProducerConfig.SPOOL_DIR_CONFIG)))
          .spoolMaxRecords(tc.getLong(TandemProducerConfig.SPOOL_MAX_RECORDS_CONFIG))
          .spoolMaxBytes(tc.getLong(TandemProducerConfig.SPOOL_MAX_BYTES_CONFIG))
          .replayRate(tc.getInt(TandemProducerConfig.REPLAY_RATE_CONFIG))
          .name(tc.getString(TandemProducerConfig.NAME_CONFIG));
      if (meterRegistry != null) {
        pb.meterRegistry(meterRegistry);
      }
    });
    this.producer = b.build();
    this.shared = new CloseSafe<>(producer);
    Map<String, Object> conf = new LinkedHashMap<>(all);
    // KafkaTemplate reads bootstrap.servers (observation's cluster id): the first region's
    RegionId first = tc.regions().get(0);
    conf.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
        tc.regionClientProperties(first).getProperty(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG));
    this.configuration = Collections.unmodifiableMap(conf);
    log.info("Tandem KafkaTemplate producer publishes to regions {} (ack policy {})", tc.regions(),
        tc.ackPolicy());
  }

  private static Serializer<?> serializer(Map<String, Object> settings, String key, boolean isKey) {
    Object v = settings.get(key);
    if (v == null) {
      throw new IllegalStateException("missing " + key + " (spring.kafka.producer."
          + (isKey ? "key" : "value") + "-serializer)");
    }
    Serializer<?> s;
    if (v instanceof Serializer<?> given) {
      s = given;
    } else {
      try {
        s = v instanceof Class<?> c ? (Serializer<?>) Utils.newInstance(c)
            : Utils.newInstance(v.toString().trim(), Serializer.class);
      } catch (ClassNotFoundException e) {
        throw new IllegalStateException("cannot load " + key + " " + v, e);
      }
    }
    s.configure(settings, isKey);
    return s;
  }

  /** The one Tandem producer (its {@link TandemKafkaProducer#publisher()} for status and spool). */
  public TandemKafkaProducer<K, V> tandemProducer() {
    return producer;
  }

  @Override
  public Producer<K, V> createProducer() {
    return shared;
  }

  /** Refused: see the class comment. */
  @Override
  public Producer<K, V> createProducer(String txIdPrefix) {
    throw new UnsupportedOperationException(NO_TRANSACTIONS);
  }

  @Override
  public Producer<K, V> createNonTransactionalProducer() {
    return shared;
  }

  @Override
  public boolean transactionCapable() {
    return false;
  }

  @Override
  public Map<String, Object> getConfigurationProperties() {
    return configuration;
  }

  @Override
  public Serializer<K> getKeySerializer() {
    return keySerializer;
  }

  @Override
  public Serializer<V> getValueSerializer() {
    return valueSerializer;
  }

  /** Closes the Tandem producer (flushes, then closes every region's producer and the spool). */
  @Override
  public void destroy() {
    producer.close();
  }

  /** The shared producer as {@code KafkaTemplate} sees it: its close() leaves the producer open. */
  private static final class CloseSafe<K, V> implements Producer<K, V> {
    private final Producer<K, V> delegate;

    CloseSafe(Producer<K, V> delegate) {
      this.delegate = delegate;
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<K, V> record) {
      return delegate.send(record);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<K, V> record, Callback callback) {
      return delegate.send(record, callback);
    }

    @Override
    public void flush() {
      delegate.flush();
    }

    @Override
    public List<PartitionInfo> partitionsFor(String topic) {
      return delegate.partitionsFor(topic);
    }

    @Override
    public Map<MetricName, ? extends Metric> metrics() {
      return delegate.metrics();
    }

    @Override
    public Uuid clientInstanceId(Duration timeout) {
      return delegate.clientInstanceId(timeout);
    }

    @Override
    public void registerMetricForSubscription(KafkaMetric metric) {
      delegate.registerMetricForSubscription(metric);
    }

    @Override
    public void unregisterMetricFromSubscription(KafkaMetric metric) {
      delegate.unregisterMetricFromSubscription(metric);
    }

    // The transaction methods go to the Tandem producer, which refuses them (one place says why:
    // no transaction commits atomically across two independent clusters).

    @Override
    public void initTransactions() {
      delegate.initTransactions();
    }

    @Override
    public void beginTransaction() {
      delegate.beginTransaction();
    }

    @Override
    public void sendOffsetsToTransaction(Map<TopicPartition, OffsetAndMetadata> offsets,
        ConsumerGroupMetadata groupMetadata) {
      delegate.sendOffsetsToTransaction(offsets, groupMetadata);
    }

    @Override
    public void commitTransaction() {
      delegate.commitTransaction();
    }

    @Override
    public void abortTransaction() {
      delegate.abortTransaction();
    }

    @Override
    public void close() {
      // shared: closed by the factory when the context closes
    }

    @Override
    public void close(Duration timeout) {
      // shared: closed by the factory when the context closes
    }
  }
}
