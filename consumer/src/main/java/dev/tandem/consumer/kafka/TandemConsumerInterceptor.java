package dev.tandem.consumer.kafka;

import dev.tandem.consumer.SharedStores;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.RecordKey;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Metrics;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.header.Header;

/**
 * A Kafka {@link ConsumerInterceptor}, configured only through properties:
 *
 * <pre>
 * interceptor.classes=dev.tandem.consumer.kafka.TandemConsumerInterceptor
 * tandem.store.directory=/var/lib/app/tandem-store
 * tandem.region=westeurope
 * </pre>
 *
 * <p><b>What it guarantees alone — exactly this:</b> in {@code onConsume} it drops every record whose
 * {@code tandem-id} is already COMPLETED (or DEAD_LETTERED) in the local replica of the store, with a
 * matching payload digest (a copy with another digest is a conflict and is passed on, never silently
 * dropped). Records without a {@code tandem-id} pass through. That is all:
 *
 * <ul>
 *   <li>No cross-region guarantee for fresh messages: if both regions receive a copy before either
 *       completion has replicated, both pass. An interceptor cannot pause partitions, hold records or
 *       run the handler, so it cannot wait for the owner region.
 *   <li>It records nothing: completion is recorded only by {@link TandemKafkaConsumer} (the handler
 *       wrapper, which gives the full guarantee) or by the application calling {@code
 *       IdempotencyStore.complete} on the store of the same directory ({@link SharedStores}).
 *   <li>It reads the local replica; replication into it is the job of the store's replication log.
 * </ul>
 *
 * <p>RocksDB opens a directory once per process, so all interceptor instances of a directory share
 * one store through {@link SharedStores}. Meters go to Micrometer's global registry:
 * {@code tandem.consumer.interceptor.dropped}, {@code tandem.consumer.interceptor.passed},
 * {@code tandem.consumer.interceptor.conflicts} and {@code tandem.consumer.interceptor.invalid}.
 *
 * <p>Cost: one store call per poll ({@link IdempotencyStore#terminalRecords}: the terminal-record
 * cache, then one RocksDB {@code multiGet} for the misses), not one read per record.
 */
public final class TandemConsumerInterceptor<K, V> implements ConsumerInterceptor<K, V> {

  private Path directory;
  private IdempotencyStore store;
  private Counter dropped;
  private Counter passed;
  private Counter conflicts;
  private Counter invalid;

  @Override
  public void configure(Map<String, ?> configs) {
    Object dir = configs.get(TandemConsumerConfig.STORE_DIRECTORY);
    Object region = configs.get(TandemConsumerConfig.REGION);
    if (dir == null || region == null) {
      throw new ConfigException("TandemConsumerInterceptor needs " + TandemConsumerConfig.STORE_DIRECTORY
          + " and " + TandemConsumerConfig.REGION);
    }
    RegionId regionId = RegionId.of(region.toString());
    String instance = Optional.ofNullable(configs.get(TandemConsumerConfig.INSTANCE))
        .or(() -> Optional.ofNullable(configs.get(ConsumerConfig.CLIENT_ID_CONFIG)))
        .map(Object::toString).filter(s -> !s.isEmpty()).orElseGet(TandemConsumerInterceptor::host);
    Duration ttl = Optional.ofNullable(configs.get(TandemConsumerConfig.RECORD_TTL))
        .map(v -> Duration.parse(v.toString())).orElse(Duration.ofDays(7));
    directory = Path.of(dir.toString());
    store = SharedStores.acquire(directory, regionId, instance, () -> IdempotencyStore.builder()
        .region(regionId).instance(instance).directory(directory).ttl(ttl)
        .meterRegistry(Metrics.globalRegistry).build());
    dropped = Counter.builder("tandem.consumer.interceptor.dropped").tag("region", regionId.name())
        .description("records dropped because their id was already terminal")
        .register(Metrics.globalRegistry);
    passed = Counter.builder("tandem.consumer.interceptor.passed").tag("region", regionId.name())
        .description("records passed on to the application").register(Metrics.globalRegistry);
    conflicts = Counter.builder("tandem.consumer.interceptor.conflicts").tag("region", regionId.name())
        .description("completed ids seen again with another payload digest (passed on)")
        .register(Metrics.globalRegistry);
    invalid = Counter.builder("tandem.consumer.interceptor.invalid").tag("region", regionId.name())
        .description("records whose tandem-id header is empty or oversized (passed on)")
        .register(Metrics.globalRegistry);
  }

  private static String host() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      return "unknown-host";
    }
  }

  /** The store this interceptor reads (shared per directory). */
  IdempotencyStore store() {
    return store;
  }

  @Override
  public ConsumerRecords<K, V> onConsume(ConsumerRecords<K, V> records) {
    // one store lookup per poll: every record's key first, then the cache and one RocksDB multiGet
    // for all of them (store.terminalRecords), then the decision per record in fetch order
    List<TopicPartition> partitions = new ArrayList<>(records.partitions());
    // keyOf[i]: the key of the i-th record in (partition, offset) order; null: no usable id
    RecordKey[] keyOf = new RecordKey[records.count()];
    List<RecordKey> keys = new ArrayList<>(keyOf.length);
    int i = 0;
    for (TopicPartition tp : partitions) {
      for (ConsumerRecord<K, V> r : records.records(tp)) {
        keyOf[i] = keyOf(r);
        if (keyOf[i] != null) {
          keys.add(keyOf[i]);
        }
        i++;
      }
    }
    Map<RecordKey, IdRecord> terminal = keys.isEmpty() ? Map.of() : store.terminalRecords(keys);
    Map<TopicPartition, List<ConsumerRecord<K, V>>> kept = new HashMap<>();
    i = 0;
    for (TopicPartition tp : partitions) {
      List<ConsumerRecord<K, V>> out = new ArrayList<>();
      for (ConsumerRecord<K, V> r : records.records(tp)) {
        RecordKey key = keyOf[i++];
        if (key != null && alreadyDone(r, terminal.get(key))) {
          dropped.increment();
        } else {
          passed.increment();
          out.add(r);
        }
      }
      if (!out.isEmpty()) {
        kept.put(tp, out);
      }
    }
    // the positions stay those of the fetch: dropped records are consumed, not re-read
    return new ConsumerRecords<>(kept, records.nextOffsets());
  }

  /**
   * The store key of a record, or null if it has no usable {@code tandem-id}: a record without one,
   * or with an empty or oversized one, passes on (counted as {@code invalid} when the header is
   * there but unusable): the application decides, nothing is dropped silently.
   */
  private RecordKey keyOf(ConsumerRecord<K, V> r) {
    String id = header(r, TandemHeaders.ID);
    if (id == null) {
      return null;
    }
    if (id.isEmpty() || id.length() > TandemHeaders.MAX_ID_LENGTH) {
      invalid.increment();
      return null;
    }
    // an id with control characters is never stored (writes refuse it): the lookup finds nothing
    return new RecordKey(r.partition(), id);
  }

  /** Whether {@code r} is a copy of the terminal record {@code rec} (null: not terminal here). */
  private boolean alreadyDone(ConsumerRecord<K, V> r, IdRecord rec) {
    if (rec == null) {
      return false;
    }
    String digest = header(r, TandemHeaders.DIGEST);
    try {
      if (digest == null || !rec.digests().contains(PayloadDigest.fromHex(digest))) {
        if (!rec.digests().isEmpty()) {
          conflicts.increment();
          return false;
        }
      }
    } catch (IllegalArgumentException e) {
      return false; // a malformed digest header: never dropped silently
    }
    return true;
  }

  private static String header(ConsumerRecord<?, ?> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  @Override
  public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {
    // completion is recorded by the handler wrapper or the application, never on commit
  }

  @Override
  public void close() {
    if (directory != null) {
      SharedStores.release(directory);
      directory = null;
    }
  }
}
