package dev.tandem.consumer.kafka;

import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One consumer instance of one region for the tests: a real RocksDB store, its Kafka replication
 * log over both regions, shard ownership, a real KafkaConsumer and the Tandem poll loop.
 */
final class RegionNode implements AutoCloseable {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");

  final RegionId region;
  final String instance;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final IdempotencyStore store;
  final KafkaReplicationLog log;
  /** The changelog publisher built here (null: the log built and owns its own). */
  final DualPublisher changelogPublisher;
  final ShardOwnership ownership;
  final KafkaConsumer<byte[], byte[]> kafka;
  final Producer<byte[], byte[]> dlqProducer;
  final KafkaRegionalSink resendSink;
  final TandemKafkaConsumer<String, byte[]> consumer;

  /** Options of a node. */
  static final class Options {
    Duration leaseTimeout = Duration.ofSeconds(20);
    Duration margin = Duration.ofSeconds(10);
    Duration stuckAfter = Duration.ofSeconds(120);
    Duration claimLease = Duration.ofSeconds(60);
    Duration maxHold = Duration.ofSeconds(60);
    int window = 1000;
    boolean allShards = true;
    int shards = 4;
    TandemRecordHandler<String, byte[]> handler;
    boolean ownership = true;
    int maxAttempts = 5;
    /** The takeover policy; null: AUTOMATIC with the durations above. */
    OwnershipPolicy policy;
    /** Automatic failback after the home region is healthy this long; null: off. */
    Duration failbackAfter;
    /** Wraps the store the poll loop claims in (the ownership keeps the plain gated store). */
    java.util.function.UnaryOperator<IdempotencyStore> consumerStore = s -> s;
    /**
     * Wraps this node's changelog sink into its OWN region (null: the log builds its own publisher);
     * e.g. to hold the own region's changelog acknowledgements.
     */
    java.util.function.UnaryOperator<RegionalSink> ownChangelogSink;
    /** The poll loop's commit timeout (also its barrier wait on revoke). */
    Duration commitTimeout = Duration.ofSeconds(30);
    /** How long the replication log's revoke waits for the own region's acknowledgements. */
    Duration revokeTimeout = Duration.ofSeconds(30);
    /** More OnceProcessor options, applied after the claim lease (and the loop's own settings). */
    Consumer<dev.tandem.consumer.OnceProcessor.Builder> processor = p -> {};
    /** The consumer's handlerTimeout (busy vs stuck); null: the default. */
    Duration handlerTimeout;
    /**
     * The library's defaults for the policy (AUTOMATIC L and margin), revalidateAfter and the
     * consumer's heartbeat interval, instead of the test's shorter settings above.
     */
    boolean libraryDefaults;
  }

  static Properties bytesProducer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    return p;
  }

  RegionNode(TwoRegions regions, RegionId region, String instance, Path dir, String topic,
      String prefix, History history, Consumer<Options> custom) {
    this(regions.a().bootstrapServers(), regions.b().bootstrapServers(), region, instance, dir, topic,
        prefix, history, custom);
  }

  RegionNode(String bootstrapA, String bootstrapB, RegionId region, String instance, Path dir,
      String topic, String prefix, History history, Consumer<Options> custom) {
    Options o = new Options();
    custom.accept(o);
    this.region = region;
    this.instance = instance;
    String own = region.equals(A) ? bootstrapA : bootstrapB;
    String other = region.equals(A) ? bootstrapB : bootstrapA;
    store = IdempotencyStore.builder().region(region).instance(instance)
        .directory(dir.resolve(instance + "-store")).maxAttempts(o.maxAttempts).meterRegistry(meters)
        .build();
    KafkaReplicationLog.Builder lb = KafkaReplicationLog.builder().store(store)
        .region(A, bootstrapA)
        .region(B, bootstrapB);
    if (o.ownChangelogSink != null) {
      DualPublisher.Builder pb = DualPublisher.builder().ackPolicy(AckPolicy.ANY)
          .timeout(Duration.ofSeconds(3)).spoolDirectory(dir.resolve(instance + "-spool"))
          .meterRegistry(meters);
      for (RegionId r : List.of(A, B)) {
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, r.equals(A) ? bootstrapA : bootstrapB);
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "tandem-changelog-" + instance + "-to-" + r);
        RegionalSink sink = KafkaRegionalSink.create(r, pp);
        pb.sink(r.equals(region) ? o.ownChangelogSink.apply(sink) : sink);
      }
      changelogPublisher = pb.build();
      lb.publisher(changelogPublisher);
    } else {
      changelogPublisher = null;
      lb.spoolDirectory(dir.resolve(instance + "-spool")).publishTimeout(Duration.ofSeconds(3));
    }
    lb
        .shards(o.shards)
        .topicPrefix(prefix)
        .heartbeatInterval(Duration.ofMillis(500))
        .catchUpApiTimeout(Duration.ofSeconds(2))
        .revokeTimeout(o.revokeTimeout)
        .meterRegistry(meters);
    if (o.allShards) {
      lb.materializeAllShards();
    }
    log = lb.build();
    ShardOwnership.Builder ob = ShardOwnership.builder().region(region).regions(List.of(A, B))
        .store(log.replicatedStore()).replicationLog(log)
        .window(o.window).catchUpTimeout(Duration.ofSeconds(5)).meterRegistry(meters);
    if (!o.libraryDefaults) {
      ob.policy(o.policy != null ? o.policy
          : OwnershipPolicy.automatic(o.leaseTimeout, o.margin, o.stuckAfter))
          .revalidateAfter(o.leaseTimeout);
    }
    if (o.failbackAfter != null) {
      ob.failbackAfter(o.failbackAfter);
    }
    ownership = !o.ownership ? null : ob.build();
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, own);
    cp.put(ConsumerConfig.GROUP_ID_CONFIG, "tandem-" + topic + "-" + region.name());
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cp.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
    cp.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cp.put(ConsumerConfig.CLIENT_ID_CONFIG, instance);
    cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "200");
    kafka = new KafkaConsumer<>(cp);
    dlqProducer = new KafkaProducer<>(bytesProducer(own));
    Properties op = bytesProducer(other);
    resendSink = KafkaRegionalSink.create(region.equals(A) ? B : A, op);
    TandemRecordHandler<String, byte[]> h = o.handler != null ? o.handler
        : (rec, ctx) -> history.handled(ctx.id(), region.name(), instance, ctx.epoch());
    TandemKafkaConsumer.Builder<String, byte[]> cb =
        TandemKafkaConsumer.builder(topic, new StringDeserializer(), new ByteArrayDeserializer())
        .consumer(kafka)
        .handler(h)
        .store(o.consumerStore.apply(log.replicatedStore()))
        .deadLetterSink(KafkaDeadLetterSink.create(dlqProducer, region))
        .replicationLog(log, !o.allShards);
    if (ownership != null) {
      cb.ownership(ownership);
    }
    if (o.handlerTimeout != null) {
      cb.handlerTimeout(o.handlerTimeout);
    }
    if (!o.libraryDefaults) {
      cb.heartbeatInterval(Duration.ofMillis(500));
    }
    consumer = cb
        .resendSink(region.equals(A) ? B : A, resendSink)
        .maxHold(o.maxHold)
        .commitTimeout(o.commitTimeout)
        .processorOptions(p -> o.processor.accept(p.claimLease(o.claimLease)))
        .meterRegistry(meters)
        .build();
  }

  RegionNode start() {
    consumer.start();
    return this;
  }

  double counter(String name) {
    return meters.find(name).counters().stream().mapToDouble(c -> c.count()).sum();
  }

  /** Stops the poll loop only (the consumers of this region stop; its broker stays up). */
  void stopConsuming() {
    consumer.close();
    kafka.close(Duration.ofSeconds(5));
  }

  @Override
  public void close() {
    try {
      consumer.close();
    } catch (RuntimeException ignored) {
      // already stopped
    }
    try {
      kafka.close(Duration.ofSeconds(5));
    } catch (RuntimeException ignored) {
      // already closed
    }
    resendSink.close();
    dlqProducer.close(Duration.ofSeconds(5));
    log.close();
    if (changelogPublisher != null) {
      changelogPublisher.close();
    }
    store.close();
  }
}
