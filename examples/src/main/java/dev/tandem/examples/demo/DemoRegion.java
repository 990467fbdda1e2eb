package dev.tandem.examples.demo;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.consumer.kafka.TandemRecordHandler;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.store.replication.ReplicatedStore;
import dev.tandem.testkit.KafkaRegion;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One consumer instance of a region in the demo, wired as a user would wire it: a {@link TandemRegion}
 * (the RocksDB store, its Kafka replication log over both regions' changelogs, shard ownership under
 * a policy) and one Kafka consumer made from it around the user's handler. The demo runs one instance
 * per region ({@link Instance#demo}); the production soak runs several per region in one consumer
 * group ({@link Instance}).
 */
final class DemoRegion implements AutoCloseable {

  /** The changelog publisher's timeout: a copy not acknowledged in this time is spooled. */
  static final Duration PUBLISH_TIMEOUT = Duration.ofSeconds(3);

  final RegionId region;
  /** This instance's name (region-a-1, ...). */
  final String instance;
  /** This region's meters (and, when the caller gave one, also that registry's: a scrape test). */
  final MeterRegistry meters;
  /** The region object: it owns, wires and closes everything below. */
  final TandemRegion tandem;
  /** The raw RocksDB store (the demo's reads; the consumer claims in the replicated view). */
  final IdempotencyStore store;
  final KafkaReplicationLog log;
  final ShardOwnership ownership;
  private final TandemKafkaConsumer<String, byte[]> consumer;
  /** The WITNESS policy of this region (null under the other policies); the region closes it. */
  private final WitnessPolicy witnessPolicy;
  private volatile boolean consuming;

  /**
   * A region of the in-JVM clusters: its own clients (the consumer, its changelog, the dead-letter
   * producer) reach its broker directly, and everything that reaches the OTHER region (the
   * replication log's writes and catch-up reads there, the re-send sink) goes through the other
   * region's cuttable link, so {@code TwoRegions.cutLink()} is a real partition between them.
   */
  DemoRegion(RegionId region, KafkaRegion own, KafkaRegion other, RegionId otherId, Path dir,
      String topic, int shards, OwnershipPolicy policy, TandemRecordHandler<String, byte[]> handler) {
    this(region, own.bootstrapServers(), other.linkBootstrapServers(), otherId, dir, topic, shards,
        policy, handler);
  }

  /**
   * As above, from the two regions' bootstrap addresses alone: a region run in another process (the
   * chaos suite's SIGKILLed consumer) cannot hold the test's {@link KafkaRegion} objects.
   */
  DemoRegion(RegionId region, String ownBootstrap, String otherBootstrap, RegionId otherId, Path dir,
      String topic, int shards, OwnershipPolicy policy, TandemRecordHandler<String, byte[]> handler) {
    this(region, ownBootstrap, otherBootstrap, otherId, dir, topic, shards, policy, handler,
        Instance.demo(region));
  }

  /**
   * How one consumer instance of a region is wired beyond the demo's defaults. The demo runs one
   * instance per region that materialises every shard; a production deployment runs several instances
   * per region in one consumer group, each with its own store holding the shards Kafka assigns it
   * (restore on assign, flush on revoke).
   *
   * @param name the instance name (store owner, Kafka client id, store and spool directories); a new
   *     instance of a region gets a new name, as a new pod does
   * @param perAssignedShard the store holds only the assigned shards (Kafka assignments are handed
   *     to the replication log); false: every shard, as the demo's single instance
   * @param window the replication window W; 0 keeps the library's default (1000)
   * @param failbackAfter automatic failback after the home region is healthy this long; null: off
   * @param ownLane a valve on the copies this instance's changelog publisher sends to its OWN
   *     region (the chaos "own lane stalled"); null: none
   */
  record Instance(String name, boolean perAssignedShard, int window, Duration failbackAfter,
      LaneStall ownLane, Duration revalidateAfter) {

    /** The demo's single instance: {@code <region>-1}, every shard, W = 100, no failback. */
    static Instance demo(RegionId region) {
      return new Instance(region.name() + "-1", false, 100, null, null, TwoRegionDemo.LEASE_TIMEOUT);
    }
  }

  /** One instance of {@code region}, wired as {@code instance} says. */
  DemoRegion(RegionId region, String ownBootstrap, String otherBootstrap, RegionId otherId, Path dir,
      String topic, int shards, OwnershipPolicy policy, TandemRecordHandler<String, byte[]> handler,
      Instance instance) {
    this(region, ownBootstrap, otherBootstrap, otherId, dir, topic, shards, policy, handler, instance,
        null);
  }

  /** As above; every meter also goes to {@code observe} when it is not null. */
  DemoRegion(RegionId region, String ownBootstrap, String otherBootstrap, RegionId otherId, Path dir,
      String topic, int shards, OwnershipPolicy policy, TandemRecordHandler<String, byte[]> handler,
      Instance instance, MeterRegistry observe) {
    if (observe == null) {
      this.meters = new SimpleMeterRegistry();
    } else {
      CompositeMeterRegistry both = new CompositeMeterRegistry();
      both.add(new SimpleMeterRegistry());
      both.add(observe);
      this.meters = both;
    }
    this.region = region;
    this.instance = instance.name();
    this.witnessPolicy = policy instanceof WitnessPolicy w ? w : null;
    Map<String, String> bootstrap = new LinkedHashMap<>();
    bootstrap.put(region.name(), ownBootstrap);
    bootstrap.put(otherId.name(), otherBootstrap);
    // the region object wires store, changelog, replicated view, ownership, sinks (issue 16)
    TandemRegion.Builder rb = TandemRegion.builder()
        .regions(bootstrap).localRegion(region.name()).shards(shards)
        .stateDir(dir.resolve(instance.name())).instance(instance.name())
        // L for revalidateAfter under WITNESS/MANUAL; an AUTOMATIC policy sets its own below
        .config(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG, instance.revalidateAfter().toMillis())
        .policy(policy)
        .heartbeatInterval(Duration.ofMillis(500))
        .claimLease(Duration.ofSeconds(30))
        .assignedShardsOnly(instance.perAssignedShard())
        .config(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG, PUBLISH_TIMEOUT.toMillis())
        .config(TandemRegionConfig.CATCH_UP_TIMEOUT_MS_CONFIG, 5_000L)
        .config(TandemRegionConfig.MAX_HOLD_MS_CONFIG, 20_000L)
        .groupId("demo-" + topic)
        .config(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
        .config(ConsumerConfig.CLIENT_ID_CONFIG, instance.name())
        .config(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "500")
        .config(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000")
        .config(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000")
        .meterRegistry(meters);
    if (instance.window() > 0) {
      rb.window(instance.window());
    }
    if (instance.failbackAfter() != null) {
      rb.failbackAfter(instance.failbackAfter());
    }
    if (instance.ownLane() != null) {
      // the own region's changelog lane behind the chaos valve
      rb.changelogSinks((r, sink) -> r.equals(region) ? instance.ownLane().wrap(sink) : sink);
    }
    tandem = rb.build();
    log = tandem.replicationLog();
    store = ((ReplicatedStore) tandem.store()).unwrap();
    ownership = tandem.ownership();
    consumer = tandem.kafkaConsumer(topic, new StringDeserializer(), new ByteArrayDeserializer(),
        handler);
  }

  /** Byte-array producer properties with the demo's short timeouts (acks=all, idempotent). */
  static Properties producerProperties(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    return TwoRegionDemo.quick(p);
  }

  void start() {
    consumer.start();
    consuming = true;
  }

  boolean consuming() {
    return consuming;
  }

  /** Stops this region's consumers (its broker stays up): the "consumers" fault. */
  void stopConsuming() {
    consuming = false;
    consumer.close(); // then its Kafka consumer, closed by the region when the loop has stopped
    if (witnessPolicy != null) {
      // the witness renewals run in the consumer's process: when its consumers stop, they stop too
      witnessPolicy.close();
    }
  }

  List<TakeoverReport> takeovers() {
    return ownership.reports();
  }

  /**
   * Shards whose lease names this region in its own replica (the lease view only: asking {@code
   * owns()} would also ask the policy, and a display must not make a WITNESS policy renew).
   */
  long ownedShards(int shards) {
    long n = 0;
    for (int s = 0; s < shards; s++) {
      if (ownership.lease(s).owner().equals(region)) {
        n++;
      }
    }
    return n;
  }

  @Override
  public void close() {
    consuming = false;
    tandem.close(); // consumers, witness renewals, sinks, log, changelog publisher, store, witness
  }
}
