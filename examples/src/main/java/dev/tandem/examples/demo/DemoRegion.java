package dev.tandem.examples.demo;

import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.consumer.kafka.TandemRecordHandler;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.core.RegionId;
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
 * One region's consumer side in the demo, wired as a user would wire it: a RocksDB store, its Kafka
 * replication log over both regions' changelogs, shard ownership under a policy, a plain
 * {@link KafkaConsumer} and the Tandem poll loop around the user's handler.
 */
final class DemoRegion implements AutoCloseable {

  final RegionId region;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final IdempotencyStore store;
  final KafkaReplicationLog log;
  final ShardOwnership ownership;
  private final KafkaConsumer<byte[], byte[]> kafka;
  private final Producer<byte[], byte[]> dlqProducer;
  private final KafkaRegionalSink resendSink;
  private final TandemKafkaConsumer<String, byte[]> consumer;
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
    this.region = region;
    this.witnessPolicy = policy instanceof WitnessPolicy w ? w : null;
    store = IdempotencyStore.builder().region(region).instance(region.name() + "-1")
        .directory(dir.resolve(region.name() + "-store")).meterRegistry(meters).build();
    log = KafkaReplicationLog.builder().store(store)
        .region(region, ownBootstrap)
        .region(otherId, otherBootstrap)
        .spoolDirectory(dir.resolve(region.name() + "-spool"))
        .publishTimeout(Duration.ofSeconds(3))
        .shards(shards)
        .heartbeatInterval(Duration.ofMillis(500))
        .catchUpApiTimeout(Duration.ofSeconds(2))
        .materializeAllShards()
        .meterRegistry(meters)
        .build();
    ownership = ShardOwnership.builder().region(region)
        .regions(List.of(RegionId.of("region-a"), RegionId.of("region-b")))
        .store(log.replicatedStore()).replicationLog(log)
        .policy(policy).window(100).catchUpTimeout(Duration.ofSeconds(5))
        // an owner silent longer than L re-reads the changelogs before processing again
        .revalidateAfter(TwoRegionDemo.LEASE_TIMEOUT)
        .meterRegistry(meters).build();
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, ownBootstrap);
    cp.put(ConsumerConfig.GROUP_ID_CONFIG, "demo-" + topic);
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cp.put(ConsumerConfig.CLIENT_ID_CONFIG, region.name() + "-1");
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
        .replicationLog(log, false)
        .ownership(ownership)
        .resendSink(otherId, resendSink)
        .maxHold(Duration.ofSeconds(20))
        .heartbeatInterval(Duration.ofMillis(500))
        .processorOptions(p -> p.claimLease(Duration.ofSeconds(30)))
        .meterRegistry(meters)
        .build();
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
    store.close();
    if (witnessPolicy != null) {
      witnessPolicy.close();
      witnessPolicy.witness().close();
    }
  }
}
