package dev.tandem.store.replication;

import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.core.TandemIds;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.RocksIdempotencyStore;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link ReplicationLog} on Kafka ({@code docs/design.md#replication}). (Why over 500 lines: a
 * good half is its public {@link Builder} — thirty documented options, nested because users name the
 * type {@code KafkaReplicationLog.Builder}; the log itself wires its parts together: {@link
 * ChangelogSetup} (topics, publisher, reader consumer), {@link ChangelogWriter}, {@link
 * ChangelogReader}, {@link BatchApplier}, {@link HandoffMarkers}, {@link Heartbeats}, {@link
 * LagTracker}, {@link RegionCatchUp}.)
 *
 * <pre>{@code
 * KafkaReplicationLog log = KafkaReplicationLog.builder()
 *     .store(store)                                   // region-a's RocksDB store
 *     .region(RegionId.of("region-a"), propsA)        // client properties of every region
 *     .region(RegionId.of("region-b"), propsB)
 *     .spoolDirectory(Path.of("/var/lib/app/changelog-spool"))  // or .publisher(existing)
 *     .shards(16)
 *     .materializeAllShards()                         // full mode; else assign(...) per shard
 *     .build();
 * IdempotencyStore gated = log.replicatedStore();     // serves a shard only once restored
 * }</pre>
 *
 * <ul>
 *   <li><b>Topics</b>: each region has {@code <prefix>.changelog} with one partition per shard (shard
 *       n ↔ partition n), created if absent with {@code cleanup.policy=compact,delete} and {@code
 *       retention.ms} = {@link Builder#retention} (≥ TTL + the longest tolerated lag). Nothing is
 *       sent before every partition of a topic created or found at build is served by its leader and
 *       the log's producers know the leaders; a producer out of order with its broker is replaced
 *       (KAFKA-15591; {@code tandem.replication.producer.reset}, see {@code ChangelogSink}).
 *   <li><b>Writing</b>: every LOCAL write of the store (full merged record or lease) goes to every
 *       region's changelog through the {@link DualPublisher} (ack policy ANY + spool: the copies for a
 *       region that is down wait in the spool), keyed by (id, origin region, writer incarnation).
 *       <b>Writer incarnation</b> = a new UUIDv7 per open, not a counter persisted in the store: a
 *       counter lives in the very directory that may be lost and restored, and a restored replica
 *       that reused an old counter value would share a key with its earlier life (whose larger record
 *       compaction could then drop). A UUID cannot repeat; its cost is one more key per id per
 *       restart, bounded by retention. Compaction keeps a key's last copy, so that copy must be the
 *       newest: when a copy spooled after a timeout is replayed after a newer copy of its key was
 *       acknowledged directly, the writer publishes the key's newest value once more behind it
 *       ({@code tandem.replication.republished}; also at close, for a copy left in the spool).
 *   <li><b>Barriers</b>: {@link #barrier} never passes a change that is not in the changelog: a copy a
 *       region rejected (too large; retried every 30 x {@link Builder#retryBackoff}) or a local write
 *       made while the log closes fails every barrier of its shard ({@link UnshippedChangeException},
 *       gauge {@code tandem.replication.unshipped}) until it is shipped.
 *   <li><b>Reading</b>: one thread, a consumer with manual assign on the own region's changelog
 *       partitions of the materialised shards; each poll is merged with {@code applyRemoteBatch}
 *       together with its checkpoints ({@code <topic>/<partition>} → next offset) in one WriteBatch;
 *       restart resumes at the checkpoint. Records that do not decode are counted ({@code
 *       tandem.replication.bad.records}), logged and skipped.
 *   <li><b>Restore before serve</b>: see {@link #assign}; {@link #replicatedStore()} is the gate.
 *   <li><b>Hand-off</b>: a shard given up before its writes were acknowledged by the own region
 *       ({@link #handOff}) gets a marker (key {@code f|region|incarnation|shard}) written after
 *       them once they are; {@link #handedOff} says whether this replica's reader has applied it.
 *   <li><b>Heartbeats</b>: every {@link Builder#heartbeatInterval} one heartbeat per shard into every
 *       region's changelog; the receiver measures lag from them ({@code tandem.replication.lag}).
 *       While a peer's copies go to the spool only every 20th round is sent, so a long outage does
 *       not fill the spool with heartbeats.
 * </ul>
 */
public final class KafkaReplicationLog implements ReplicationLog {

  private static final Logger LOG = LoggerFactory.getLogger(KafkaReplicationLog.class);

  private final ReplicaStore store;
  private final RegionId localRegion;
  private final String topic;
  private final int shardCount;
  private final Map<RegionId, Properties> regionProperties;
  private final DualPublisher publisher;
  private final boolean ownsPublisher;
  private final ChangelogWriter writer;
  private final ChangelogReader reader;
  private final LagTracker lag;
  private final BatchApplier applier;
  private final ScheduledExecutorService scheduler;
  private final TandemClock clock;
  private final Duration catchUpApiTimeout;
  private final Duration revokeTimeout;
  private final Duration restoreWait;
  private final MeterRegistry meters;
  /** Hand-offs of this log and the markers read back. */
  private final HandoffMarkers handoffs;
  private final Heartbeats heartbeats;
  private volatile boolean closed;

  private KafkaReplicationLog(Builder b, ChangelogSetup setup, DualPublisher publisher,
      boolean ownsPublisher,
      ScheduledExecutorService scheduler) {
    this.store = ReplicaStore.of(b.store);
    this.localRegion = b.store.owner().region();
    this.topic = b.topic();
    this.shardCount = b.shards;
    this.regionProperties = Map.copyOf(b.regions);
    this.publisher = publisher;
    this.ownsPublisher = ownsPublisher;
    this.scheduler = scheduler;
    this.clock = b.clock;
    this.catchUpApiTimeout = b.catchUpApiTimeout;
    this.revokeTimeout = b.revokeTimeout;
    this.restoreWait = b.restoreWait;
    this.meters = b.meterRegistry;
    String incarnation = TandemIds.newId();
    // envelope headers only for an authenticating reader (the peers' readers authenticate with the
    // same keys: a region set up with authenticate() is set up so in every region)
    this.writer = new ChangelogWriter(store, publisher, incarnation, topic, clock, scheduler,
        b.retryBackoff, meters, b.changelogSigner != null);
    this.lag = new LagTracker(localRegion, clock, meters);
    this.applier = new BatchApplier(store, lag, meters, b.changelogSigner);
    // the own reader skips this writer's record changes read back (already in the store)
    this.applier.ownWriter(localRegion, incarnation);
    this.reader = new ChangelogReader(store, setup.newReaderConsumer(localRegion), topic, applier, lag, clock,
        b.pollTimeout, b.apiTimeout, this::checkpointKeysOf, meters);
    this.handoffs = new HandoffMarkers(localRegion, topic, store, writer, publisher, scheduler,
        b.retryBackoff, meters, () -> closed);
    this.reader.onHandoffMarker(handoffs::markerRead);
    this.heartbeats = new Heartbeats(writer, shardCount);
    LOG.info("replication log of {} opened: changelog {} ({} shards), writer incarnation {}",
        store.owner(), topic, shardCount, incarnation);
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  private List<String> checkpointKeysOf(int shard) {
    List<String> keys = new ArrayList<>();
    keys.add(reader.checkpointKey(shard));
    for (RegionId region : regionProperties.keySet()) {
      if (!region.equals(localRegion)) {
        keys.add(RegionCatchUp.checkpointKey(region, topic, shard));
      }
    }
    return keys;
  }

  private void start(boolean allShards, Duration heartbeatInterval) {
    reader.start();
    if (allShards) {
      Set<Integer> all = new TreeSet<>();
      for (int s = 0; s < shardCount; s++) {
        all.add(s);
      }
      assign(all);
    }
    heartbeats.start(scheduler, heartbeatInterval);
    io.micrometer.core.instrument.Gauge.builder(StoreMeterNames.REPLICATION_UNACKED, this, l -> {
          long n = 0;
          for (int s = 0; s < l.shardCount; s++) {
            n += l.writer.unackedByPeers(s);
          }
          return n;
        })
        .tag("region", localRegion.name())
        .description("local changes not yet acknowledged by the peer region(s), all shards")
        .register(meters);
  }

  /**
   * Materialises {@code shards}: each is registered at once as not restored (so the gate makes claims
   * wait), then, on the reader thread, positioned at its checkpoint (or the beginning), its end
   * offset captured, and read up to it; only then is it restored (log line with records and
   * seconds, {@code tandem.replication.restore.records}, timer {@code tandem.replication.restore}).
   */
  @Override
  public void assign(Set<Integer> shards) {
    checkOpen();
    for (int s : shards) {
      checkShard(s);
    }
    reader.assign(shards);
  }

  @Override
  public void revoke(Set<Integer> shards) {
    revoke(shards, Set.of());
  }

  @Override
  public void revoke(Set<Integer> shards, Set<Integer> unwaited) {
    checkOpen();
    Set<Integer> mine = new TreeSet<>(shards);
    mine.retainAll(reader.shards());
    for (int shard : mine) {
      if (handoffs.handingOff(shard) || unwaited.contains(shard)) {
        // handed off: its marker follows its writes, the next holder waits for it; or nothing of
        // the caller's to flush (no claim made in it)
        continue;
      }
      try {
        barrier(shard, localRegion).get(revokeTimeout.toMillis(), TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        throw new IllegalStateException("cannot revoke shard " + shard + ": "
            + "its changelog writes were not acknowledged by " + localRegion + " within "
            + revokeTimeout + "; the shard stays assigned", e);
      } catch (ExecutionException e) {
        throw new IllegalStateException("cannot revoke shard " + shard + ": a changelog write "
            + "failed (" + e.getCause() + "); the shard stays assigned", e.getCause());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while revoking shard " + shard, e);
      }
    }
    try {
      reader.revoke(mine).get(revokeTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException | ExecutionException e) {
      throw new IllegalStateException("revoking shards " + mine + " failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while revoking shards " + mine, e);
    }
  }

  /**
   * Hands {@code shard} off (see {@link ReplicationLog#handOff}): the marker is written once every
   * change of the shard written so far is acknowledged by this region's changelog; meters {@code
   * tandem.replication.handoffs} ({@code outcome} = {@code marked}, or {@code failed} when a change
   * of the shard could not be stored, so the next holder waits for its bound). See {@link
   * HandoffMarkers}.
   */
  @Override
  public java.util.Optional<Handoff> handOff(int shard) {
    checkOpen();
    checkShard(shard);
    return java.util.Optional.of(handoffs.handOff(shard));
  }

  @Override
  public boolean handedOff(Handoff token) {
    return handoffs.handedOff(token);
  }

  @Override
  public boolean awaitRestored(Duration timeout) {
    List<CompletableFuture<Void>> all = new ArrayList<>();
    for (int shard : reader.shards()) {
      ChangelogReader.ShardState s = reader.state(shard);
      if (s != null) {
        all.add(s.restored);
      }
    }
    try {
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))
          .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (TimeoutException | ExecutionException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  @Override
  public boolean isRestored(int shard) {
    return reader.isRestored(shard);
  }

  /** The restore future of {@code shard}, or null if it is not assigned here (for the gate). */
  CompletableFuture<Void> restoredFuture(int shard) {
    ChangelogReader.ShardState s = reader.state(shard);
    return s == null ? null : s.restored;
  }

  @Override
  public CompletableFuture<Void> barrier(int shard, RegionId region) {
    checkShard(shard);
    return writer.barrier(shard, region);
  }

  @Override
  public long unackedByPeers(int shard) {
    return writer.unackedByPeers(shard);
  }

  @Override
  public boolean peerReachable() {
    return writer.peerReachable();
  }

  @Override
  public CatchUpResult catchUp(RegionId region, Set<Integer> shards, Duration timeout) {
    checkOpen();
    for (int s : shards) {
      checkShard(s);
    }
    CatchUpResult result;
    if (region.equals(localRegion)) {
      result = catchUpOwn(shards, timeout);
    } else {
      Properties props = regionProperties.get(region);
      if (props == null) {
        result = CatchUpResult.notRead(region, shards, 0, Duration.ZERO,
            "no client properties for region " + region + " were configured");
      } else {
        result = new RegionCatchUp(region, props, topic, store, applier, clock, catchUpApiTimeout)
            .run(shards, timeout);
      }
    }
    Counter.builder(StoreMeterNames.REPLICATION_CATCHUP)
        .tag("region", localRegion.name())
        .tag("origin", region.name())
        .tag("outcome", result.complete() ? "ok" : "not-read")
        .register(meters)
        .increment();
    if (!result.complete()) {
      LOG.warn("{}", result);
    }
    return result;
  }

  private CatchUpResult catchUpOwn(Set<Integer> shards, Duration timeout) {
    long start = clock.nanoTime();
    CompletableFuture<Long> f = reader.awaitCurrentEnd(shards);
    try {
      long records = f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return CatchUpResult.ok(localRegion, shards, records, Duration.ofNanos(clock.nanoTime() - start));
    } catch (TimeoutException e) {
      f.cancel(false);
      return CatchUpResult.notRead(localRegion, shards, 0, Duration.ofNanos(clock.nanoTime() - start),
          "timed out after " + timeout.toMillis() + " ms before reaching the end offsets");
    } catch (ExecutionException e) {
      return CatchUpResult.notRead(localRegion, shards, 0, Duration.ofNanos(clock.nanoTime() - start),
          "not read: " + e.getCause().getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return CatchUpResult.notRead(localRegion, shards, 0, Duration.ofNanos(clock.nanoTime() - start),
          "interrupted");
    }
  }

  @Override
  public void addLivenessCheck(java.util.function.BooleanSupplier alive) {
    heartbeats.addLivenessCheck(alive);
  }

  @Override
  public ReplicationLag lag(RegionId origin) {
    return lag.lag(origin);
  }

  @Override
  public Set<Integer> shards() {
    return reader.shards();
  }

  /** The number of shards (= changelog partitions). */
  public int shardCount() {
    return shardCount;
  }

  /** The changelog topic name (the same in every region). */
  public String topic() {
    return topic;
  }

  /** This open's writer incarnation (part of every changelog key it writes). */
  public String incarnation() {
    return writer.incarnation();
  }

  /** The local region. */
  public RegionId region() {
    return localRegion;
  }

  /**
   * The store behind the restore gate: every call for a shard waits until the shard is restored (up
   * to {@link Builder#restoreWait}) and then throws {@link ShardNotReadyException}; a shard not
   * materialised here fails at once. It never answers from a half-read shard.
   */
  public ReplicatedStore replicatedStore() {
    return new ReplicatedStore(store, this, restoreWait);
  }

  /** The publisher that fans the changelog out (owned by this log if it built it). */
  public DualPublisher publisher() {
    return publisher;
  }

  /**
   * Writes the markers of hand-offs still pending (waiting up to {@code revokeTimeout} for their
   * shards' changes to be acknowledged: a shard handed off during a graceful shutdown, e.g. a rolling
   * deploy, gets its marker, so its next holder does not wait for its {@code handoffTimeout}), then
   * stops heartbeats, the reader and (if this log built it) the publisher; changes still in the
   * publisher's spool stay there for the next open on the same spool directory (no process writes
   * the markers of this incarnation later). The store stays open (close it after this).
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    handoffs.awaitSettled(revokeTimeout);
    closed = true;
    writer.stop();
    scheduler.shutdownNow();
    reader.close(Duration.ofSeconds(10));
    if (ownsPublisher) {
      publisher.close(); // flushes: deliveries in flight complete their barriers first
    }
    writer.failPending();
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the replication log is closed");
    }
  }

  private void checkShard(int shard) {
    if (shard < 0 || shard >= shardCount) {
      throw new IllegalArgumentException(
          "shard " + shard + " is out of range: the changelog has " + shardCount + " shards");
    }
  }

  /** Builds a {@link KafkaReplicationLog}. Not thread-safe. */
  public static final class Builder {
    /** Default topic prefix: the changelog is {@code tandem.changelog}. */
    public static final String DEFAULT_TOPIC_PREFIX = "tandem";
    /** Default changelog retention: the store's default TTL plus one day of tolerated lag. */
    public static final Duration DEFAULT_RETENTION =
        RocksIdempotencyStore.DEFAULT_TTL.plus(Duration.ofDays(1));
    /** Default heartbeat interval. */
    public static final Duration DEFAULT_HEARTBEAT_INTERVAL = Duration.ofMillis(500);
    /** Default bound of a blocking call to the own region's broker (end offsets, positions). */
    public static final Duration DEFAULT_API_TIMEOUT = Duration.ofSeconds(5);
    /** Default bound of each blocking call of a catch-up of another region. */
    public static final Duration DEFAULT_CATCH_UP_API_TIMEOUT = Duration.ofSeconds(2);
    /** Default wait of a gated call for a shard that is still restoring. */
    public static final Duration DEFAULT_RESTORE_WAIT = Duration.ofSeconds(10);
    /**
     * Replication factor -1: the broker's {@code default.replication.factor} (KIP-464), the default
     * of created changelog topics — never 1 unless the cluster says so (issue 16: a changelog with one
     * replica loses every region's replay source with one disk).
     */
    public static final short BROKER_DEFAULT_REPLICATION_FACTOR = -1;

    IdempotencyStore store;
    final Map<RegionId, Properties> regions = new LinkedHashMap<>();
    DualPublisher publisher;
    Path spoolDirectory;
    Duration publishTimeout = Duration.ofSeconds(10);
    int shards;
    String topicPrefix = DEFAULT_TOPIC_PREFIX;
    Duration retention = DEFAULT_RETENTION;
    final Map<String, String> topicConfigs = new LinkedHashMap<>();
    boolean createTopics = true;
    short replicationFactor = BROKER_DEFAULT_REPLICATION_FACTOR;
    boolean allShards;
    Duration heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL;
    Duration pollTimeout = Duration.ofMillis(100);
    Duration apiTimeout = DEFAULT_API_TIMEOUT;
    Duration catchUpApiTimeout = DEFAULT_CATCH_UP_API_TIMEOUT;
    Duration retryBackoff = Duration.ofSeconds(1);
    Duration revokeTimeout = Duration.ofSeconds(30);
    Duration restoreWait = DEFAULT_RESTORE_WAIT;
    Duration topicTimeout = Duration.ofSeconds(15);
    TandemClock clock = TandemClock.system();
    MeterRegistry meterRegistry;
    EnvelopeSigner changelogSigner;

    private Builder() {}

    /** The local store (required); its owner's region is the local region. */
    public Builder store(IdempotencyStore store) {
      this.store = Objects.requireNonNull(store, "store");
      return this;
    }

    /**
     * Kafka client properties of one region (at least {@code bootstrap.servers}; security settings
     * too). Required for the local region and for every region the publisher writes to.
     */
    public Builder region(RegionId region, Properties clientProperties) {
      Objects.requireNonNull(region, "region");
      Properties copy = new Properties();
      copy.putAll(Objects.requireNonNull(clientProperties, "clientProperties"));
      if (!copy.containsKey(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG)) {
        throw new IllegalArgumentException("the properties of " + region + " lack bootstrap.servers");
      }
      regions.put(region, copy);
      return this;
    }

    /** Shorthand for {@link #region(RegionId, Properties)} with only {@code bootstrap.servers}. */
    public Builder region(RegionId region, String bootstrapServers) {
      Properties p = new Properties();
      p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
      return region(region, p);
    }

    /**
     * An existing publisher with one sink per region whose destination is the changelog topic's
     * cluster, ack policy {@link AckPolicy#ANY}. Not closed by this log. Otherwise give {@link
     * #spoolDirectory} and the log builds its own.
     */
    public Builder publisher(DualPublisher publisher) {
      this.publisher = Objects.requireNonNull(publisher, "publisher");
      return this;
    }

    /** The spool directory of the publisher this log builds (when no {@link #publisher} is given). */
    public Builder spoolDirectory(Path directory) {
      this.spoolDirectory = Objects.requireNonNull(directory, "directory");
      return this;
    }

    /** Publish timeout of the publisher this log builds: slower copies are spooled; default 10 s. */
    public Builder publishTimeout(Duration timeout) {
      this.publishTimeout = positive(timeout, "publishTimeout");
      return this;
    }

    /** The number of shards = changelog partitions (required). */
    public Builder shards(int shards) {
      if (shards <= 0) {
        throw new IllegalArgumentException("shards must be > 0, got " + shards);
      }
      this.shards = shards;
      return this;
    }

    /** The changelog topic is {@code <prefix>.changelog}; default {@code tandem}. */
    public Builder topicPrefix(String prefix) {
      if (prefix == null || prefix.isEmpty()) {
        throw new IllegalArgumentException("topic prefix must not be empty");
      }
      this.topicPrefix = prefix;
      return this;
    }

    /** Changelog {@code retention.ms}; must be ≥ record TTL + the longest tolerated lag (default 8 d). */
    public Builder retention(Duration retention) {
      this.retention = positive(retention, "retention");
      return this;
    }

    /** An extra config of created changelog topics (e.g. {@code segment.ms}). */
    public Builder topicConfig(String name, String value) {
      topicConfigs.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
      return this;
    }

    /** Whether to create absent changelog topics via Admin (default true). */
    public Builder createTopics(boolean create) {
      this.createTopics = create;
      return this;
    }

    /**
     * Replication factor of created changelog topics (default {@value
     * #BROKER_DEFAULT_REPLICATION_FACTOR}: the broker's {@code default.replication.factor}).
     */
    public Builder replicationFactor(short factor) {
      if (factor < 1 && factor != BROKER_DEFAULT_REPLICATION_FACTOR) {
        throw new IllegalArgumentException(
            "replication factor must be >= 1, or -1 for the broker's default, got " + factor);
      }
      this.replicationFactor = factor;
      return this;
    }

    /** Full mode: materialise every shard at build (small apps). Default: sharded, use assign. */
    public Builder materializeAllShards() {
      this.allShards = true;
      return this;
    }

    /** How often heartbeats are written (default 500 ms); {@link Duration#ZERO} disables them. */
    public Builder heartbeatInterval(Duration interval) {
      if (interval == null || interval.isNegative()) {
        throw new IllegalArgumentException("heartbeatInterval must be >= 0, got " + interval);
      }
      this.heartbeatInterval = interval;
      return this;
    }

    /** The reader's poll timeout (default 100 ms). */
    public Builder pollTimeout(Duration timeout) {
      this.pollTimeout = positive(timeout, "pollTimeout");
      return this;
    }

    /** Bound of a blocking call to the own region's broker (default 5 s). */
    public Builder apiTimeout(Duration timeout) {
      this.apiTimeout = positive(timeout, "apiTimeout");
      return this;
    }

    /** Bound of each blocking call when catching up another region (default 2 s). */
    public Builder catchUpApiTimeout(Duration timeout) {
      this.catchUpApiTimeout = positive(timeout, "catchUpApiTimeout");
      return this;
    }

    /** Pause before a failed changelog publish is retried (default 1 s). */
    public Builder retryBackoff(Duration backoff) {
      this.retryBackoff = positive(backoff, "retryBackoff");
      return this;
    }

    /**
     * How long revoke waits for the local changelog to acknowledge a shard's writes, and close for
     * pending hand-off markers to be written (default 30 s).
     */
    public Builder revokeTimeout(Duration timeout) {
      this.revokeTimeout = positive(timeout, "revokeTimeout");
      return this;
    }

    /** How long a gated call waits for a restoring shard (default 10 s). */
    public Builder restoreWait(Duration wait) {
      if (wait == null || wait.isNegative()) {
        throw new IllegalArgumentException("restoreWait must be >= 0, got " + wait);
      }
      this.restoreWait = wait;
      return this;
    }

    /** The clocks (lag, restore timing); default the system's. */
    public Builder clock(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Where metrics go; default a new {@link SimpleMeterRegistry}. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.meterRegistry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /**
     * Authenticates the changelog (default: off). The changelog's own publisher signs every copy with
     * {@code signer}'s signing key (HMAC-SHA256 over the copy's envelope, whose digest covers the
     * value), and the reader applies only copies whose signature verifies with one of {@code
     * signer}'s keys; anything else is skipped and counted ({@code tandem.replication.bad.records},
     * {@code reason=unauthenticated}). {@code signer} must hold a signing key ({@link
     * EnvelopeSigner#signingWith}). A publisher given with {@link #publisher} must be built with
     * a signer holding the same keys. Rotate as for envelopes: add the new key as accepted
     * everywhere, then sign with it, then drop the old one.
     */
    public Builder authenticate(EnvelopeSigner signer) {
      this.changelogSigner = Objects.requireNonNull(signer, "signer");
      return this;
    }

    String topic() {
      return topicPrefix + ".changelog";
    }

    /**
     * Creates the changelog topics (the local one must answer; a peer that does not is retried in
     * the background), opens the publisher if needed, registers the store listener, starts the
     * reader and the heartbeats.
     */
    public KafkaReplicationLog build() {
      Objects.requireNonNull(store, "store is required");
      if (shards <= 0) {
        throw new IllegalStateException("shards is required");
      }
      RegionId local = store.owner().region();
      if (!regions.containsKey(local)) {
        throw new IllegalStateException("no client properties for the local region " + local);
      }
      if (meterRegistry == null) {
        meterRegistry = new SimpleMeterRegistry();
      }
      ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "tandem-replication-" + local);
        t.setDaemon(true);
        return t;
      });
      try {
        ChangelogSetup setup = new ChangelogSetup(this);
        if (createTopics) {
          setup.createTopics(local, scheduler);
        }
        boolean owns = publisher == null;
        DualPublisher pub = owns ? setup.buildPublisher() : publisher;
        if (owns) {
          setup.awaitProducerLeaders();
        }
        if (pub.ackPolicy() != AckPolicy.ANY) {
          throw new IllegalStateException("the changelog publisher must use ack policy ANY (the "
              + "copies of a region that is down wait in the spool), not " + pub.ackPolicy());
        }
        if (!pub.regions().contains(local) || !regions.keySet().containsAll(pub.regions())) {
          throw new IllegalStateException("the publisher's regions " + pub.regions()
              + " must include " + local + " and have client properties here " + regions.keySet());
        }
        KafkaReplicationLog log = new KafkaReplicationLog(this, setup, pub, owns, scheduler);
        store.addListener(log.writer);
        log.start(allShards, heartbeatInterval);
        return log;
      } catch (RuntimeException e) {
        scheduler.shutdownNow();
        throw e;
      }
    }

    private static Duration positive(Duration d, String name) {
      if (d == null || d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(name + " must be positive, got " + d);
      }
      return d;
    }
  }
}
