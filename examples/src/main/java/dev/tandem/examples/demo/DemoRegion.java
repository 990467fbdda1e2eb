package dev.tandem.examples.demo;

import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.consumer.kafka.TandemRecordHandler;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.testkit.KafkaRegion;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One consumer instance of a region in the demo, wired as a user would wire it: a RocksDB store, its
 * Kafka replication log over both regions' changelogs, shard ownership under a policy, a plain
 * {@link KafkaConsumer} and the Tandem poll loop around the user's handler. The demo runs one instance
 * per region ({@link Instance#demo}); the production soak runs several per region in one consumer
 * group ({@link Instance}).
 */
final class DemoRegion implements AutoCloseable {

  /** The changelog publisher's timeout: a copy not acknowledged in this time is spooled. */
  static final Duration PUBLISH_TIMEOUT = Duration.ofSeconds(3);

  final RegionId region;
  /** This instance's name (region-a-1, ...). */
  final String instance;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final IdempotencyStore store;
  final KafkaReplicationLog log;
  final ShardOwnership ownership;
  private final KafkaConsumer<byte[], byte[]> kafka;
  private final Producer<byte[], byte[]> dlqProducer;
  private final KafkaRegionalSink resendSink;
  private final TandemKafkaConsumer<String, byte[]> consumer;
  /** The changelog publisher built here (only when the own lane has a valve), closed after the log. */
  private final DualPublisher changelogPublisher;
  /** The WITNESS policy of this region (null under the other policies): it lives in the consumer. */
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
    this.region = region;
    this.instance = instance.name();
    this.witnessPolicy = policy instanceof WitnessPolicy w ? w : null;
    store = IdempotencyStore.builder().region(region).instance(instance.name())
        .directory(dir.resolve(instance.name() + "-store")).meterRegistry(meters).build();
    Path spool = dir.resolve(instance.name() + "-spool");
    if (instance.ownLane() != null) {
      // the log's own publisher, built as the log builds it, with the own region's lane behind the valve
      changelogPublisher = DualPublisher.builder()
          .name("changelog-" + instance.name())
          .ackPolicy(AckPolicy.ANY)
          .timeout(PUBLISH_TIMEOUT)
          .spoolDirectory(spool)
          .meterRegistry(meters)
          .sink(instance.ownLane().wrap(KafkaRegionalSink.create(region,
              changelogProducer(ownBootstrap, region, region))))
          .sink(KafkaRegionalSink.create(otherId, changelogProducer(otherBootstrap, region, otherId)))
          .build();
    } else {
      changelogPublisher = null;
    }
    KafkaReplicationLog.Builder lb = KafkaReplicationLog.builder().store(store)
        .region(region, ownBootstrap)
        .region(otherId, otherBootstrap)
        .shards(shards)
        .heartbeatInterval(Duration.ofMillis(500))
        .catchUpApiTimeout(Duration.ofSeconds(2))
        .meterRegistry(meters);
    if (changelogPublisher != null) {
      lb.publisher(changelogPublisher);
    } else {
      lb.spoolDirectory(spool).publishTimeout(PUBLISH_TIMEOUT);
    }
    if (!instance.perAssignedShard()) {
      lb.materializeAllShards();
    }
    log = lb.build();
    ShardOwnership.Builder ob = ShardOwnership.builder().region(region)
        .regions(List.of(RegionId.of("region-a"), RegionId.of("region-b")))
        .store(log.replicatedStore()).replicationLog(log)
        .policy(policy).catchUpTimeout(Duration.ofSeconds(5))
        // an owner silent longer than L re-reads the changelogs before processing again
        .revalidateAfter(instance.revalidateAfter())
        .meterRegistry(meters);
    if (instance.window() > 0) {
      ob.window(instance.window());
    }
    if (instance.failbackAfter() != null) {
      ob.failbackAfter(instance.failbackAfter());
    }
    ownership = ob.build();
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, ownBootstrap);
    cp.put(ConsumerConfig.GROUP_ID_CONFIG, "demo-" + topic);
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cp.put(ConsumerConfig.CLIENT_ID_CONFIG, instance.name());
    cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "500");
    cp.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
    cp.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
    kafka = new KafkaConsumer<>(cp);
    dlqProducer = new KafkaProducer<>(producerProperties(ownBootstrap));
    resendSink = KafkaRegionalSink.create(otherId, producerProperties(otherBootstrap));
    consumer = TandemKafkaConsumer.builder(topic, new StringDeserializer(), new ByteArrayDeserializer())
        .consumer(kafka)
        .handler(handler)
        .store(log.replicatedStore())
        .deadLetterSink(KafkaDeadLetterSink.create(dlqProducer, region))
        .replicationLog(log, instance.perAssignedShard())
        .ownership(ownership)
        .resendSink(otherId, resendSink)
        .maxHold(Duration.ofSeconds(20))
        .heartbeatInterval(Duration.ofMillis(500))
        .processorOptions(p -> p.claimLease(Duration.ofSeconds(30)))
        .meterRegistry(meters)
        .build();
  }

  /** The changelog publisher's producer settings toward {@code to}, as the log sets them itself. */
  private static Properties changelogProducer(String bootstrap, RegionId from, RegionId to) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "tandem-changelog-" + from + "-to-" + to);
    return p;
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
    consumer.close();
    kafka.close(Duration.ofSeconds(5));
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
    if (consuming) {
      stopConsuming();
    }
    resendSink.close();
    dlqProducer.close(Duration.ofSeconds(5));
    log.close();
    if (changelogPublisher != null) {
      changelogPublisher.close();
    }
    store.close();
    if (witnessPolicy != null) {
      witnessPolicy.close();
      witnessPolicy.witness().close();
    }
  }
}
