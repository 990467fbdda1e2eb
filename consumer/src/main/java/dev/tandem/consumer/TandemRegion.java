package dev.tandem.consumer;

import dev.tandem.consumer.internal.RegionAssembly;
import dev.tandem.consumer.internal.RegionProducers;
import dev.tandem.consumer.internal.StateDirectory;
import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.consumer.kafka.TandemRecordHandler;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.config.ConfigException;
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
 *
 * <p>This class is the entry point and the region's lifecycle; its parts: {@code
 * internal.StateDirectory} (lock, instance id), {@code internal.RegionAssembly} (store, changelog
 * publisher, replication log, ownership), {@code internal.RegionProducers} (dead-letter producer,
 * re-send sinks), {@code RegionKafkaConsumers} (the consumers made here), {@code
 * RegionHealthReader}.
 *
 * <p>Why over 500 lines (about 760): its public {@link Builder} (210 lines, one documented method
 * per key) must stay nested — users, Spring, Azure, the CLI and the benchmarks name the type {@code
 * TandemRegion.Builder}; and the public API's Javadoc (about 250 lines: the wiring rules above, the
 * admin view, each accessor's contract) is what a user reads. The code left is the entry point and
 * the close order (about 300 lines).
 */
public final class TandemRegion implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(TandemRegion.class);

  /** File in the state directory holding this directory's instance id. */
  static final String INSTANCE_FILE = StateDirectory.INSTANCE_FILE;
  /** File in the state directory locked while a region uses the directory. */
  static final String LOCK_FILE = StateDirectory.LOCK_FILE;
  /** How long a batch waits for its claims to be in the own changelog (the poll loop's value). */
  static final Duration CLAIMS_DURABLE_TIMEOUT = Duration.ofSeconds(5);
  /** How long close() waits for a consumer's loop (its own close waits up to 60 s + 10 s). */
  static final Duration CONSUMER_STOP_WAIT = RegionKafkaConsumers.CONSUMER_STOP_WAIT;

  private final TandemRegionConfig config;
  private final RegionId region;
  private final String instance;
  private final MeterRegistry meters;
  /** Store, changelog publisher, replication log, replicated view, ownership, witness. */
  private final RegionAssembly parts;
  /** The owning side of remote ownership requests, made on first use (null until then). */
  private dev.tandem.consumer.ownership.OwnershipRequests ownershipRequests;
  private final EnvelopeSigner envelopeVerifier;
  private final RegionProducers producers;
  private final RegionKafkaConsumers consumers;
  private final RegionHealthReader healthReader;
  private final List<OnceProcessor> processors = new CopyOnWriteArrayList<>();
  private volatile boolean closed;
  /** {@code <state.dir>/.lock}, held from the first step of the build until close. */
  private final StateDirectory.Lock stateLock;
  private final Gauge openGauge;
  /** W and the shard count, for the lag alert's "W's time" (ops/prometheus); removed by close(). */
  private final List<Gauge> windowGauges;

  private TandemRegion(Builder b, TandemRegionConfig c) {
    this.config = c;
    this.region = c.region();
    this.meters = b.meters != null ? b.meters : Metrics.globalRegistry;
    this.envelopeVerifier = b.envelopeVerifier;
    Path stateDir = Path.of(c.getString(TandemRegionConfig.STATE_DIR_CONFIG));
    // the directory lock first, held for the region's life: one process per state directory, before
    // its instance id is read or created and before RocksDB opens
    this.stateLock = StateDirectory.lock(stateDir);
    List<AutoCloseable> opened = new ArrayList<>();
    opened.add(stateLock);
    try {
      this.instance = c.getString(TandemRegionConfig.INSTANCE_CONFIG) != null
          ? c.getString(TandemRegionConfig.INSTANCE_CONFIG).trim()
          : instanceIdOf(stateDir);
    } catch (RuntimeException | Error e) {
      RegionAssembly.closeQuietly(stateLock);
      throw e;
    }
    // closes what it opened and the lock if a step fails
    this.parts = new RegionAssembly(c, instance, stateDir, meters, new RegionAssembly.Given(
        b.changelogSigner, b.changelogSinks, b.logOptions, b.witness, b.witnessPolicy), opened);
    this.producers = new RegionProducers(c, instance);
    this.consumers = new RegionKafkaConsumers(c, instance, meters, parts, producers,
        this::processorDefaults, this::ownershipRequests);
    this.healthReader = new RegionHealthReader(c, instance, parts, consumers::consumers,
        () -> closed, brokerEvidence, this::ownershipRequestsFailure);
    // what this process promises, where an operator looks: 1 while open, tagged with the guarantee
    // (an alert on guarantee=detect-only finds a region that only detects duplicates); removed by
    // close() so a closed region's series ends
    this.openGauge = Gauge.builder(ConsumerMeterNames.REGION_OPEN, this, r -> r.closed ? 0 : 1)
        .tag("region", region.name())
        .tag("instance", instance)
        .tag("guarantee", c.detectOnly() ? "detect-only" : "full")
        .tag("policy", parts.ownership == null ? "none" : c.policyName())
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
        c.detectOnly() ? "detect-only" : "full", parts.ownership == null ? "none" : c.policyName(),
        stateDir);
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
    return consumers.make(topic, keyDeserializer, valueDeserializer, handler, kafkaOverrides,
        options);
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
    OnceProcessor.Builder pb = OnceProcessor.builder().store(parts.replicated)
        .deadLetterSink(Objects.requireNonNull(deadLetterSink, "deadLetterSink"))
        .meterRegistry(meters)
        .fence(parts.ownership != null ? parts.ownership.fence() : ShardFence.OPEN)
        .claimsDurable(shard -> parts.replicationLog.barrier(shard, region), CLAIMS_DURABLE_TIMEOUT);
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
    consumers.discard(c);
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
    return parts.replicated;
  }

  /** The replication log. */
  public KafkaReplicationLog replicationLog() {
    return parts.replicationLog;
  }

  /** The shard ownership; null under {@code tandem.guarantee=detect-only}. */
  public ShardOwnership ownership() {
    return parts.ownership;
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
    if (parts.ownership == null) {
      throw new IllegalStateException("no shard ownership under " + TandemRegionConfig.GUARANTEE_CONFIG
          + "=detect-only: nothing to hand over");
    }
    if (ownershipRequests == null) {
      String topic = dev.tandem.consumer.ownership.KafkaOwnershipChannel.topicFor(
          config.getString(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG));
      ownershipRequests = new dev.tandem.consumer.ownership.OwnershipRequests(parts.ownership,
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
    RegionalSink s = producers.resendSinks().get(Objects.requireNonNull(owner, "owner"));
    if (s == null) {
      throw new IllegalArgumentException("no re-send sink to " + owner + ": not another region of "
          + config.regions());
    }
    return s;
  }

  /** The Kafka dead-letter sink of this region ({@code <topic>.tandem-dlq} in the own cluster). */
  public synchronized KafkaDeadLetterSink kafkaDeadLetters() {
    checkOpen();
    return producers.kafkaDeadLetters();
  }

  /**
   * A Kafka dead-letter sink of this region for messages that do not come from a Kafka record (a
   * Service Bus or HTTP trigger of a function app): they go to {@code topic} in the own cluster
   * (which must exist); dead letters of Kafka records still go to {@code <their topic>.tandem-dlq}.
   * It shares the region's dead-letter producer, closed by {@link #close()}.
   */
  public synchronized KafkaDeadLetterSink kafkaDeadLetters(String topic) {
    checkOpen();
    return producers.kafkaDeadLetters(topic);
  }

  private synchronized void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the Tandem region " + region + " is closed");
    }
  }

  /** Named broker evidence from outside the poll loops (see {@link #registerBrokerEvidence}). */
  private final java.util.Map<String, java.util.function.Supplier<java.util.Optional<Boolean>>>
      brokerEvidence = new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * Adds owner-liveness evidence about a broker this region's processing depends on, gathered
   * outside the region's Kafka poll loops — a Functions app's heartbeat probes of its triggers'
   * brokers (issue 21). {@link #health()} reads it as it reads a poll loop's broker probe: a probe
   * that failed after its last answer, within its evidence bound, makes the region DOWN (its owner
   * renews no lease meanwhile, so the peer takes its shards over); an answer never hides another
   * source's failure, and no recent evidence says nothing. A second registration of a name replaces
   * the first (a configuration built again).
   *
   * @param probe the probe's name, shown in the health's evidence
   * @param recent what the probe's evidence says now ({@code BrokerEvidence.recent}); any thread,
   *     cheap, no request to a broker
   */
  public void registerBrokerEvidence(String probe,
      java.util.function.Supplier<java.util.Optional<Boolean>> recent) {
    java.util.Objects.requireNonNull(probe, "probe");
    java.util.Objects.requireNonNull(recent, "recent");
    brokerEvidence.put(probe, recent);
  }

  /**
   * This region's health now: status (UP, DEGRADED, DOWN with the reasons), store open and
   * restored, own broker reachable, peer replication lag, held records, shards owned (each shard's
   * owner and epoch), takeovers with the last bound, detected duplicates, spool depth. Every figure is
   * read from the object that owns it; no request goes to any broker (the own broker's reachability
   * is the owner-liveness evidence of the poll loops — their fetches and end-offset probes — and,
   * when no loop has recent evidence, the changelog publisher's lane to the own region, which the
   * replica's heartbeats exercise every {@code tandem.heartbeat.interval.ms}; a failure in evidence
   * registered with {@link #registerBrokerEvidence} counts too). Cheap; any thread;
   * also after {@link #close()} (then DOWN). See {@link RegionHealth} for the status rules.
   */
  public RegionHealth health() {
    return healthReader.read();
  }

  /** Why the owning side of remote ownership requests stopped for good, if it did. */
  private java.util.Optional<String> ownershipRequestsFailure() {
    dev.tandem.consumer.ownership.OwnershipRequests requests;
    synchronized (this) {
      requests = ownershipRequests;
    }
    return requests == null ? java.util.Optional.empty() : requests.failure();
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
    boolean loopsStopped = consumers.stopAll();
    for (OnceProcessor p : processors) {
      RegionAssembly.closeQuietly(p);
    }
    dev.tandem.consumer.ownership.OwnershipRequests requests;
    synchronized (this) {
      requests = ownershipRequests;
    }
    if (requests != null) {
      RegionAssembly.closeQuietly(requests);
    }
    if (parts.witnessPolicy != null) {
      // the renewals run in this process: they stop with its consumers, before the log closes
      RegionAssembly.closeQuietly(parts.witnessPolicy);
    }
    producers.close(); // re-send sinks, then the dead-letter producer
    meters.remove(openGauge);
    windowGauges.forEach(meters::remove);
    if (!loopsStopped) {
      // never close RocksDB (or the log writing to it) under a loop that still runs in it
      return;
    }
    RegionAssembly.closeQuietly(parts.replicationLog);
    RegionAssembly.closeQuietly(parts.changelogPublisher);
    RegionAssembly.closeQuietly(parts.rawStore);
    if (parts.witness != null) {
      RegionAssembly.closeQuietly(parts.witness);
    }
    RegionAssembly.closeQuietly(stateLock); // last: the directory is free for the next process
    log.info("Tandem region {} instance {} closed", region, instance);
  }

  /** See {@link StateDirectory#instanceIdOf}. */
  static String instanceIdOf(Path stateDir) {
    return StateDirectory.instanceIdOf(stateDir);
  }

  /** See {@link RegionAssembly#revalidateAfter}. */
  static Duration revalidateAfter(OwnershipPolicy policy, TandemRegionConfig c) {
    return RegionAssembly.revalidateAfter(policy, c);
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
