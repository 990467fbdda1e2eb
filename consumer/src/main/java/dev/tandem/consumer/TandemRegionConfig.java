package dev.tandem.consumer;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.TandemClientConfig;
import dev.tandem.store.RocksIdempotencyStore;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;

/**
 * The configuration of a {@link TandemRegion} — one declared key table ({@link #configDef()}: Kafka's
 * {@link ConfigDef}, with types, defaults, validators and documentation; every {@code *.ms} key is
 * milliseconds), built from {@code Properties}/{@code Map} or by {@link TandemRegion.Builder} (whose
 * methods set the same keys). It extends the publisher's shared definitions ({@link
 * TandemClientConfig#baseConfigDef()}: {@code tandem.regions} and the per-region Kafka client settings
 * {@code tandem.region.<r>.<kafka key>}).
 *
 * <p>Every key not starting with {@code tandem.} is a setting of the application's Kafka consumers
 * made by {@link TandemRegion#kafkaConsumer} ({@code group.id}, {@code max.poll.records}, ...); the own
 * region's {@code tandem.region.<r>.*} settings (bootstrap, security) are added to them.
 *
 * <p>Checked at construction, so a mistake fails before anything is opened, with a {@link
 * ConfigException} naming the key and its value:
 *
 * <ul>
 *   <li>types, ranges, allowed values, required keys; an unknown {@code tandem.*} key;
 *   <li>{@code tandem.region} is one of {@code tandem.regions};
 *   <li>{@code tandem.guarantee=full} (the default) needs shard ownership: {@code
 *       tandem.ownership.policy=none} is refused — ask for {@code tandem.guarantee=detect-only} by
 *       name;
 *   <li>the heartbeat interval is at most half of L ({@code tandem.lease.timeout.ms}); {@code
 *       revalidateAfter} is L itself (no key: it is derived);
 *   <li>the handler timeout exceeds the heartbeat interval;
 *   <li>STALE margin below the record TTL, and the claim lease below TTL − STALE margin (a claim
 *       expires well before its record can);
 *   <li>changelog retention at least the record TTL (a replica restored from the changelog must see
 *       every id the TTL still covers);
 *   <li>{@code tandem.ownership.policy=witness} names its witness ({@code
 *       tandem.witness.bootstrap.servers}, or one given to the builder);
 *   <li>a {@code tandem.witness.<kafka key>} is a key Kafka's producer or consumer knows.
 * </ul>
 *
 * <p><b>The witness cluster's client settings.</b> {@code tandem.witness.<kafka key>} (besides the
 * declared {@code tandem.witness.topic} and {@code tandem.witness.lease.ms}) reaches the witness's
 * producer and consumer, as {@code tandem.region.<r>.<kafka key>} reaches a region's clients: {@code
 * tandem.witness.bootstrap.servers}, {@code tandem.witness.security.protocol}, {@code
 * tandem.witness.sasl.*}, {@code tandem.witness.ssl.*} for a TLS/SASL witness cluster.
 */
public class TandemRegionConfig extends TandemClientConfig {

  /** This process's region, one of {@code tandem.regions} (required). */
  public static final String REGION_CONFIG = "tandem.region";
  /**
   * Directory of this process's Tandem state (required): {@code store/} (RocksDB), {@code
   * changelog-spool/}, {@code instance.id}.
   */
  public static final String STATE_DIR_CONFIG = "tandem.state.dir";
  /** This instance's name (default: persisted in {@code <state.dir>/instance.id}). */
  public static final String INSTANCE_CONFIG = "tandem.instance";
  /** Number of shards = partitions of every consumed topic and of the changelog (required). */
  public static final String SHARDS_CONFIG = "tandem.shards";
  /** {@code full} (default) or {@code detect-only}. */
  public static final String GUARANTEE_CONFIG = "tandem.guarantee";
  /** {@code automatic} (default), {@code witness}, {@code manual}; {@code none} is refused. */
  public static final String OWNERSHIP_POLICY_CONFIG = "tandem.ownership.policy";
  /** L: a lease not renewed for L + margin is taken over (AUTOMATIC); default 6000. */
  public static final String LEASE_TIMEOUT_MS_CONFIG = "tandem.lease.timeout.ms";
  /** The takeover margin added to L; default 3000. */
  public static final String TAKEOVER_MARGIN_MS_CONFIG = "tandem.takeover.margin.ms";
  /** AUTOMATIC's no-progress takeover threshold; default 60000. */
  public static final String STUCK_AFTER_MS_CONFIG = "tandem.stuck.after.ms";
  /** How often owners renew their leases and replicas send heartbeats; default 1000. */
  public static final String HEARTBEAT_INTERVAL_MS_CONFIG = "tandem.heartbeat.interval.ms";
  /** A handler running longer counts as stuck (its leases lapse); default 30000. */
  public static final String HANDLER_TIMEOUT_MS_CONFIG = "tandem.handler.timeout.ms";
  /** How long a claim lives without renewal; default 60000. */
  public static final String CLAIM_LEASE_MS_CONFIG = "tandem.claim.lease.ms";
  /** Record time-to-live of the store; default 7 days. */
  public static final String RECORD_TTL_MS_CONFIG = "tandem.record.ttl.ms";
  /** Copies older than TTL − this are dead-lettered STALE; default min(1 h, TTL/10). */
  public static final String STALE_MARGIN_MS_CONFIG = "tandem.stale.margin.ms";
  /** Claims of one generation before it is dead-lettered; default 5. */
  public static final String MAX_ATTEMPTS_CONFIG = "tandem.store.max.attempts";
  /** fsync every store write; default false. */
  public static final String STORE_SYNC_CONFIG = "tandem.store.sync";
  /** {@code all} (default: every shard in this process's store) or {@code assigned}. */
  public static final String STORE_SHARDS_CONFIG = "tandem.store.shards";
  /** Changelog topic prefix: the changelog is {@code <prefix>.changelog}; default {@code tandem}. */
  public static final String CHANGELOG_PREFIX_CONFIG = "tandem.changelog.topic.prefix";
  /** Changelog {@code retention.ms}; default TTL + 1 day. */
  public static final String CHANGELOG_RETENTION_MS_CONFIG = "tandem.changelog.retention.ms";
  /** Replication factor of created changelog topics; default -1 (the broker's default). */
  public static final String CHANGELOG_REPLICATION_FACTOR_CONFIG =
      "tandem.changelog.replication.factor";
  /** Changelog copy timeout before spooling; default 10000. */
  public static final String CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG =
      "tandem.changelog.publish.timeout.ms";
  /** The replication window W (changes per shard); default 1000. */
  public static final String WINDOW_CONFIG = "tandem.replication.window";
  /** Bound of each changelog catch-up at takeover; default 10000. */
  public static final String CATCH_UP_TIMEOUT_MS_CONFIG = "tandem.catchup.timeout.ms";
  /** Automatic failback after the home region is healthy this long; default off. */
  public static final String FAILBACK_AFTER_MS_CONFIG = "tandem.failback.after.ms";
  /** How long a follower holds a copy before re-sending it to the owner region; default 30000. */
  public static final String MAX_HOLD_MS_CONFIG = "tandem.max.hold.ms";
  /** Bound of offset commits; default 30000. */
  public static final String COMMIT_TIMEOUT_MS_CONFIG = "tandem.commit.timeout.ms";
  /** Bound of a rebalance's revoke callback; default 60000. */
  public static final String REVOKE_TIMEOUT_MS_CONFIG = "tandem.revoke.timeout.ms";
  /** How long a partition handed off unflushed waits for its marker; default 300000. */
  public static final String HANDOFF_TIMEOUT_MS_CONFIG = "tandem.handoff.timeout.ms";
  /** The WITNESS policy's Kafka cluster (a third location). */
  public static final String WITNESS_BOOTSTRAP_CONFIG = "tandem.witness.bootstrap.servers";
  /** The witness topic; default {@code tandem.witness}. */
  public static final String WITNESS_TOPIC_CONFIG = "tandem.witness.topic";
  /** The witness lease; default 10000. */
  public static final String WITNESS_LEASE_MS_CONFIG = "tandem.witness.lease.ms";
  /**
   * Prefix of the witness cluster's Kafka client settings: {@code tandem.witness.<kafka key>} (the
   * declared witness keys aside).
   */
  public static final String WITNESS_CLIENT_PREFIX = "tandem.witness.";

  /** Values of {@value #GUARANTEE_CONFIG}. */
  public static final String GUARANTEE_FULL = "full";
  /** Duplicates across regions are only detected and counted, not prevented. */
  public static final String GUARANTEE_DETECT_ONLY = "detect-only";

  private static final ConfigDef CONFIG = configDef();

  /** The region's key table: {@link TandemClientConfig#baseConfigDef()} plus the region's keys. */
  public static ConfigDef configDef() {
    return new ConfigDef(baseConfigDef())
        .define(REGION_CONFIG, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, regionName(),
            Importance.HIGH, "This process's region, one of tandem.regions.")
        .define(STATE_DIR_CONFIG, Type.STRING, ConfigDef.NO_DEFAULT_VALUE,
            new ConfigDef.NonEmptyString(), Importance.HIGH,
            "Directory of this process's Tandem state: store/ (the RocksDB replica), "
                + "changelog-spool/ (changelog copies a region did not acknowledge yet) and "
                + "instance.id. One process at a time per directory: a region holds "
                + "<dir>/.lock while open and a second one is refused naming the directory.")
        .define(SHARDS_CONFIG, Type.INT, ConfigDef.NO_DEFAULT_VALUE, Range.atLeast(1),
            Importance.HIGH, "Number of shards: the partition count of every consumed topic "
                + "(partition n is shard n) and of the changelog topic.")
        .define(INSTANCE_CONFIG, Type.STRING, null, nullOrNonBlank(), Importance.MEDIUM,
            "This instance's name (claims and leases carry it). Default: read from "
                + "<tandem.state.dir>/instance.id, created on first start as <host>-<random>: unique "
                + "per process (one process per state directory) and stable across restarts on the "
                + "same directory.")
        .define(GUARANTEE_CONFIG, Type.STRING, GUARANTEE_FULL,
            oneOf(GUARANTEE_FULL, GUARANTEE_DETECT_ONLY), Importance.HIGH,
            "full: each shard has one owner region (tandem.ownership.policy), a silent owner is "
                + "taken over with a reported duplicate bound. detect-only: no ownership, both regions "
                + "process what they receive; a duplicate across regions is only detected and "
                + "counted once the replicas meet. Only by name: leaving out ownership is refused.")
        .define(OWNERSHIP_POLICY_CONFIG, Type.STRING, "automatic",
            oneOf("automatic", "witness", "manual", "none"), Importance.HIGH,
            "Takeover policy of shard ownership: automatic (after L + margin of silence), witness "
                + "(only the witness lease holder processes), manual (only an operator's move). "
                + "none is refused under tandem.guarantee=full.")
        .define(LEASE_TIMEOUT_MS_CONFIG, Type.LONG, 6_000L, Range.atLeast(1), Importance.HIGH,
            "L (ms): an owner silent for L + margin is taken over (automatic); an owner silent for "
                + "L re-reads the changelogs before it processes again (revalidateAfter = L).")
        .define(TAKEOVER_MARGIN_MS_CONFIG, Type.LONG, 3_000L, Range.atLeast(0), Importance.MEDIUM,
            "The margin (ms) added to L before a takeover (automatic).")
        .define(STUCK_AFTER_MS_CONFIG, Type.LONG, 60_000L, Range.atLeast(1), Importance.LOW,
            "Takeover (automatic) of an owner that heartbeats without progress for this long (ms) "
                + "while the follower holds one of its messages.")
        .define(HEARTBEAT_INTERVAL_MS_CONFIG, Type.LONG, 1_000L, Range.atLeast(1), Importance.MEDIUM,
            "How often (ms) owners renew their shard leases and the replica sends heartbeats. At "
                + "most half of tandem.lease.timeout.ms.")
        .define(HANDLER_TIMEOUT_MS_CONFIG, Type.LONG, 30_000L, Range.atLeast(1), Importance.MEDIUM,
            "A handler call running longer (ms) counts as stuck, not busy: the leases lapse and the "
                + "peer takes over after handler timeout + L + margin.")
        .define(CLAIM_LEASE_MS_CONFIG, Type.LONG, 60_000L, Range.atLeast(1), Importance.MEDIUM,
            "How long (ms) a claim lives without renewal: a killed instance's message runs again in "
                + "its region after this. Below TTL - STALE margin.")
        .define(RECORD_TTL_MS_CONFIG, Type.LONG, RocksIdempotencyStore.DEFAULT_TTL.toMillis(),
            Range.atLeast(RocksIdempotencyStore.TTL_BUCKETS * 1000L), Importance.MEDIUM,
            "Record time-to-live (ms) of the store; must exceed cross-region lag + redelivery delay.")
        .define(STALE_MARGIN_MS_CONFIG, Type.LONG, null, Importance.LOW,
            "Copies published longer than TTL - this (ms) ago are dead-lettered STALE. Default "
                + "min(1 h, TTL/10).")
        .define(MAX_ATTEMPTS_CONFIG, Type.INT, RocksIdempotencyStore.DEFAULT_MAX_ATTEMPTS,
            Range.atLeast(1), Importance.LOW,
            "Claims of one message before it is dead-lettered.")
        .define(STORE_SYNC_CONFIG, Type.BOOLEAN, false, Importance.LOW,
            "fsync every store write (the WAL is on either way).")
        .define(STORE_SHARDS_CONFIG, Type.STRING, "all", oneOf("all", "assigned"),
            Importance.MEDIUM, "all: this process's replica holds every shard (any number of "
                + "consumers per region object). assigned: only the partitions Kafka assigns "
                + "(restore on assign, flush on revoke); one Kafka consumer per region object.")
        .define(CHANGELOG_PREFIX_CONFIG, Type.STRING, "tandem", new ConfigDef.NonEmptyString(),
            Importance.LOW, "The changelog topic is <prefix>.changelog in every region.")
        .define(CHANGELOG_RETENTION_MS_CONFIG, Type.LONG, null, Importance.LOW,
            "retention.ms (ms) of created changelog topics; at least the record TTL. Default TTL + "
                + "1 day (the longest tolerated lag).")
        .define(CHANGELOG_REPLICATION_FACTOR_CONFIG, Type.SHORT, (short) -1,
            replicationFactor(), Importance.MEDIUM,
            "Replication factor of created changelog topics; -1: the broker's "
                + "default.replication.factor.")
        .define(CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG, Type.LONG, 10_000L, Range.atLeast(1),
            Importance.LOW, "A changelog copy not acknowledged in this time (ms) is spooled.")
        .define(WINDOW_CONFIG, Type.INT, 1000, Range.atLeast(1), Importance.MEDIUM,
            "The replication window W: an owner runs at most W changes per shard ahead of the peer "
                + "(while reachable); part of the duplicate bound.")
        .define(CATCH_UP_TIMEOUT_MS_CONFIG, Type.LONG, 10_000L, Range.atLeast(1), Importance.LOW,
            "Bound (ms) of each changelog catch-up at takeover.")
        .define(FAILBACK_AFTER_MS_CONFIG, Type.LONG, null, Importance.LOW,
            "Hand a shard back to its initial owner region once that region has been healthy this "
                + "long (ms). Default: off (failback by command).")
        .define(MAX_HOLD_MS_CONFIG, Type.LONG, 30_000L, Range.atLeast(1), Importance.LOW,
            "How long (ms) a follower holds a copy before re-sending it to the owner region.")
        .define(COMMIT_TIMEOUT_MS_CONFIG, Type.LONG, 30_000L, Range.atLeast(1), Importance.LOW,
            "Bound (ms) of offset commits.")
        .define(REVOKE_TIMEOUT_MS_CONFIG, Type.LONG, 60_000L, Range.atLeast(1), Importance.LOW,
            "Bound (ms) of a rebalance's revoke callback; below the consumer's "
                + "max.poll.interval.ms (checked). The replication log's own revoke wait (and its "
                + "close's wait for hand-off markers) is half of it.")
        .define(HANDOFF_TIMEOUT_MS_CONFIG, Type.LONG, 300_000L, Range.atLeast(0), Importance.LOW,
            "How long (ms) a partition handed off unflushed waits for its previous holder's marker.")
        .define(WITNESS_BOOTSTRAP_CONFIG, Type.STRING, null, nullOrNonBlank(), Importance.MEDIUM,
            "The witness Kafka cluster of tandem.ownership.policy=witness (a third location). Its "
                + "other client settings follow as tandem.witness.<kafka key> (security.protocol, "
                + "sasl.*, ssl.* ... for a TLS/SASL cluster).")
        .define(WITNESS_TOPIC_CONFIG, Type.STRING, "tandem.witness", new ConfigDef.NonEmptyString(),
            Importance.LOW, "The witness's single-partition topic.")
        .define(WITNESS_LEASE_MS_CONFIG, Type.LONG, 10_000L, Range.atLeast(1), Importance.LOW,
            "How long (ms) a witness grant lasts.");
  }

  private final boolean witnessGiven;

  /** Parses and validates {@code originals} (see the class comment). */
  public TandemRegionConfig(Map<?, ?> originals) {
    this(originals, false);
  }

  /**
   * As {@link #TandemRegionConfig(Map)}; {@code witnessGiven}: a {@code TakeoverWitness} object is
   * given beside the keys (so {@code tandem.ownership.policy=witness} needs no witness key).
   */
  TandemRegionConfig(Map<?, ?> originals, boolean witnessGiven) {
    this(CONFIG, originals, witnessGiven);
  }

  /**
   * For a configuration that extends the region's key table ({@code new
   * ConfigDef(TandemRegionConfig.configDef()).define(...)}, e.g. an interceptor's or a transport's
   * own keys): the same checks, against {@code definition}.
   */
  protected TandemRegionConfig(ConfigDef definition, Map<?, ?> originals, boolean witnessGiven) {
    super(definition, originals, Set.of(WITNESS_CLIENT_PREFIX));
    this.witnessGiven = witnessGiven;
    checkCrossFieldRules();
  }

  private void checkCrossFieldRules() {
    // a misspelt witness key must not be handed to Kafka, which would only log it as unused
    witnessClientProperties();
    String region = getString(REGION_CONFIG).trim();
    if (!regions().contains(RegionId.of(region))) {
      throw new ConfigException(REGION_CONFIG, region,
          "the local region must be one of " + REGIONS_CONFIG + "=" + String.join(",",
              getList(REGIONS_CONFIG)));
    }
    if (!detectOnly() && policyName().equals("none")) {
      throw new ConfigException(OWNERSHIP_POLICY_CONFIG, getString(OWNERSHIP_POLICY_CONFIG),
          "a consumer without shard ownership only detects duplicates across regions, it does not "
              + "prevent them; set " + GUARANTEE_CONFIG + "=" + GUARANTEE_DETECT_ONLY
              + " to ask for that by name");
    }
    if (!detectOnly() && policyName().equals("witness") && !witnessGiven
        && getString(WITNESS_BOOTSTRAP_CONFIG) == null) {
      throw new ConfigException(OWNERSHIP_POLICY_CONFIG, getString(OWNERSHIP_POLICY_CONFIG),
          "the witness policy needs a witness: set " + WITNESS_BOOTSTRAP_CONFIG
              + " (a third Kafka cluster) or give one to TandemRegion.Builder.witness(...)");
    }
    long l = getLong(LEASE_TIMEOUT_MS_CONFIG);
    long hb = getLong(HEARTBEAT_INTERVAL_MS_CONFIG);
    if (hb * 2 > l) {
      throw new ConfigException(HEARTBEAT_INTERVAL_MS_CONFIG, hb, "the heartbeat interval must be "
          + "at most half of " + LEASE_TIMEOUT_MS_CONFIG + "=" + l
          + " (a lease renewed less often lapses under one late heartbeat)");
    }
    long handler = getLong(HANDLER_TIMEOUT_MS_CONFIG);
    if (handler <= hb) {
      throw new ConfigException(HANDLER_TIMEOUT_MS_CONFIG, handler, "must be longer than "
          + HEARTBEAT_INTERVAL_MS_CONFIG + "=" + hb);
    }
    long ttl = getLong(RECORD_TTL_MS_CONFIG);
    long stale = staleMargin().toMillis();
    if (getLong(STALE_MARGIN_MS_CONFIG) != null && stale < 0) {
      throw new ConfigException(STALE_MARGIN_MS_CONFIG, stale, "must be >= 0");
    }
    if (stale >= ttl) {
      throw new ConfigException(STALE_MARGIN_MS_CONFIG, stale, "must be below "
          + RECORD_TTL_MS_CONFIG + "=" + ttl);
    }
    long claim = getLong(CLAIM_LEASE_MS_CONFIG);
    if (claim >= ttl - stale) {
      throw new ConfigException(CLAIM_LEASE_MS_CONFIG, claim, "must be below " + RECORD_TTL_MS_CONFIG
          + " - " + STALE_MARGIN_MS_CONFIG + " = " + ttl + " - " + stale + " (a claim must expire "
          + "well before the record that holds it)");
    }
    Long retention = getLong(CHANGELOG_RETENTION_MS_CONFIG);
    if (retention != null && retention < ttl) {
      throw new ConfigException(CHANGELOG_RETENTION_MS_CONFIG, retention, "must be at least "
          + RECORD_TTL_MS_CONFIG + "=" + ttl + " (a replica restored from the changelog would miss "
          + "ids the TTL still covers and run them again)");
    }
    Long failback = getLong(FAILBACK_AFTER_MS_CONFIG);
    if (failback != null && failback <= 0) {
      throw new ConfigException(FAILBACK_AFTER_MS_CONFIG, failback, "must be > 0");
    }
    // the consumer's revoke callback runs inside poll(): a bound at or above max.poll.interval.ms
    // would let the group evict the consumer while it still waits
    Properties consumer = new Properties();
    consumer.putAll(nonTandemOriginals());
    consumer.putAll(regionClientProperties(region()));
    checkRevokeBelowMaxPoll(consumer);
    String instance = getString(INSTANCE_CONFIG);
    if (instance != null && (instance.isBlank() || instance.length() > 128)) {
      throw new ConfigException(INSTANCE_CONFIG, instance, "an instance name is 1-128 characters");
    }
  }

  /**
   * {@code tandem.revoke.timeout.ms} below the {@code max.poll.interval.ms} of {@code consumer} (a
   * Kafka consumer's settings; Kafka's default when unset).
   */
  void checkRevokeBelowMaxPoll(Properties consumer) {
    Object maxPoll = consumer.get(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG);
    long maxPollMs;
    try {
      maxPollMs = maxPoll == null ? DEFAULT_MAX_POLL_INTERVAL_MS
          : Long.parseLong(maxPoll.toString().trim());
    } catch (NumberFormatException e) {
      throw new ConfigException(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, maxPoll, "not a number");
    }
    long revoke = getLong(REVOKE_TIMEOUT_MS_CONFIG);
    if (revoke >= maxPollMs) {
      throw new ConfigException(REVOKE_TIMEOUT_MS_CONFIG, revoke, "must be below the consumer's "
          + ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG + "=" + maxPollMs + " (the revoke callback "
          + "runs inside poll; the group would evict the consumer while it waits)");
    }
  }

  /**
   * The witness cluster's Kafka client settings: every {@code tandem.witness.<kafka key>} given
   * (including {@code bootstrap.servers}), without the prefix; the declared {@code
   * tandem.witness.topic} and {@code tandem.witness.lease.ms} are not client settings.
   *
   * @throws ConfigException naming a {@code tandem.witness.*} key that no Kafka producer or
   *     consumer knows
   */
  public Properties witnessClientProperties() {
    Properties p = new Properties();
    Set<String> kafkaKeys = new java.util.HashSet<>(ProducerConfig.configNames());
    kafkaKeys.addAll(ConsumerConfig.configNames());
    for (Map.Entry<String, Object> e : originals().entrySet()) {
      String key = e.getKey();
      if (!key.startsWith(WITNESS_CLIENT_PREFIX) || key.equals(WITNESS_TOPIC_CONFIG)
          || key.equals(WITNESS_LEASE_MS_CONFIG)) {
        continue;
      }
      String clientKey = key.substring(WITNESS_CLIENT_PREFIX.length());
      if (!kafkaKeys.contains(clientKey)) {
        // the value is not shown: a misspelt sasl.jaas.config key would print its password
        throw new ConfigException(key, "(not shown)", "unknown witness setting: "
            + WITNESS_CLIENT_PREFIX + "<kafka key> takes a Kafka producer or consumer key "
            + "(security.protocol, sasl.*, ssl.*, ...); '" + clientKey + "' is none, and the "
            + "declared witness keys are "
            + WITNESS_BOOTSTRAP_CONFIG + ", " + WITNESS_TOPIC_CONFIG + ", "
            + WITNESS_LEASE_MS_CONFIG);
      }
      if (e.getValue() != null) {
        p.put(clientKey, e.getValue());
      }
    }
    return p;
  }

  /** This process's region. */
  public RegionId region() {
    return RegionId.of(getString(REGION_CONFIG).trim());
  }

  /** Whether {@code tandem.guarantee=detect-only} was asked for. */
  public boolean detectOnly() {
    return getString(GUARANTEE_CONFIG).trim().toLowerCase(Locale.ROOT).equals(GUARANTEE_DETECT_ONLY);
  }

  /** The ownership policy's name, lower case. */
  public String policyName() {
    return getString(OWNERSHIP_POLICY_CONFIG).trim().toLowerCase(Locale.ROOT);
  }

  /** The value of a {@code *.ms} key as a duration (null when unset and without default). */
  public Duration duration(String key) {
    Long ms = getLong(key);
    return ms == null ? null : Duration.ofMillis(ms);
  }

  /** The STALE margin: as set, else min(1 h, TTL / 10) (the {@code OnceProcessor} default). */
  public Duration staleMargin() {
    Long set = getLong(STALE_MARGIN_MS_CONFIG);
    if (set != null) {
      return Duration.ofMillis(set);
    }
    Duration tenth = Duration.ofMillis(getLong(RECORD_TTL_MS_CONFIG)).dividedBy(10);
    return tenth.compareTo(Duration.ofHours(1)) < 0 ? tenth : Duration.ofHours(1);
  }

  /** The changelog retention: as set, else TTL + 1 day. */
  public Duration changelogRetention() {
    Long set = getLong(CHANGELOG_RETENTION_MS_CONFIG);
    return set != null ? Duration.ofMillis(set)
        : Duration.ofMillis(getLong(RECORD_TTL_MS_CONFIG)).plus(Duration.ofDays(1));
  }

  /** Whether the replica holds every shard ({@code tandem.store.shards=all}). */
  public boolean allShards() {
    return getString(STORE_SHARDS_CONFIG).trim().equalsIgnoreCase("all");
  }

  /** The key table as reStructuredText (consumer/CONFIG.rst is generated from it). */
  public static String toRst() {
    return CONFIG.toRst();
  }

  /** The key table as an HTML table. */
  public static String toHtml() {
    return CONFIG.toHtmlTable();
  }

  /** Kafka's default {@code max.poll.interval.ms}. */
  static final long DEFAULT_MAX_POLL_INTERVAL_MS = 300_000L;

  /** Unset (null) or a non-blank string: an empty value is a mistake, never "unset". */
  private static ConfigDef.Validator nullOrNonBlank() {
    return new ConfigDef.Validator() {
      @Override
      public void ensureValid(String name, Object value) {
        if (value != null && value.toString().isBlank()) {
          throw new ConfigException(name, value, "must not be empty (remove the key to leave it "
              + "unset)");
        }
      }

      @Override
      public String toString() {
        return "unset or non-empty";
      }
    };
  }

  private static ConfigDef.Validator replicationFactor() {
    return new ConfigDef.Validator() {
      @Override
      public void ensureValid(String name, Object value) {
        short v = (Short) value;
        if (v != -1 && v < 1) {
          throw new ConfigException(name, value, "-1 (the broker's default) or at least 1");
        }
      }

      @Override
      public String toString() {
        return "-1 or [1,...]";
      }
    };
  }
}
