package dev.tandem.consumer.kafka;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.store.replication.ReplicatedStore;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One consumer instance of one region for the tests: a {@link TandemRegion} (a real RocksDB store,
 * its Kafka replication log over both regions, shard ownership) and one Kafka consumer made from it,
 * with the test's shorter durations and fault-injection seams.
 */
final class RegionNode implements AutoCloseable {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;

  final RegionId region;
  final String instance;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  /** The region object: it owns and wires everything below. */
  final TandemRegion tandem;
  /** The raw RocksDB store (for the tests' reads; the consumer claims in the replicated view). */
  final IdempotencyStore store;
  final KafkaReplicationLog log;
  final ShardOwnership ownership;
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
    /** The consumer's poll timeout; null: the default. */
    Duration pollTimeout;
    /**
     * The library's defaults for the policy (AUTOMATIC L and margin), revalidateAfter and the
     * consumer's heartbeat interval, instead of the test's shorter settings above.
     */
    boolean libraryDefaults;
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
    Map<String, String> bootstrap = new LinkedHashMap<>();
    bootstrap.put(A.name(), bootstrapA);
    bootstrap.put(B.name(), bootstrapB);
    // the wiring is TandemRegion's (issue 16); the node only sets the keys its options name
    TandemRegion.Builder rb = TandemRegion.builder()
        .regions(bootstrap)
        .localRegion(region.name())
        .stateDir(dir.resolve(instance + "-state"))
        .instance(instance)
        .shards(o.shards)
        .window(o.window)
        .claimLease(o.claimLease)
        .config(TandemRegionConfig.MAX_ATTEMPTS_CONFIG, o.maxAttempts)
        .config(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG, prefix)
        .config(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG, 3_000L)
        .config(TandemRegionConfig.CATCH_UP_TIMEOUT_MS_CONFIG, 5_000L)
        .config(TandemRegionConfig.MAX_HOLD_MS_CONFIG, o.maxHold.toMillis())
        .config(TandemRegionConfig.COMMIT_TIMEOUT_MS_CONFIG, o.commitTimeout.toMillis())
        // the consumer's revoke bound; the log's own revoke wait is half of it
        .config(TandemRegionConfig.REVOKE_TIMEOUT_MS_CONFIG, o.revokeTimeout.multipliedBy(2).toMillis())
        .groupId("tandem-" + topic + "-" + region.name())
        .config(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
        .config(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000")
        .config(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000")
        .config(ConsumerConfig.CLIENT_ID_CONFIG, instance)
        .config(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "200")
        .meterRegistry(meters);
    if (o.handlerTimeout != null) {
      rb.handlerTimeout(o.handlerTimeout);
    }
    if (!o.libraryDefaults) {
      rb.heartbeatInterval(Duration.ofMillis(500))
          .automatic(o.leaseTimeout, o.margin)
          .config(TandemRegionConfig.STUCK_AFTER_MS_CONFIG, o.stuckAfter.toMillis());
      if (o.policy instanceof WitnessPolicy w) {
        rb.witness(w);
      } else if (o.policy == OwnershipPolicy.manual()) {
        rb.manual();
      } else if (o.policy != null) {
        throw new IllegalArgumentException("RegionNode takes AUTOMATIC by its durations, MANUAL or "
            + "a WitnessPolicy, not " + o.policy);
      }
    }
    if (!o.ownership) {
      rb.detectOnly();
    }
    if (!o.allShards) {
      rb.assignedShardsOnly(true);
    }
    if (o.failbackAfter != null) {
      rb.failbackAfter(o.failbackAfter);
    }
    if (o.ownChangelogSink != null) {
      rb.changelogSinks((r, sink) -> r.equals(region) ? o.ownChangelogSink.apply(sink) : sink);
    }
    tandem = rb.build();
    log = tandem.replicationLog();
    store = ((ReplicatedStore) tandem.store()).unwrap();
    ownership = tandem.ownership();
    TandemRecordHandler<String, byte[]> h = o.handler != null ? o.handler
        : (rec, ctx) -> history.handled(ctx.id(), region.name(), instance, ctx.epoch());
    consumer = tandem.kafkaConsumer(topic, new StringDeserializer(), new ByteArrayDeserializer(), h,
        Map.of(), cb -> {
          // fault injection only: a wrapped view of the region's replicated store
          IdempotencyStore wrapped = o.consumerStore.apply(tandem.store());
          if (wrapped != tandem.store()) {
            cb.store(wrapped);
          }
          cb.processorOptions(p -> o.processor.accept(p.claimLease(o.claimLease)));
          if (o.pollTimeout != null) {
            cb.pollTimeout(o.pollTimeout);
          }
        });
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
    consumer.close(); // then the region closes its Kafka consumer (the group reassigns at once)
  }

  @Override
  public void close() {
    tandem.close();
  }
}
