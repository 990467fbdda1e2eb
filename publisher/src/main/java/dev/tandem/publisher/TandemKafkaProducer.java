package dev.tandem.publisher;

import dev.tandem.publisher.internal.TopicLayouts;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Utils;

/**
 * A Kafka {@link Producer} that writes every record to every region, through a {@link
 * DualPublisher}: existing code calling {@code send(record, callback)}, {@code flush()} and {@code
 * close()} works unchanged, and the callback fires by the {@link AckPolicy} with the {@link
 * RecordMetadata} of a region that acknowledged (the first configured region that did).
 *
 * <p>Per record: the key and value are serialized once with the caller's serializers; the partition
 * is computed once — the record's own partition if set, else Kafka's default partitioner function on
 * the serialized key ({@code murmur2}, {@link BuiltInPartitioner#partitionForKey}), else, for a null
 * key, a sticky partition that moves on every {@value #STICKY_RECORDS} records — and the same number
 * is used in every region. The {@code tandem-id} is the value of the configured id header if the record
 * carries it (a business key), else a new UUIDv7. Other {@code tandem-*} headers on the record are
 * replaced by the new envelope. {@code partitioner.class} and {@code interceptor.classes} are refused
 * at construction (the region producers get explicit partitions and serialized bytes), and so is
 * {@code transactional.id} (transactions are rejected, below).
 *
 * <p>At the first send to a topic it checks that the topic has the same partition count in every
 * region (via {@code partitionsFor} of each region's producer) and throws {@link
 * PartitionCountMismatchException} naming the counts if not. A region that cannot answer then is
 * checked again on later sends (at most every {@link TandemProducerConfig#PARTITION_RECHECK_MS_CONFIG},
 * default {@value #DEFAULT_RECHECK_MILLIS} ms), and sends to the topic fail once it disagrees. (The
 * partition choice and the count check are {@code dev.tandem.publisher.internal.TopicLayouts}; this
 * class is the {@link Producer} contract around the {@link DualPublisher}: construction from
 * properties, send, flush, metrics, close.)
 *
 * <p>Built from properties ({@link TandemProducerConfig}) or from existing producers with {@link
 * #builder}. Existing producers must be {@code Producer<byte[], byte[]>}: the spool stores and replays
 * exact bytes, and the envelope's digest is over the serialized value, so serialization happens once,
 * here, with the caller's {@link Serializer}s — a {@code Producer<K, V>} would serialize again per
 * region and could not replay bytes.
 *
 * <p>Transactions are rejected: no commit can be atomic across two independent clusters.
 */
public final class TandemKafkaProducer<K, V> implements Producer<K, V> {

  /** The default id header: set it on a record to publish under a business key. */
  public static final String ID_HEADER = TandemHeaders.ID;
  /** Records sent to one sticky partition (null keys) before moving to the next. */
  public static final int STICKY_RECORDS = 64;
  /** Default milliseconds between re-checks of the partition count in a region that did not answer. */
  public static final long DEFAULT_RECHECK_MILLIS = 10_000;


  private static final String NO_TRANSACTIONS =
      "TandemKafkaProducer does not support transactions: a transaction cannot commit atomically "
          + "across two independent Kafka clusters (regions); use idempotent sends with Tandem ids "
          + "and process-once consumers instead";

  private final DualPublisher publisher;
  private final Map<RegionId, Producer<byte[], byte[]>> producers;
  private final Serializer<K> keySerializer;
  private final Serializer<V> valueSerializer;
  private final String idHeader;
  /** The one partition for both regions' copies of a record, per topic (checked across regions). */
  private final TopicLayouts layouts;
  /** Records whose callback has not run yet; flush waits for them (Kafka's contract). */
  private final InFlightTracker unfinished = new InFlightTracker();
  private volatile boolean closed;

  private TandemKafkaProducer(
      Map<RegionId, Producer<byte[], byte[]>> producers,
      Serializer<K> keySerializer,
      Serializer<V> valueSerializer,
      String idHeader,
      Duration recheckInterval,
      DualPublisher.Builder publisherBuilder) {
    this.producers = Map.copyOf(producers);
    this.keySerializer = Objects.requireNonNull(keySerializer, "keySerializer");
    this.valueSerializer = Objects.requireNonNull(valueSerializer, "valueSerializer");
    this.idHeader = Objects.requireNonNull(idHeader, "idHeader");
    this.publisher = publisherBuilder.build();
    this.layouts = new TopicLayouts(this::orderedProducers, recheckInterval, STICKY_RECORDS);
  }

  /**
   * A producer from properties (see {@link TandemProducerConfig}); the serializers come from {@code
   * key.serializer} / {@code value.serializer}.
   */
  public TandemKafkaProducer(Properties config) {
    this(config, null, null);
  }

  /** A producer from properties with the given serializers (configured here, as Kafka does). */
  @SuppressWarnings("unchecked")
  public TandemKafkaProducer(Properties config, Serializer<K> keySerializer, Serializer<V> valueSerializer) {
    this(fromConfig(config, keySerializer, valueSerializer));
  }

  private TandemKafkaProducer(Parts<K, V> parts) {
    this(parts.producers, parts.keySerializer, parts.valueSerializer, parts.idHeader, parts.recheck,
        parts.builder);
  }

  /** What {@link #fromConfig} assembles. */
  private record Parts<K, V>(
      Map<RegionId, Producer<byte[], byte[]>> producers,
      Serializer<K> keySerializer,
      Serializer<V> valueSerializer,
      String idHeader,
      Duration recheck,
      DualPublisher.Builder builder) {}

  @SuppressWarnings("unchecked")
  private static <K, V> Parts<K, V> fromConfig(Properties config, Serializer<K> ks, Serializer<V> vs) {
    // one declared key table (types, defaults, validators): a bad or unknown tandem.* key fails here
    // with a ConfigException naming the key and the value
    TandemProducerConfig tc = new TandemProducerConfig(config);
    Map<String, Object> all = new HashMap<>();
    config.forEach((k, v) -> all.put(k.toString(), v));
    // the region producers send bytes to explicit partitions: a K,V interceptor or a partitioner given
    // here would fail on bytes or never be called, so refuse them instead of ignoring them
    for (String unsupported : List.of(ProducerConfig.INTERCEPTOR_CLASSES_CONFIG, ProducerConfig.PARTITIONER_CLASS_CONFIG)) {
      Object v = all.get(unsupported);
      if (v != null && !v.toString().isBlank()) {
        throw new KafkaException(unsupported + " is not supported by TandemKafkaProducer: the partition is "
            + "computed once for every region (Kafka's default function) and the region producers send "
            + "serialized bytes; remove " + unsupported + "=" + v);
      }
    }
    // a transactional.id would reach both region producers, whose sends then all fail (no
    // initTransactions: transactions are refused, see NO_TRANSACTIONS) and spool for a replay that can
    // never succeed; refuse it here, naming it, instead of marking both regions failed at the first send
    Object transactionalId = all.get(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
    if (transactionalId != null && !transactionalId.toString().isBlank()) {
      throw new KafkaException(ProducerConfig.TRANSACTIONAL_ID_CONFIG + " is not supported by "
          + "TandemKafkaProducer: transactions cannot commit atomically across two independent Kafka "
          + "clusters; remove " + ProducerConfig.TRANSACTIONAL_ID_CONFIG + "=" + transactionalId);
    }
    Properties common = new Properties();
    common.putAll(tc.nonTandemOriginals());
    if (ks == null) {
      ks = (Serializer<K>) newSerializer(all, ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG);
      ks.configure(stringKeys(common), true);
    }
    if (vs == null) {
      vs = (Serializer<V>) newSerializer(all, ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG);
      vs.configure(stringKeys(common), false);
    }
    DualPublisher.Builder b = DualPublisher.builder();
    Map<RegionId, Producer<byte[], byte[]>> producers = new LinkedHashMap<>();
    for (RegionId region : tc.regions()) {
      Properties p = new Properties();
      p.putAll(common);
      p.putAll(tc.regionClientProperties(region));
      Object clientId = p.get(ProducerConfig.CLIENT_ID_CONFIG);
      if (clientId != null) {
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId + "-" + region.name());
      }
      KafkaRegionalSink sink = KafkaRegionalSink.create(region, p);
      producers.put(region, sink.producer());
      b.sink(sink);
    }
    b.ackPolicy(tc.ackPolicy());
    b.timeout(Duration.ofMillis(tc.getLong(TandemProducerConfig.TIMEOUT_MS_CONFIG)));
    b.spoolDirectory(Path.of(tc.getString(TandemProducerConfig.SPOOL_DIR_CONFIG)));
    b.spoolMaxRecords(tc.getLong(TandemProducerConfig.SPOOL_MAX_RECORDS_CONFIG));
    b.spoolMaxBytes(tc.getLong(TandemProducerConfig.SPOOL_MAX_BYTES_CONFIG));
    b.replayRate(tc.getInt(TandemProducerConfig.REPLAY_RATE_CONFIG));
    b.name(tc.getString(TandemProducerConfig.NAME_CONFIG));
    Duration recheckInterval =
        Duration.ofMillis(tc.getLong(TandemProducerConfig.PARTITION_RECHECK_MS_CONFIG));
    return new Parts<>(producers, ks, vs, tc.getString(TandemProducerConfig.ID_HEADER_CONFIG),
        recheckInterval, b);
  }

  private static Map<String, Object> stringKeys(Properties p) {
    Map<String, Object> m = new HashMap<>();
    p.forEach((k, v) -> m.put(k.toString(), v));
    return m;
  }

  private static Serializer<?> newSerializer(Map<String, Object> all, String key) {
    Object v = all.get(key);
    if (v == null) {
      throw new KafkaException("missing required configuration " + key + " (or pass a Serializer)");
    }
    if (v instanceof Serializer<?> s) {
      return s;
    }
    try {
      if (v instanceof Class<?> c) {
        return (Serializer<?>) Utils.newInstance(c);
      }
      return Utils.newInstance(v.toString().trim(), Serializer.class);
    } catch (ClassNotFoundException e) {
      throw new KafkaException("cannot load " + key + " " + v, e);
    }
  }

  /** A builder over existing byte-array producers, one per region. */
  public static <K, V> Builder<K, V> builder(Serializer<K> keySerializer, Serializer<V> valueSerializer) {
    return new Builder<>(keySerializer, valueSerializer);
  }

  /** Builds a {@link TandemKafkaProducer} over existing producers. */
  public static final class Builder<K, V> {
    private final Serializer<K> keySerializer;
    private final Serializer<V> valueSerializer;
    private final Map<RegionId, Producer<byte[], byte[]>> producers = new LinkedHashMap<>();
    private final DualPublisher.Builder publisher = DualPublisher.builder();
    private String idHeader = ID_HEADER;
    private Duration recheckInterval = Duration.ofMillis(DEFAULT_RECHECK_MILLIS);

    private Builder(Serializer<K> keySerializer, Serializer<V> valueSerializer) {
      this.keySerializer = Objects.requireNonNull(keySerializer, "keySerializer");
      this.valueSerializer = Objects.requireNonNull(valueSerializer, "valueSerializer");
    }

    /**
     * Adds a region with an existing producer (byte-array keys and values, {@code acks=all},
     * idempotent). The Tandem producer owns it from now on and closes it on close.
     */
    public Builder<K, V> region(RegionId region, Producer<byte[], byte[]> producer) {
      KafkaRegionalSink sink = KafkaRegionalSink.wrap(region, producer);
      publisher.sink(sink);
      producers.put(region, producer);
      return this;
    }

    /** Adds a region whose producer is created from {@code producerConfig}. */
    public Builder<K, V> region(RegionId region, Properties producerConfig) {
      KafkaRegionalSink sink = KafkaRegionalSink.create(region, producerConfig);
      publisher.sink(sink);
      producers.put(region, sink.producer());
      return this;
    }

    /** The header whose UTF-8 value is the Tandem id; default {@link #ID_HEADER}. */
    public Builder<K, V> idHeader(String header) {
      this.idHeader = Objects.requireNonNull(header, "header");
      return this;
    }

    /** How often a region that could not tell a topic's partition count is asked again. */
    public Builder<K, V> partitionRecheckInterval(Duration interval) {
      this.recheckInterval = Objects.requireNonNull(interval, "interval");
      return this;
    }

    /**
     * Sets the publisher's options (ack policy, timeout, spool directory and bounds, replay rate,
     * circuit breaker, meter registry, signer, listeners); the spool directory is required.
     */
    public Builder<K, V> publisher(Consumer<DualPublisher.Builder> options) {
      options.accept(publisher);
      return this;
    }

    public TandemKafkaProducer<K, V> build() {
      return new TandemKafkaProducer<>(producers, keySerializer, valueSerializer, idHeader, recheckInterval,
          publisher);
    }
  }

  /** The publisher underneath (status, spool drain, metrics). */
  public DualPublisher publisher() {
    return publisher;
  }

  @Override
  public Future<RecordMetadata> send(ProducerRecord<K, V> record) {
    return send(record, null);
  }

  @Override
  public Future<RecordMetadata> send(ProducerRecord<K, V> record, Callback callback) {
    if (closed) {
      throw new IllegalStateException("Cannot perform operation after producer has been closed");
    }
    String topic = record.topic();
    TopicLayouts.Layout layout = layouts.layout(topic);
    byte[] key = keySerializer.serialize(topic, record.headers(), record.key());
    byte[] value = valueSerializer.serialize(topic, record.headers(), record.value());
    int partition = layouts.partition(topic, record.partition(), key, layout);
    OutboundMessage.Builder b = OutboundMessage.builder(topic, partition).key(key).value(value);
    if (record.timestamp() != null) {
      b.timestamp(record.timestamp());
    }
    String id = null;
    // toArray: no iterator objects, and nothing at all for a record without headers
    for (Header h : record.headers().toArray()) {
      if (h.key().equals(idHeader)) {
        id = h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
      } else if (!h.key().startsWith(OutboundMessage.RESERVED_PREFIX)) {
        b.header(h.key(), h.value());
      }
    }
    if (id != null) {
      b.id(id);
    }
    OutboundMessage message = b.build();
    int keySize = key == null ? -1 : key.length;
    int valueSize = value == null ? -1 : value.length;
    Send send = new Send(layout.topicPartition(partition), keySize, valueSize, callback, unfinished.begin());
    try {
      publisher.publish(message, send);
    } catch (RuntimeException | Error e) {
      // nothing was sent (publish throws only before): the flush ticket must end, or flush() waits for ever
      send.ticket.end();
      throw e;
    }
    return send;
  }

  /**
   * One record's send: the future the caller gets, and the publisher's listener that completes it
   * (one object per record where a future, a second chained future, two stages and two lambdas were).
   * The caller's callback runs before the future completes, and the flush ticket ends last, so a flush
   * that returns has run every earlier record's callback (Kafka's contract).
   */
  private static final class Send extends CompletableFuture<RecordMetadata> implements Publication.Listener {
    private final TopicPartition tp;
    private final int keySize;
    private final int valueSize;
    private final Callback callback;
    final InFlightTracker.Ticket ticket;

    Send(TopicPartition tp, int keySize, int valueSize, Callback callback, InFlightTracker.Ticket ticket) {
      this.tp = tp;
      this.keySize = keySize;
      this.valueSize = valueSize;
      this.callback = callback;
      this.ticket = ticket;
    }

    @Override
    public void completed(PublishResult r, Throwable err) {
      try {
        if (err == null) {
          SinkAck ack = firstAck(r);
          RecordMetadata meta = new RecordMetadata(tp, ack.position(), 0, ack.timestamp(), keySize, valueSize);
          try {
            if (callback != null) {
              callback.onCompletion(meta, null);
            }
          } finally {
            complete(meta); // whatever the callback threw: Publication.complete catches, logs and counts it
          }
        } else {
          Exception e = PublisherEngine.unwrap(err) instanceof Exception ex ? ex : new KafkaException(err);
          try {
            if (callback != null) {
              callback.onCompletion(new RecordMetadata(tp, -1, -1, -1, keySize, valueSize), e);
            }
          } finally {
            completeExceptionally(e); // a callback's Throwable goes on to Publication.complete (logged, counted)
          }
        }
      } finally {
        ticket.end();
      }
    }
  }

  private static SinkAck firstAck(PublishResult r) {
    SinkAck a = r.firstAck();
    if (a == null) {
      throw new IllegalStateException("a successful publish has at least one acknowledgement: " + r);
    }
    return a;
  }

  private Map<RegionId, Producer<byte[], byte[]>> orderedProducers() {
    Map<RegionId, Producer<byte[], byte[]>> m = new LinkedHashMap<>();
    for (RegionId r : publisher.regions()) {
      m.put(r, producers.get(r));
    }
    return m;
  }

  /** Waits until every record sent so far is acknowledged or spooled per the ack policy. */
  @Override
  public void flush() {
    try {
      unfinished.awaitAllBegun();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new org.apache.kafka.common.errors.InterruptException(e);
    }
  }

  /** The partitions of the topic (from the first region that answers), after the count check. */
  @Override
  public List<PartitionInfo> partitionsFor(String topic) {
    layouts.layout(topic);
    KafkaException last = null;
    for (Producer<byte[], byte[]> p : orderedProducers().values()) {
      try {
        return p.partitionsFor(topic);
      } catch (KafkaException e) {
        last = e;
      }
    }
    throw last;
  }

  /** Every region producer's metrics, each name tagged {@code tandem-region}. */
  @Override
  public Map<MetricName, ? extends Metric> metrics() {
    Map<MetricName, Metric> all = new LinkedHashMap<>();
    orderedProducers().forEach((region, p) -> p.metrics().forEach((name, metric) -> {
      Map<String, String> tags = new LinkedHashMap<>(name.tags());
      tags.put("tandem-region", region.name());
      all.put(new MetricName(name.name(), name.group(), name.description(), tags), metric);
    }));
    return all;
  }

  /** The client instance id of the first region's producer (KIP-714 telemetry). */
  @Override
  public Uuid clientInstanceId(Duration timeout) {
    return orderedProducers().values().iterator().next().clientInstanceId(timeout);
  }

  @Override
  public void registerMetricForSubscription(KafkaMetric metric) {
    producers.values().forEach(p -> p.registerMetricForSubscription(metric));
  }

  @Override
  public void unregisterMetricFromSubscription(KafkaMetric metric) {
    producers.values().forEach(p -> p.unregisterMetricFromSubscription(metric));
  }

  /** Always throws: see the class comment. */
  @Override
  public void initTransactions() {
    throw new UnsupportedOperationException(NO_TRANSACTIONS);
  }

  /** Always throws: see the class comment. */
  @Override
  public void beginTransaction() {
    throw new UnsupportedOperationException(NO_TRANSACTIONS);
  }

  /** Always throws: see the class comment. */
  @Override
  public void sendOffsetsToTransaction(
      Map<TopicPartition, OffsetAndMetadata> offsets, ConsumerGroupMetadata groupMetadata) {
    throw new UnsupportedOperationException(NO_TRANSACTIONS);
  }

  /** Always throws: see the class comment. */
  @Override
  public void commitTransaction() {
    throw new UnsupportedOperationException(NO_TRANSACTIONS);
  }

  /** Always throws: see the class comment. */
  @Override
  public void abortTransaction() {
    throw new UnsupportedOperationException(NO_TRANSACTIONS);
  }

  /** Flushes, then closes the publisher, the region producers and the spool. */
  @Override
  public void close() {
    closed = true;
    publisher.close();
  }

  /** As {@link #close()}; the region producers each get {@link KafkaRegionalSink#DEFAULT_CLOSE_TIMEOUT}. */
  @Override
  public void close(Duration timeout) {
    close();
  }
}
