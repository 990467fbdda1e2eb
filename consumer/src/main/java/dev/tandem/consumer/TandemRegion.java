package dev.tandem.consumer;

import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.consumer.kafka.TandemRecordHandler;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.consumer.witness.KafkaTopicWitness;
import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.RegionAuthenticationException;
import dev.tandem.store.replication.KafkaReplicationLog;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One region's Tandem machinery in one process — the entry point of the consumer side. It owns the
 * RocksDB store, its replication log over every region's changelog, the replicated (gated) view of
 * the store, shard ownership with its takeover policy, the dead-letter and re-send sinks and the
 * meter registry, wires them the one correct way, and closes them in order. Consumers are made from
 * it; any number of them (several topics, several consumers) share its one store and ownership.
 *
 * <pre>{@code
 * Properties props = new Properties();
 * try (InputStream in = Files.newInputStream(Path.of("tandem-region.properties"))) {
 *   props.load(in);
 * }
 * TandemRegion region = TandemRegion.create(props);
 * region.kafkaConsumer("orders", new StringDeserializer(), new StringDeserializer(),
 *     (record, ctx) -> orders.apply(record.value())).start();
 * Runtime.getRuntime().addShutdownHook(new Thread(region::close));
 * }</pre>
 *
 * <p>The configuration is one key table, {@link TandemRegionConfig} (from {@code Properties}, a
 * {@code Map}, or {@link #builder()} whose methods set the same keys): every mistake fails here,
 * before anything is opened, with a {@code ConfigException} naming the key. Rules a hand-wired region
 * had to re-apply are this object's job:
 *
 * <ul>
 *   <li>consumers claim in {@link #store()}, the replicated view ({@link
 *       KafkaReplicationLog#replicatedStore()}), never the raw RocksDB store;
 *   <li>{@code tandem.store.shards=all} materialises every shard in the log and tells each consumer
 *       not to hand its assignments to the log ({@code replicationLog(log, false)}); {@code
 *       assigned} the opposite — the two never disagree;
 *   <li>the ownership's {@code revalidateAfter} is derived from the policy in use: AUTOMATIC's L
 *       ({@code tandem.lease.timeout.ms}), WITNESS's witness lease (the shorter of it and L);
 *   <li>one heartbeat interval ({@code tandem.heartbeat.interval.ms}) for the consumers' lease
 *       renewals and the replica's heartbeats;
 *   <li>one region list ({@code tandem.regions}) for the log, the ownership and the re-send sinks;
 *   <li>with {@code tandem.guarantee=full} (the default) every consumer has ownership and the
 *       replication log; without them it is refused, unless {@code tandem.guarantee=detect-only}
 *       is asked for by name (then both regions process what they receive, and a duplicate across
 *       regions is only detected and counted);
 *   <li>the changelog's replication factor defaults to the broker's ({@code -1}); the instance id
 *       defaults to one persisted in {@code <tandem.state.dir>/instance.id}; metrics go to the
 *       registry given ({@link Builder#meterRegistry}), else Micrometer's {@link
 *       Metrics#globalRegistry}.
 * </ul>
 *
 * <p><b>Shards across topics.</b> Partition n of every topic consumed through one region object is
 * shard n, under one lease: a region owns shard n for all its topics at once, and the lease is
 * renewed while any of its consumers runs. Every consumed topic must have {@code tandem.shards}
 * partitions (the publisher gives partition n the same number in both regions).
 *
 * <p><b>Azure.</b> {@code tandem-azure} builds its Service Bus processor and Functions integration
 * from the same object: {@link #processorBuilder(DeadLetterSink)} (an {@link OnceProcessor} builder
 * claiming in the replicated store, fenced by the ownership, with claims made durable in the own
 * changelog before handlers run), {@link #ownership()}, {@link #replicationLog()}, {@link
 * #shardCount()}, {@link #meterRegistry()}.
 *
 * <p><b>Close</b> ({@link #close()}): the consumers (their poll loops, then their Kafka consumers), the
 * processors made here, the WITNESS renewals, the re-send and dead-letter producers, the replication
 * log (it writes pending hand-off markers), the changelog publisher, the store, the witness.
 *
 * <p>Thread-safe.
 */
public final class TandemRegion implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(TandemRegion.class);

  /** File in the state directory holding this directory's instance id. */
  static final String INSTANCE_FILE = "instance.id";
  /** How long a batch waits for its claims to be in the own changelog (the poll loop's value). */
  static final Duration CLAIMS_DURABLE_TIMEOUT = Duration.ofSeconds(5);
  /** How long close() waits for a consumer's loop (its own close waits up to 60 s + 10 s). */
  static final Duration CONSUMER_STOP_WAIT = Duration.ofSeconds(75);

  private final TandemRegionConfig config;
  private final RegionId region;
  private final String instance;
  private final MeterRegistry meters;
  private final IdempotencyStore rawStore;
  private final DualPublisher changelogPublisher;
  private final KafkaReplicationLog log_;
  /** The one gated view every consumer, processor and the ownership use. */
  private final IdempotencyStore replicated;
  private final ShardOwnership ownership;
  private final WitnessPolicy witnessPolicy;
  /** The owning side of remote ownership requests, made on first use (null until then). */
  private dev.tandem.consumer.ownership.OwnershipRequests ownershipRequests;
  private final TakeoverWitness witness;
  private final EnvelopeSigner envelopeVerifier;
  /** A consumer made here and how to close its Kafka consumer. */
  private record Made(TandemKafkaConsumer<?, ?> consumer, Runnable closeKafka) {}

  private final List<Made> consumersToClose = new CopyOnWriteArrayList<>();
  private final List<OnceProcessor> processors = new CopyOnWriteArrayList<>();
  private Producer<byte[], byte[]> dlqProducer;
  private KafkaDeadLetterSink kafkaDeadLetters;
  private final Map<RegionId, KafkaRegionalSink> resendSinks = new LinkedHashMap<>();
  private int consumerCount;
  private volatile boolean closed;
  /** {@code <state.dir>/.lock}, held from the first step of the build until close. */
  private final StateDirLock stateLock;
  private final io.micrometer.core.instrument.Gauge openGauge;
  /** W and the shard count, for the lag alert's "W's time" (ops/prometheus); removed by close(). */
  private final List<io.micrometer.core.instrument.Gauge> windowGauges;

  private TandemRegion(Builder b, TandemRegionConfig c) {
    this.config = c;
    this.region = c.region();
    this.meters = b.meters != null ? b.meters : Metrics.globalRegistry;
    this.envelopeVerifier = b.envelopeVerifier;
    Path stateDir = Path.of(c.getString(TandemRegionConfig.STATE_DIR_CONFIG));
    // the directory lock first, held for the region's life: one process per state directory, before
    // its instance id is read or created and before RocksDB opens
    this.stateLock = lockStateDir(stateDir);
    List<AutoCloseable> opened = new ArrayList<>();
    opened.add(stateLock);
    try {
      this.instance = c.getString(TandemRegionConfig.INSTANCE_CONFIG) != null
          ? c.getString(TandemRegionConfig.INSTANCE_CONFIG).trim()
          : instanceIdOf(stateDir);
      rawStore = IdempotencyStore.builder().region(region).instance(instance)
          .directory(stateDir.resolve("store"))
          .ttl(c.duration(TandemRegionConfig.RECORD_TTL_MS_CONFIG))
          .maxAttempts(c.getInt(TandemRegionConfig.MAX_ATTEMPTS_CONFIG))
          .sync(c.getBoolean(TandemRegionConfig.STORE_SYNC_CONFIG))
          .meterRegistry(meters)
          .build();
      opened.add(rawStore);
      DualPublisher.Builder pb = DualPublisher.builder()
          .name("changelog-" + region.name() + "-" + instance)
          .ackPolicy(AckPolicy.ANY) // the copies of a region that is down wait in the spool
          .timeout(c.duration(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG))
          .spoolDirectory(stateDir.resolve("changelog-spool"))
          .meterRegistry(meters);
      if (b.changelogSigner != null) {
        pb.signer(b.changelogSigner);
      }
      List<AutoCloseable> sinks = new ArrayList<>();
      for (RegionId r : c.regions()) {
        KafkaRegionalSink sink = KafkaRegionalSink.create(r, changelogProducer(r));
        // each sink owns a running producer: closed if a later region or the publisher fails
        opened.add(sink);
        sinks.add(sink);
        RegionalSink given = b.changelogSinks != null ? b.changelogSinks.apply(r, sink) : sink;
        if (given != sink) {
          opened.add(given);
          sinks.add(given);
        }
        pb.sink(given);
      }
      changelogPublisher = pb.build();
      // the publisher closes its sinks from here on
      opened.removeAll(sinks);
      opened.add(changelogPublisher);
      KafkaReplicationLog.Builder lb = KafkaReplicationLog.builder().store(rawStore)
          .publisher(changelogPublisher)
          .shards(c.getInt(TandemRegionConfig.SHARDS_CONFIG))
          .topicPrefix(c.getString(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG))
          .retention(c.changelogRetention())
          .replicationFactor(c.getShort(TandemRegionConfig.CHANGELOG_REPLICATION_FACTOR_CONFIG))
          // one heartbeat interval: the replica's heartbeats and the owners' lease renewals
          .heartbeatInterval(c.duration(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG))
          // the log's own revoke runs inside the consumer's revoke callback, after the consumer's
          // barrier wait (at most half of its bound): half of the consumer's bound is left for it
          .revokeTimeout(c.duration(TandemRegionConfig.REVOKE_TIMEOUT_MS_CONFIG).dividedBy(2))
          .meterRegistry(meters);
      for (RegionId r : c.regions()) {
        lb.region(r, c.regionClientProperties(r));
      }
      if (b.changelogSigner != null) {
        lb.authenticate(b.changelogSigner);
      }
      if (c.allShards()) {
        lb.materializeAllShards();
      }
      if (b.logOptions != null) {
        b.logOptions.accept(lb);
      }
      log_ = lb.build();
      opened.add(log_);
      replicated = log_.replicatedStore();
      if (c.detectOnly()) {
        ownership = null;
        witnessPolicy = null;
        witness = b.witness;
        log.warn("Tandem region {} ({}) runs with tandem.guarantee=detect-only: no shard ownership; "
            + "a message both regions receive may run in both, each such duplicate is detected and "
            + "counted (tandem.store.detected.duplicates), not prevented", region, instance);
      } else {
        OwnershipPolicy policy;
        switch (c.policyName()) {
          case "witness" -> {
            witness = b.witness != null ? b.witness : kafkaWitness(c);
            opened.add(witness);
            witnessPolicy = b.witnessPolicy != null ? b.witnessPolicy
                : WitnessPolicy.builder(witness).build();
            // its renewer thread runs from construction: stopped if the ownership fails to build
            opened.add(witnessPolicy);
            policy = witnessPolicy;
          }
          case "manual" -> {
            witness = b.witness;
            witnessPolicy = null;
            policy = OwnershipPolicy.manual();
          }
          default -> {
            witness = b.witness;
            witnessPolicy = null;
            policy = OwnershipPolicy.automatic(
                c.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG),
                c.duration(TandemRegionConfig.TAKEOVER_MARGIN_MS_CONFIG),
                c.duration(TandemRegionConfig.STUCK_AFTER_MS_CONFIG));
          }
        }
        ShardOwnership.Builder ob = ShardOwnership.builder().region(region).regions(c.regions())
            // the leases live in the replicated view, never in the raw store
            .store(replicated).replicationLog(log_)
            .policy(policy)
            .window(c.getInt(TandemRegionConfig.WINDOW_CONFIG))
            .catchUpTimeout(c.duration(TandemRegionConfig.CATCH_UP_TIMEOUT_MS_CONFIG))
            // an owner silent for as long as the policy in use lets the peer take over re-reads
            // the changelogs before it processes again: derived, never set apart from the policy
            .revalidateAfter(revalidateAfter(policy, c))
            .meterRegistry(meters);
        Duration failback = c.duration(TandemRegionConfig.FAILBACK_AFTER_MS_CONFIG);
        if (failback != null) {
          ob.failbackAfter(failback);
        }
        ownership = ob.build();
      }
    } catch (RuntimeException | Error e) {
      for (int i = opened.size() - 1; i >= 0; i--) {
        closeQuietly(opened.get(i));
      }
      if (e instanceof RegionAuthenticationException refused) {
        throw authenticationRefused(refused);
      }
      throw e;
    }
    // what this process promises, where an operator looks: 1 while open, tagged with the guarantee
    // (an alert on guarantee=detect-only finds a region that only detects duplicates); removed by
    // close() so a closed region's series ends
    this.openGauge = io.micrometer.core.instrument.Gauge.builder("tandem.region.open", this, r -> r.closed ? 0 : 1)
        .tag("region", region.name())
        .tag("instance", instance)
        .tag("guarantee", c.detectOnly() ? "detect-only" : "full")
        .tag("policy", ownership == null ? "none" : c.policyName())
        .description("1 while this Tandem region object is open; its tags say the guarantee and the "
            + "takeover policy it runs with")
        .register(meters);
    // the alert on replication lag compares it with W's time: W x shards / this region's
    // changelog records per second (ops/prometheus/tandem-alerts.yml, TandemReplicationLagHigh)
    int window = c.getInt(TandemRegionConfig.WINDOW_CONFIG);
    int shardsHere = shardCount();
    this.windowGauges = List.of(
        io.micrometer.core.instrument.Gauge.builder(ConsumerMeterNames.REGION_REPLICATION_WINDOW,
                () -> window)
            .tag("region", region.name()).tag("instance", instance)
            .description("the replication window W (tandem.replication.window): changes an owner "
                + "may run ahead of the peer per shard")
            .register(meters),
        io.micrometer.core.instrument.Gauge.builder(ConsumerMeterNames.REGION_SHARDS,
                () -> shardsHere)
            .tag("region", region.name()).tag("instance", instance)
            .description("the number of shards (tandem.shards)")
            .register(meters));
    log.info("Tandem region {} instance {} opened: regions {}, {} shards, guarantee {}, policy {}, "
        + "state {}", region, instance, c.regions(), shardCount(),
        c.detectOnly() ? "detect-only" : "full", ownership == null ? "none" : c.policyName(),
        stateDir);
  }

  /**
   * The WITNESS policy's Kafka witness from the keys: {@code tandem.witness.topic}, {@code
   * tandem.witness.lease.ms}, and every {@code tandem.witness.<kafka key>} as a client setting of its
   * producer and consumer ({@code bootstrap.servers}, {@code security.protocol}, {@code sasl.*},
   * {@code ssl.*}: a witness cluster behind SASL/TLS is reached like a region's).
   */
  private static KafkaTopicWitness kafkaWitness(TandemRegionConfig c) {
    KafkaTopicWitness.Builder wb = KafkaTopicWitness.builder()
        .bootstrapServers(c.getString(TandemRegionConfig.WITNESS_BOOTSTRAP_CONFIG))
        .topic(c.getString(TandemRegionConfig.WITNESS_TOPIC_CONFIG))
        .lease(c.duration(TandemRegionConfig.WITNESS_LEASE_MS_CONFIG));
    c.witnessClientProperties().forEach((k, v) -> wb.clientProperty(k.toString(), v.toString()));
    return wb.build();
  }

  /**
   * A region's cluster refused this process's credentials or TLS handshake while the region was
   * built: a configuration mistake, reported as one, naming the keys to check (never their values:
   * {@code sasl.jaas.config} holds the password). The replication log counted it ({@code
   * tandem.region.authentication.failures}) and logged it.
   */
  private static ConfigException authenticationRefused(RegionAuthenticationException e) {
    String prefix = TandemRegionConfig.REGION_PREFIX + e.region().name() + ".";
    String keys = e.tls()
        ? prefix + "ssl.truststore.location (and the other " + prefix + "ssl.* settings)"
        : prefix + "sasl.jaas.config (and " + prefix + "sasl.mechanism, " + prefix
            + "security.protocol)";
    ConfigException c = new ConfigException("region " + e.region().name() + " refused this "
        + "process's " + (e.tls() ? "TLS handshake" : "SASL authentication") + ": check " + keys
        + ". The cluster answered: " + e.getCause().getMessage());
    c.initCause(e);
    return c;
  }

  /**
   * A region from a configuration (a {@code Properties} or a map of key to value; see {@link
   * TandemRegionConfig}). Opens the store, the replication log and the ownership.
   *
   * @throws ConfigException naming the key, for any mistake in {@code config}
   */
  public static TandemRegion create(Map<?, ?> config) {
    return builder().configs(config).build();
  }

  /** A builder whose methods set the keys of {@link TandemRegionConfig} (and a few objects). */
  public static Builder builder() {
    return new Builder();
  }

  /** Instance name prefix of an {@link #adminView} replica (never a consumer's). */
  public static final String ADMIN_INSTANCE_PREFIX = "tandem-admin-";

  /**
   * An operator's replica of the ownership and the store (the {@code tandem} command), opened from
   * a region's own configuration ({@code config}: the same keys as the region's consumers) with
   * everything that could disturb the running region replaced:
   *
   * <ul>
   *   <li>its state is {@code dir} (the caller's own, e.g. a temporary directory), never the
   *       region's {@code tandem.state.dir}: no lock of the region's directory is taken;
   *   <li>instance {@value #ADMIN_INSTANCE_PREFIX}{@code <random>}, policy {@code manual} (it never
   *       takes a shard over by itself), every shard materialised, guarantee {@code full} (so the
   *       ownership can be read even of a {@code detect-only} file);
   *   <li>no replica heartbeats (they would make {@code tandem.region}'s replicas look alive to the
   *       peer) and no changelog topic creation.
   * </ul>
   *
   * <p>It writes nothing until the caller writes (a {@link ShardOwnership#move} or a {@code
   * redrive}: through the changelogs, as a member of {@code tandem.region} — set that key to the
   * region to act as). The caller waits for the restore ({@code
   * replicationLog().awaitRestored}) before reading, and closes it.
   *
   * @throws ConfigException naming the key, for any mistake in {@code config}
   */
  public static TandemRegion adminView(Map<?, ?> config, Path dir) {
    Map<String, Object> keys = new LinkedHashMap<>();
    config.forEach((k, v) -> keys.put(String.valueOf(k), v));
    byte[] random = new byte[4];
    new SecureRandom().nextBytes(random);
    keys.put(TandemRegionConfig.STATE_DIR_CONFIG, dir.toString());
    keys.put(TandemRegionConfig.INSTANCE_CONFIG,
        ADMIN_INSTANCE_PREFIX + HexFormat.of().formatHex(random));
    keys.put(TandemRegionConfig.OWNERSHIP_POLICY_CONFIG, "manual");
    keys.put(TandemRegionConfig.GUARANTEE_CONFIG, TandemRegionConfig.GUARANTEE_FULL);
    keys.put(TandemRegionConfig.STORE_SHARDS_CONFIG, "all");
    return builder().configs(keys)
        .replicationLogOptions(lb -> lb.heartbeatInterval(Duration.ZERO).createTopics(false))
        .build();
  }

  /** Loads a properties file (a convenience for {@link #create}). */
  public static Properties load(Path propertiesFile) {
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(propertiesFile)) {
      p.load(in);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + propertiesFile, e);
    }
    return p;
  }

  /**
   * A Kafka consumer of {@code topic} with the full guarantee (or detect-only, as configured), not
   * yet started: a {@link KafkaConsumer} from the non-{@code tandem.*} keys plus the own region's
   * client settings (bytes in, auto commit off, {@code group.id} required), claiming in this
   * region's replicated store, fenced by its ownership, dead letters to {@code <topic>.tandem-dlq}
   * in the own region, held copies re-sent to the other regions' {@code topic}. Closing it stops its
   * loop and then its Kafka consumer (leaving the group); {@link #close()} closes it too.
   *
   * @throws ConfigException when {@code group.id} is missing
   */
  public <K, V> TandemKafkaConsumer<K, V> kafkaConsumer(String topic, Deserializer<K> keyDeserializer,
      Deserializer<V> valueDeserializer, TandemRecordHandler<K, V> handler) {
    return kafkaConsumer(topic, keyDeserializer, valueDeserializer, handler, Map.of(), b -> {});
  }

  /**
   * One consumer per topic of {@code topics} (see {@link #kafkaConsumer(String, Deserializer,
   * Deserializer, TandemRecordHandler)}), not yet started; all share this region's store and
   * ownership.
   */
  public <K, V> List<TandemKafkaConsumer<K, V>> kafkaConsumer(Collection<String> topics,
      Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer,
      TandemRecordHandler<K, V> handler) {
    List<TandemKafkaConsumer<K, V>> out = new ArrayList<>();
    try {
      for (String t : topics) {
        out.add(kafkaConsumer(t, keyDeserializer, valueDeserializer, handler));
      }
    } catch (RuntimeException e) {
      // all or none: the consumers built for the earlier topics are closed and forgotten
      for (TandemKafkaConsumer<K, V> c : out) {
        discard(c);
      }
      throw e;
    }
    return out;
  }

  /**
   * As {@link #kafkaConsumer(String, Deserializer, Deserializer, TandemRecordHandler)}, with Kafka
   * consumer settings for this consumer only ({@code kafkaOverrides}, over the configuration's) and
   * {@code options} applied to the {@link TandemKafkaConsumer.Builder} after the region's wiring
   * (timeouts, processor options; replacing the store, ownership or replication log given here
   * gives the guarantee up — for tests that inject faults).
   */
  public synchronized <K, V> TandemKafkaConsumer<K, V> kafkaConsumer(String topic,
      Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer,
      TandemRecordHandler<K, V> handler, Map<String, ?> kafkaOverrides,
      Consumer<TandemKafkaConsumer.Builder<K, V>> options) {
    checkOpen();
    if (!config.allShards() && consumerCount > 0) {
      throw new ConfigException(TandemRegionConfig.STORE_SHARDS_CONFIG, "assigned",
          "a region object with tandem.store.shards=assigned serves one Kafka consumer (its "
              + "assignments decide which shards the replica holds); use tandem.store.shards=all "
              + "for several consumers or topics");
    }
    Properties cp = new Properties();
    cp.putAll(config.nonTandemOriginals());
    cp.putAll(config.regionClientProperties(region));
    cp.putAll(kafkaOverrides);
    Object group = cp.get(ConsumerConfig.GROUP_ID_CONFIG);
    if (group == null || group.toString().isBlank()) {
      throw new ConfigException(ConsumerConfig.GROUP_ID_CONFIG, group,
          "a Tandem Kafka consumer needs a consumer group (group.id)");
    }
    Object autoCommit = cp.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG);
    if (autoCommit != null && Boolean.parseBoolean(autoCommit.toString().trim())) {
      throw new ConfigException(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, autoCommit,
          "Tandem commits an offset only after its completion is in the changelog; remove it");
    }
    // this consumer's own max.poll.interval.ms (an override) against the revoke bound too
    config.checkRevokeBelowMaxPoll(cp);
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    Object autoCreate = cp.get(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG);
    if (autoCreate != null && Boolean.parseBoolean(autoCreate.toString().trim())) {
      throw new ConfigException(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, autoCreate,
          "a topic created by a consumer gets the broker's partition count, not "
              + TandemRegionConfig.SHARDS_CONFIG + "; create the topic with that many partitions");
    }
    // a consumed topic that does not exist is waited for, never created with the broker's count
    cp.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    int n = consumerCount + 1; // counted once built
    cp.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, instance + "-" + topic + "-" + n);
    checkPartitions(topic);
    KafkaConsumer<byte[], byte[]> kafka = new KafkaConsumer<>(cp);
    try {
      TandemKafkaConsumer.Builder<K, V> cb =
          TandemKafkaConsumer.builder(topic, keyDeserializer, valueDeserializer)
              .consumer(kafka)
              .handler(handler)
              .store(replicated)
              .deadLetterSink(kafkaDeadLetters())
              // all shards materialised <=> the consumer does not hand its assignments to the log
              .replicationLog(log_, !config.allShards())
              .heartbeatInterval(config.duration(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG))
              .handlerTimeout(config.duration(TandemRegionConfig.HANDLER_TIMEOUT_MS_CONFIG))
              .maxHold(config.duration(TandemRegionConfig.MAX_HOLD_MS_CONFIG))
              .commitTimeout(config.duration(TandemRegionConfig.COMMIT_TIMEOUT_MS_CONFIG))
              .revokeTimeout(config.duration(TandemRegionConfig.REVOKE_TIMEOUT_MS_CONFIG))
              .handoffTimeout(config.duration(TandemRegionConfig.HANDOFF_TIMEOUT_MS_CONFIG))
              .processorOptions(this::processorDefaults)
              .meterRegistry(meters);
      if (ownership != null) {
        cb.ownership(ownership);
        // the loop that runs a shard's work is the one that acts on evacuate/return requests
        cb.ownershipRequests(ownershipRequests());
      }
      for (Map.Entry<RegionId, KafkaRegionalSink> e : resendSinks().entrySet()) {
        cb.resendSink(e.getKey(), e.getValue());
      }
      options.accept(cb);
      TandemKafkaConsumer<K, V> c = cb.build();
      consumerCount = n;
      java.util.concurrent.atomic.AtomicBoolean kafkaClosed =
          new java.util.concurrent.atomic.AtomicBoolean();
      Runnable closeKafka = () -> {
        if (kafkaClosed.compareAndSet(false, true)) {
          closeQuietly(() -> kafka.close(Duration.ofSeconds(5)));
        }
      };
      // the Kafka consumer is this region's: closed once its loop has stopped normally (on the loop's
      // own thread, after its last commit; the group then reassigns its partitions at once), or by
      // the region's close
      c.stopped().thenRun(closeKafka);
      consumersToClose.add(new Made(c, closeKafka));
      return c;
    } catch (RuntimeException e) {
      kafka.close(Duration.ZERO);
      throw e;
    }
  }

  /**
   * Partition n is shard n: a topic with more partitions than {@code tandem.shards} would make
   * records of shards that exist in no changelog and no lease. Refused here, naming the key; a topic
   * whose metadata does not come within 5 s is only logged (it may not exist yet).
   */
  private void checkPartitions(String topic) {
    // Admin, not the consumer's partitionsFor: a metadata request of a consumer may auto-create a
    // topic that does not exist yet (allow.auto.create.topics), with the broker's partition count
    int partitions;
    Properties ap = config.regionClientProperties(region);
    ap.putIfAbsent(org.apache.kafka.clients.admin.AdminClientConfig.CLIENT_ID_CONFIG,
        "tandem-check-" + region + "-" + instance);
    org.apache.kafka.clients.admin.Admin admin = null;
    try {
      admin = org.apache.kafka.clients.admin.Admin.create(ap);
      partitions = admin.describeTopics(List.of(topic)).allTopicNames()
          .get(5, java.util.concurrent.TimeUnit.SECONDS).get(topic).partitions().size();
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException) {
        // allow.auto.create.topics=false: the consumer waits for the topic, it never creates it
        log.warn("Tandem region {}: topic {} does not exist; its consumer gets no partitions until "
            + "it is created (with at most {}={} partitions)", region, topic,
            TandemRegionConfig.SHARDS_CONFIG, shardCount());
      } else {
        log.warn("Tandem region {}: the partitions of {} could not be read ({}); each must be a "
            + "shard below {}={}", region, topic, e.getCause().toString(),
            TandemRegionConfig.SHARDS_CONFIG, shardCount());
      }
      return;
    } catch (java.util.concurrent.TimeoutException | RuntimeException e) {
      log.warn("Tandem region {}: the partitions of {} could not be read ({}); each must be a shard "
          + "below {}={}", region, topic, e.toString(), TandemRegionConfig.SHARDS_CONFIG, shardCount());
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    } finally {
      if (admin != null) {
        admin.close(Duration.ofSeconds(1)); // never wait out a call to a broker that is down
      }
    }
    if (partitions > shardCount()) {
      throw new ConfigException(TandemRegionConfig.SHARDS_CONFIG, shardCount(), "topic " + topic
          + " has " + partitions + " partitions; partition n is shard n, so a topic consumed "
          + "through this region has at most " + TandemRegionConfig.SHARDS_CONFIG + " partitions");
    }
  }

  /**
   * An {@link OnceProcessor} builder wired to this region, for transports other than the Kafka poll
   * loop (Service Bus, Azure Functions): it claims in the replicated store, is fenced by the
   * ownership (open under detect-only), makes each batch's claims durable in the own changelog
   * before its handlers run, and carries the configured claim lease and STALE margin. Processors
   * built from it are closed by {@link #close()} if registered with {@link #register(OnceProcessor)}.
   */
  public OnceProcessor.Builder processorBuilder(DeadLetterSink deadLetterSink) {
    checkOpen();
    OnceProcessor.Builder pb = OnceProcessor.builder().store(replicated)
        .deadLetterSink(Objects.requireNonNull(deadLetterSink, "deadLetterSink"))
        .meterRegistry(meters)
        .fence(ownership != null ? ownership.fence() : ShardFence.OPEN)
        .claimsDurable(shard -> log_.barrier(shard, region), CLAIMS_DURABLE_TIMEOUT);
    processorDefaults(pb);
    return pb;
  }

  /**
   * Closes {@code processor} with this region, before the store (returns it).
   *
   * @throws IllegalStateException when this region is closed (the processor's store is)
   */
  public synchronized OnceProcessor register(OnceProcessor processor) {
    Objects.requireNonNull(processor, "processor");
    checkOpen();
    processors.add(processor);
    return processor;
  }

  /** Closes a consumer made here that is not handed out, and forgets it. */
  private synchronized void discard(TandemKafkaConsumer<?, ?> c) {
    for (Made m : consumersToClose) {
      if (m.consumer() == c) {
        consumersToClose.remove(m);
        closeQuietly(m.consumer());
        m.closeKafka().run();
        consumerCount--;
      }
    }
  }

  private void processorDefaults(OnceProcessor.Builder p) {
    p.claimLease(config.duration(TandemRegionConfig.CLAIM_LEASE_MS_CONFIG))
        .staleMargin(config.staleMargin());
    if (envelopeVerifier != null) {
      p.requireSignatures(envelopeVerifier);
    }
  }

  /** This process's region. */
  public RegionId region() {
    return region;
  }

  /** Every region, this one included. */
  public List<RegionId> regions() {
    return config.regions();
  }

  /** This instance's name (as configured, or persisted in the state directory). */
  public String instance() {
    return instance;
  }

  /** The validated configuration. */
  public TandemRegionConfig config() {
    return config;
  }

  /** The replicated (gated) store: a shard is served only once restored. Claim here, never raw. */
  public IdempotencyStore store() {
    return replicated;
  }

  /** The replication log. */
  public KafkaReplicationLog replicationLog() {
    return log_;
  }

  /** The shard ownership; null under {@code tandem.guarantee=detect-only}. */
  public ShardOwnership ownership() {
    return ownership;
  }

  /**
   * The owning side of remote ownership requests ({@link
   * dev.tandem.consumer.ownership.OwnershipAdmin}: evacuate, return, move), made on first use: it
   * reads this region's request topic ({@code <tandem.changelog.topic.prefix>.ownership} in the own
   * cluster). The Kafka consumers made here call it from their poll loops; a Functions, Service Bus
   * or Spring integration calls {@link dev.tandem.consumer.ownership.OwnershipRequests#act} from its
   * heartbeat tick with the shards it serves. Closed by {@link #close()}.
   *
   * @throws IllegalStateException under {@code tandem.guarantee=detect-only} (no ownership)
   */
  public synchronized dev.tandem.consumer.ownership.OwnershipRequests ownershipRequests() {
    checkOpen();
    if (ownership == null) {
      throw new IllegalStateException("no shard ownership under " + TandemRegionConfig.GUARANTEE_CONFIG
          + "=detect-only: nothing to hand over");
    }
    if (ownershipRequests == null) {
      String topic = dev.tandem.consumer.ownership.KafkaOwnershipChannel.topicFor(
          config.getString(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG));
      ownershipRequests = new dev.tandem.consumer.ownership.OwnershipRequests(ownership,
          new dev.tandem.consumer.ownership.KafkaOwnershipChannel(
              config.regionClientProperties(region), topic, "tandem-" + region + "-" + instance),
          instance, dev.tandem.core.TandemClock.system(), meters);
    }
    return ownershipRequests;
  }

  /** The number of shards. */
  public int shardCount() {
    return config.getInt(TandemRegionConfig.SHARDS_CONFIG);
  }

  /** The heartbeat interval of lease renewals (for a transport's timer, e.g. Functions). */
  public Duration heartbeatInterval() {
    return config.duration(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG);
  }

  /** Where this region's meters go. */
  public MeterRegistry meterRegistry() {
    return meters;
  }

  /** The Kafka client settings of region {@code r} ({@code tandem.region.<r>.*}). */
  public Properties regionClientProperties(RegionId r) {
    return config.regionClientProperties(r);
  }

  /**
   * The sink a follower re-sends a held copy through to the topic of region {@code owner} after
   * {@code tandem.max.hold.ms} (the one the region's {@code TandemKafkaConsumer}s use; made on first
   * use, closed with the region). For consumers other than the region's own, such as Spring's
   * listener containers.
   *
   * @throws IllegalArgumentException when {@code owner} is this region or not one of the regions
   */
  public RegionalSink resendSink(RegionId owner) {
    checkOpen();
    RegionalSink s = resendSinks().get(Objects.requireNonNull(owner, "owner"));
    if (s == null) {
      throw new IllegalArgumentException("no re-send sink to " + owner + ": not another region of "
          + config.regions());
    }
    return s;
  }

  /** The Kafka dead-letter sink of this region ({@code <topic>.tandem-dlq} in the own cluster). */
  public synchronized KafkaDeadLetterSink kafkaDeadLetters() {
    checkOpen();
    if (kafkaDeadLetters == null) {
      kafkaDeadLetters = KafkaDeadLetterSink.create(dlqProducer(), region);
    }
    return kafkaDeadLetters;
  }

  /**
   * A Kafka dead-letter sink of this region for messages that do not come from a Kafka record (a
   * Service Bus or HTTP trigger of a function app): they go to {@code topic} in the own cluster
   * (which must exist); dead letters of Kafka records still go to {@code <their topic>.tandem-dlq}.
   * It shares the region's dead-letter producer, closed by {@link #close()}.
   */
  public synchronized KafkaDeadLetterSink kafkaDeadLetters(String topic) {
    checkOpen();
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

  private synchronized Map<RegionId, KafkaRegionalSink> resendSinks() {
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

  private Properties changelogProducer(RegionId to) {
    Properties p = config.regionClientProperties(to);
    // send runs under the publisher's ordering lock: never block long on missing metadata
    p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
    p.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
    p.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG,
        "tandem-changelog-" + region + "-" + instance + "-to-" + to);
    return p;
  }

  private synchronized void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the Tandem region " + region + " is closed");
    }
  }

  /**
   * This region's health now: status (UP, DEGRADED, DOWN with the reasons), store open and
   * restored, own broker reachable, peer replication lag, held records, shards owned (each shard's
   * owner and epoch), takeovers with the last bound, detected duplicates, spool depth. Every figure is
   * read from the object that owns it; no request goes to any broker (the own broker's reachability
   * is the owner-liveness evidence of the poll loops — their fetches and end-offset probes — and,
   * when no loop has recent evidence, the changelog publisher's lane to the own region, which the
   * replica's heartbeats exercise every {@code tandem.heartbeat.interval.ms}). Cheap; any thread;
   * also after {@link #close()} (then DOWN). See {@link RegionHealth} for the status rules.
   */
  public RegionHealth health() {
    RegionHealth.Facts f = new RegionHealth.Facts();
    f.region = region.name();
    f.instance = instance;
    f.policy = ownership == null ? TandemRegionConfig.GUARANTEE_DETECT_ONLY : config.policyName();
    f.lagLimit = config.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG);
    if (closed) {
      f.storeOpen = false;
      return f.build();
    }
    try {
      // the poll loops' liveness evidence first: a failed probe after the last answer is DOWN
      Boolean loops = null;
      for (Made m : consumersToClose) {
        TandemKafkaConsumer<?, ?> c = m.consumer();
        java.util.Optional<Boolean> answers = c.ownBrokerAnswers();
        if (answers.isPresent() && c.isRunning()) {
          loops = loops == null ? answers.get() : loops && answers.get();
        }
        f.heldRecords += c.heldRecords();
        if (c.isRunning()) {
          f.consumersRunning++;
        } else if (c.stopped().isCompletedExceptionally()) {
          String cause;
          try {
            c.stopped().getNow(null);
            cause = "unknown";
          } catch (java.util.concurrent.CompletionException e) {
            cause = String.valueOf(e.getCause());
          } catch (java.util.concurrent.CancellationException e) {
            cause = e.toString();
          }
          f.consumerFailures.add("topic " + c.topic() + ": " + cause);
        }
      }
      dev.tandem.consumer.ownership.OwnershipRequests requests;
      synchronized (this) {
        requests = ownershipRequests;
      }
      if (requests != null) {
        f.ownershipRequestsFailure = requests.failure().orElse(null);
      }
      dev.tandem.publisher.RegionStatus ownLane = changelogPublisher.status(region);
      if (loops != null) {
        f.ownBrokerReachable = loops;
        f.ownBrokerEvidence = loops ? "a poll loop's fetch or probe answered recently"
            : "a poll loop's end-offset probe failed after its last answer";
      } else {
        boolean laneOk = ownLane.circuit()
            == io.github.resilience4j.circuitbreaker.CircuitBreaker.State.CLOSED && !ownLane.spooling();
        f.ownBrokerReachable = laneOk;
        f.ownBrokerEvidence = laneOk ? "the changelog lane to the own region writes"
            : "the changelog lane to the own region is " + ownLane.circuit()
                + (ownLane.spooling() ? ", spooling" : "");
      }
      for (RegionId r : config.regions()) {
        f.spoolDepth.put(r.name(), changelogPublisher.status(r).spoolDepth());
        if (!r.equals(region)) {
          dev.tandem.store.replication.ReplicationLag lag = log_.lag(r);
          f.peers.add(new RegionHealth.PeerLag(r.name(), lag.timeLag(), lag.recordsBehind(),
              lag.sinceLastHeartbeat()));
          f.peerReachable.put(r.name(), log_.peerReachable());
        }
      }
      boolean restored = true;
      for (int s : new java.util.TreeSet<>(log_.shards())) {
        boolean shardRestored = log_.isRestored(s);
        restored &= shardRestored;
        String owner = null;
        long epoch = -1;
        boolean owned = false;
        if (shardRestored) {
          try {
            if (ownership == null) {
              epoch = 0;
              owned = true; // detect-only: every region processes every shard
            } else {
              dev.tandem.store.ShardLease l = ownership.lease(s);
              owner = l.owner().name();
              epoch = l.epoch();
              // the lease alone, not owns(): a policy's mayProcess may ask its witness for a renewal,
              // and a health check must change nothing (nor keep a grant for a loop that stopped)
              owned = l.owner().equals(region);
            }
          } catch (dev.tandem.store.StoreException e) {
            shardRestored = false;
            restored = false;
          }
        }
        f.shards.add(new RegionHealth.ShardState(s, owner, epoch, owned, shardRestored));
      }
      f.storeRestored = restored;
      if (ownership != null) {
        List<dev.tandem.consumer.ownership.TakeoverReport> reports = ownership.reports();
        f.takeovers = reports.size();
        if (!reports.isEmpty()) {
          dev.tandem.consumer.ownership.TakeoverReport t = reports.get(reports.size() - 1);
          f.lastTakeover = new RegionHealth.Takeover(t.shard(), t.from().name(), t.to().name(),
              t.newEpoch(), t.boundKind().name(),
              t.bound().isPresent() ? t.bound().getAsLong() : null, t.reason());
        }
      }
      f.detectedDuplicates = rawStore.detectedDuplicates();
    } catch (RuntimeException e) {
      if (closed) {
        // closed while reading: the snapshot says so rather than failing the caller
        RegionHealth.Facts c = new RegionHealth.Facts();
        c.region = f.region;
        c.instance = f.instance;
        c.policy = f.policy;
        c.storeOpen = false;
        return c.build();
      }
      throw e;
    }
    return f.build();
  }

  /** Closes everything this region opened, in order (see the class comment). Idempotent. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    // every consumer is told to stop at once (each close on its own thread), then each is waited
    // for: n consumers stop in the time of the slowest, not of their sum
    List<Made> made = List.copyOf(consumersToClose);
    List<Thread> stopping = new ArrayList<>();
    for (Made m : made) {
      Thread t = new Thread(() -> closeQuietly(m.consumer()),
          "tandem-close-" + region + "-" + instance + "-" + stopping.size());
      t.setDaemon(true);
      t.start();
      stopping.add(t);
    }
    boolean loopsStopped = true;
    for (int i = 0; i < stopping.size(); i++) {
      Made m = made.get(i);
      try {
        stopping.get(i).join(CONSUMER_STOP_WAIT.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (m.consumer().isRunning()) {
        // its Kafka consumer belongs to the loop's thread (closing it from here would only throw
        // ConcurrentModificationException); the loop closes it when it stops
        loopsStopped = false;
        log.error("Tandem region {}: the poll loop of {} did not stop within {}; its Kafka "
            + "consumer, the replication log and the store are left open under it", region,
            m.consumer(), CONSUMER_STOP_WAIT);
      } else {
        m.closeKafka().run();
      }
    }
    for (OnceProcessor p : processors) {
      closeQuietly(p);
    }
    dev.tandem.consumer.ownership.OwnershipRequests requests;
    synchronized (this) {
      requests = ownershipRequests;
    }
    if (requests != null) {
      closeQuietly(requests);
    }
    if (witnessPolicy != null) {
      // the renewals run in this process: they stop with its consumers, before the log closes
      closeQuietly(witnessPolicy);
    }
    for (KafkaRegionalSink s : resendSinks.values()) {
      closeQuietly(s);
    }
    if (dlqProducer != null) {
      closeQuietly(() -> dlqProducer.close(Duration.ofSeconds(5)));
    }
    meters.remove(openGauge);
    windowGauges.forEach(meters::remove);
    if (!loopsStopped) {
      // never close RocksDB (or the log writing to it) under a loop that still runs in it
      return;
    }
    closeQuietly(log_);
    closeQuietly(changelogPublisher);
    closeQuietly(rawStore);
    if (witness != null) {
      closeQuietly(witness);
    }
    closeQuietly(stateLock); // last: the directory is free for the next process
    log.info("Tandem region {} instance {} closed", region, instance);
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("closing {} failed", c, e);
    }
  }

  /** File in the state directory locked while a region uses the directory. */
  static final String LOCK_FILE = ".lock";

  /** The held lock of a state directory; closing releases it. */
  private record StateDirLock(FileChannel channel, FileLock lock) implements AutoCloseable {
    @Override
    public void close() throws IOException {
      try {
        lock.release();
      } finally {
        channel.close();
      }
    }
  }

  /**
   * Locks {@code <stateDir>/.lock} for this region's life. A second process (or a second region
   * object in this process) on the same directory is refused here, before the instance id file or
   * the store is touched: otherwise two first starts could each create an instance id and the one
   * that wins RocksDB's lock could run under an id the file no longer holds.
   */
  static StateDirLock lockStateDir(Path stateDir) {
    Path file = stateDir.resolve(LOCK_FILE);
    FileChannel ch = null;
    try {
      Files.createDirectories(stateDir);
      ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = ch.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null; // held by this JVM
      }
      if (lock == null) {
        ch.close();
        throw new ConfigException(TandemRegionConfig.STATE_DIR_CONFIG, stateDir.toString(),
            "the state directory is in use by another Tandem region (its " + file + " is locked); "
                + "each process (and each region object) needs its own state directory");
      }
      return new StateDirLock(ch, lock);
    } catch (IOException e) {
      if (ch != null) {
        try {
          ch.close();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw new UncheckedIOException("cannot lock " + file, e);
    }
  }

  /**
   * How long an owner may be silent before it re-reads the changelogs: as long as the policy in use
   * lets the peer take a shard over — AUTOMATIC's L, WITNESS's witness lease (the peer may be granted
   * the shard once the owner's grant lapsed), and for a policy that answers neither (MANUAL, a
   * custom one) {@code tandem.lease.timeout.ms}.
   */
  static Duration revalidateAfter(OwnershipPolicy policy, TandemRegionConfig c) {
    if (policy.leaseTimeout().isPresent()) {
      return policy.leaseTimeout().get();
    }
    if (policy instanceof WitnessPolicy w) {
      Duration lease = w.witness().leaseDuration();
      Duration l = c.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG);
      return lease.compareTo(l) < 0 ? lease : l;
    }
    return c.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG);
  }

  /**
   * The instance id of {@code stateDir}: read from its {@value #INSTANCE_FILE}, or created there on
   * first use as {@code <host>-<8 hex>} (written completely, then linked in without replacing: of
   * two first starts one id wins and both read it). One process at a time uses a state directory
   * (the region holds {@value #LOCK_FILE} before calling this), so the id is unique per process and
   * stable across restarts on the same directory — what a restarted instance needs to recognise its
   * own claims.
   */
  static String instanceIdOf(Path stateDir) {
    Path file = stateDir.resolve(INSTANCE_FILE);
    try {
      Files.createDirectories(stateDir);
      if (Files.isRegularFile(file)) {
        String id = Files.readString(file, StandardCharsets.UTF_8).trim();
        if (!id.isEmpty() && id.length() <= 128) {
          return id;
        }
        throw new ConfigException(TandemRegionConfig.STATE_DIR_CONFIG, stateDir.toString(),
            file + " holds no valid instance id (1-128 characters); delete it or set "
                + TandemRegionConfig.INSTANCE_CONFIG);
      }
      String host;
      try {
        host = InetAddress.getLocalHost().getHostName();
      } catch (IOException e) {
        host = "host";
      }
      host = host.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]", "-");
      if (host.length() > 64) {
        host = host.substring(0, 64);
      }
      byte[] random = new byte[4];
      new SecureRandom().nextBytes(random);
      String id = host + "-" + HexFormat.of().formatHex(random);
      Path tmp = Files.createTempFile(stateDir, INSTANCE_FILE, ".tmp");
      try {
        Files.writeString(tmp, id + "\n", StandardCharsets.UTF_8);
        // publish the complete file without ever replacing one: link(2) fails if the name exists,
        // so of two first starts exactly one id wins and the other start reads it
        try {
          Files.createLink(file, tmp);
        } catch (UnsupportedOperationException | FileSystemException e) {
          if (e instanceof FileAlreadyExistsException) {
            throw (FileAlreadyExistsException) e;
          }
          Files.move(tmp, file); // no REPLACE_EXISTING: fails if another start created it
        }
      } catch (FileAlreadyExistsException e) {
        return instanceIdOf(stateDir); // another start won: run as its id
      } finally {
        Files.deleteIfExists(tmp);
      }
      log.info("Tandem instance id {} created in {}", id, file);
      return id;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read or create " + file, e);
    }
  }

  /**
   * Builds a {@link TandemRegion}. Each key method sets the same key as the properties file; {@link
   * #build()} validates them all in one place ({@link TandemRegionConfig}). A few things are objects,
   * not keys: the meter registry, a witness, signing keys.
   */
  public static final class Builder {
    private final Map<String, Object> configs = new LinkedHashMap<>();
    private MeterRegistry meters;
    private TakeoverWitness witness;
    private WitnessPolicy witnessPolicy;
    private EnvelopeSigner changelogSigner;
    private EnvelopeSigner envelopeVerifier;
    private BiFunction<RegionId, RegionalSink, RegionalSink> changelogSinks;
    private Consumer<KafkaReplicationLog.Builder> logOptions;

    private Builder() {}

    /** Every entry of {@code map} as a key (a loaded properties file, for example). */
    public Builder configs(Map<?, ?> map) {
      map.forEach((k, v) -> configs.put(String.valueOf(k), v));
      return this;
    }

    /** Sets one key (any of {@link TandemRegionConfig}, or a Kafka consumer setting). */
    public Builder config(String key, Object value) {
      configs.put(Objects.requireNonNull(key, "key"), value);
      return this;
    }

    /**
     * {@code tandem.regions}, and each region's {@code tandem.region.<r>.bootstrap.servers}: pairs of
     * region name and bootstrap servers, in order.
     */
    public Builder regions(Map<String, String> bootstrapByRegion) {
      configs.put(TandemRegionConfig.REGIONS_CONFIG, String.join(",", bootstrapByRegion.keySet()));
      bootstrapByRegion.forEach((r, bootstrap) -> regionClient(r, "bootstrap.servers", bootstrap));
      return this;
    }

    /** {@code tandem.region.<region>.<key>}: a Kafka client setting toward one region. */
    public Builder regionClient(String region, String key, Object value) {
      configs.put(TandemRegionConfig.REGION_PREFIX + region + "." + key, value);
      return this;
    }

    /** {@code tandem.region}: this process's region. */
    public Builder localRegion(String region) {
      return config(TandemRegionConfig.REGION_CONFIG, region);
    }

    /** {@code tandem.state.dir}. */
    public Builder stateDir(Path dir) {
      return config(TandemRegionConfig.STATE_DIR_CONFIG, dir.toString());
    }

    /** {@code tandem.shards}. */
    public Builder shards(int shards) {
      return config(TandemRegionConfig.SHARDS_CONFIG, shards);
    }

    /** {@code tandem.instance}. */
    public Builder instance(String instance) {
      return config(TandemRegionConfig.INSTANCE_CONFIG, instance);
    }

    /** {@code group.id} of the Kafka consumers made by this region. */
    public Builder groupId(String groupId) {
      return config(ConsumerConfig.GROUP_ID_CONFIG, groupId);
    }

    /** {@code tandem.guarantee=detect-only}: no ownership; duplicates across regions only detected. */
    public Builder detectOnly() {
      return config(TandemRegionConfig.GUARANTEE_CONFIG, TandemRegionConfig.GUARANTEE_DETECT_ONLY);
    }

    /** AUTOMATIC with L and margin: {@code tandem.lease.timeout.ms}, {@code tandem.takeover.margin.ms}. */
    public Builder automatic(Duration leaseTimeout, Duration margin) {
      config(TandemRegionConfig.OWNERSHIP_POLICY_CONFIG, "automatic");
      config(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG, leaseTimeout.toMillis());
      return config(TandemRegionConfig.TAKEOVER_MARGIN_MS_CONFIG, margin.toMillis());
    }

    /**
     * The takeover policy as an object: AUTOMATIC sets {@code tandem.ownership.policy}, {@code
     * tandem.lease.timeout.ms}, {@code tandem.takeover.margin.ms} and {@code tandem.stuck.after.ms}
     * from it (so {@code revalidateAfter} is derived from its L); a {@link WitnessPolicy} is as
     * {@link #witness(WitnessPolicy)}; MANUAL as {@link #manual()}.
     */
    public Builder policy(OwnershipPolicy policy) {
      Objects.requireNonNull(policy, "policy");
      if (policy instanceof WitnessPolicy w) {
        return witness(w);
      }
      if (policy == OwnershipPolicy.manual()) {
        return manual();
      }
      if (policy.leaseTimeout().isEmpty() || policy.takeoverMargin().isEmpty()) {
        throw new IllegalArgumentException("a policy object is AUTOMATIC, WITNESS or MANUAL; "
            + policy.name() + " is none of them");
      }
      automatic(policy.leaseTimeout().get(), policy.takeoverMargin().get());
      policy.stuckAfter().ifPresent(d -> config(TandemRegionConfig.STUCK_AFTER_MS_CONFIG, d.toMillis()));
      return this;
    }

    /** {@code tandem.ownership.policy=manual}. */
    public Builder manual() {
      return config(TandemRegionConfig.OWNERSHIP_POLICY_CONFIG, "manual");
    }

    /**
     * {@code tandem.ownership.policy=witness} with this witness (closed by the region); the region
     * builds its {@link WitnessPolicy} with the defaults.
     */
    public Builder witness(TakeoverWitness witness) {
      this.witness = Objects.requireNonNull(witness, "witness");
      return config(TandemRegionConfig.OWNERSHIP_POLICY_CONFIG, "witness");
    }

    /** As {@link #witness(TakeoverWitness)}, with a policy built by the caller (closed by the region). */
    public Builder witness(WitnessPolicy policy) {
      this.witnessPolicy = Objects.requireNonNull(policy, "policy");
      return witness(policy.witness());
    }

    /** {@code tandem.heartbeat.interval.ms}. */
    public Builder heartbeatInterval(Duration d) {
      return config(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG, d.toMillis());
    }

    /** {@code tandem.claim.lease.ms}. */
    public Builder claimLease(Duration d) {
      return config(TandemRegionConfig.CLAIM_LEASE_MS_CONFIG, d.toMillis());
    }

    /** {@code tandem.handler.timeout.ms}. */
    public Builder handlerTimeout(Duration d) {
      return config(TandemRegionConfig.HANDLER_TIMEOUT_MS_CONFIG, d.toMillis());
    }

    /** {@code tandem.record.ttl.ms}. */
    public Builder recordTtl(Duration d) {
      return config(TandemRegionConfig.RECORD_TTL_MS_CONFIG, d.toMillis());
    }

    /** {@code tandem.replication.window}. */
    public Builder window(int w) {
      return config(TandemRegionConfig.WINDOW_CONFIG, w);
    }

    /** {@code tandem.failback.after.ms}. */
    public Builder failbackAfter(Duration d) {
      return config(TandemRegionConfig.FAILBACK_AFTER_MS_CONFIG, d.toMillis());
    }

    /** {@code tandem.store.shards=assigned} (true) or {@code all} (false, the default). */
    public Builder assignedShardsOnly(boolean assigned) {
      return config(TandemRegionConfig.STORE_SHARDS_CONFIG, assigned ? "assigned" : "all");
    }

    /** Where meters go (default: Micrometer's {@link Metrics#globalRegistry}). */
    public Builder meterRegistry(MeterRegistry registry) {
      this.meters = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /** Signs and verifies the changelog (see {@link KafkaReplicationLog.Builder#authenticate}). */
    public Builder changelogAuthentication(EnvelopeSigner signer) {
      this.changelogSigner = Objects.requireNonNull(signer, "signer");
      return this;
    }

    /** Requires signed envelopes on every consumed copy (see {@link OnceProcessor.Builder#requireSignatures}). */
    public Builder requireSignatures(EnvelopeSigner verifier) {
      this.envelopeVerifier = Objects.requireNonNull(verifier, "verifier");
      return this;
    }

    /**
     * Wraps each region's changelog sink (fault injection in tests: a valve on the own region's
     * lane). {@code wrap} gets the region and the sink the region built.
     */
    public Builder changelogSinks(BiFunction<RegionId, RegionalSink, RegionalSink> wrap) {
      this.changelogSinks = Objects.requireNonNull(wrap, "wrap");
      return this;
    }

    /**
     * Further settings of the replication log, applied after the region's (its timeouts: {@code
     * catchUpApiTimeout}, {@code apiTimeout}, ...). Shards, regions, store and publisher are the
     * region's.
     */
    public Builder replicationLogOptions(Consumer<KafkaReplicationLog.Builder> options) {
      this.logOptions = Objects.requireNonNull(options, "options");
      return this;
    }

    /**
     * Validates every key ({@link TandemRegionConfig}), then opens the store, the replication log
     * (creating the changelog topics where absent) and the ownership.
     *
     * @throws ConfigException naming the key, for any configuration mistake (nothing is opened);
     *     also when a region's cluster refuses this process's SASL credentials or TLS handshake
     *     while the changelog topic is ensured (naming {@code tandem.region.<r>.sasl.jaas.config}
     *     or {@code .ssl.*}; what was opened is closed)
     */
    public TandemRegion build() {
      TandemRegionConfig c = new TandemRegionConfig(configs, witness != null);
      return new TandemRegion(this, c);
    }
  }
}
