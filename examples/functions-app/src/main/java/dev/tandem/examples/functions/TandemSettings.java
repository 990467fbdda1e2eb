package dev.tandem.examples.functions;

import dev.tandem.azure.functions.InstanceStoreDirectory;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The app settings Tandem needs (local.settings.json "Values" locally, application settings in
 * Azure); a missing or malformed one fails at start, naming it. {@link #regionConfig} maps them onto
 * the keys of {@link TandemRegionConfig}, from which the app's {@code TandemRegion} is made.
 *
 * @param leaseTimeout L: a shard's owner is silent after this long without a heartbeat
 * @param takeoverMargin added to L before the follower takes over (clock rates, GC pauses)
 * @param window W: changes per shard the owner may have unacknowledged by the peer region
 * @param serviceBusConnection this region's Service Bus connection string (the trigger's {@code
 *     ServiceBusConnection} setting), for the recheck copies of the Service Bus function; null
 *     when the setting is absent (then a follower's copy is retried by the trigger instead); it
 *     also builds the receiver whose {@code peekMessage} probes the trigger's namespace
 * @param kafkaTrigger the Kafka trigger's bootstrap servers (its {@code KafkaBrokers} setting);
 *     null when absent
 */
record TandemSettings(RegionId region, RegionId peer, String kafkaLocal, String kafkaPeer,
    int shards, Path storeDirectory, Duration leaseTimeout, Duration takeoverMargin, int window,
    String serviceBusConnection, String kafkaTrigger) {

  /** App setting names with defaults (the README lists them). */
  static final String LEASE_TIMEOUT = "TANDEM_LEASE_TIMEOUT";
  static final String TAKEOVER_MARGIN = "TANDEM_TAKEOVER_MARGIN";
  static final String WINDOW = "TANDEM_WINDOW";
  /** The store's base directory on the instance's local disk; optional. */
  static final String STORE_DIR = "TANDEM_STORE_DIR";
  /** The Service Bus trigger's connection setting; the recheck sender uses the same namespace. */
  static final String SERVICE_BUS_CONNECTION = "ServiceBusConnection";
  /** The Kafka trigger's bootstrap servers ({@code brokerList = "%KafkaBrokers%"}). */
  static final String KAFKA_BROKERS = "KafkaBrokers";
  /** Several heartbeat timer periods (5 s): one late timer run is not a silence. */
  static final Duration DEFAULT_LEASE_TIMEOUT = Duration.ofSeconds(20);
  static final Duration DEFAULT_TAKEOVER_MARGIN = Duration.ofSeconds(10);
  static final int DEFAULT_WINDOW = 1000;

  /** Settings without a {@code KafkaBrokers} value (the Kafka trigger's cluster is not probed). */
  TandemSettings(RegionId region, RegionId peer, String kafkaLocal, String kafkaPeer, int shards,
      Path storeDirectory, Duration leaseTimeout, Duration takeoverMargin, int window,
      String serviceBusConnection) {
    this(region, peer, kafkaLocal, kafkaPeer, shards, storeDirectory, leaseTimeout, takeoverMargin,
        window, serviceBusConnection, null);
  }

  TandemSettings {
    if (shards <= 0) {
      throw new IllegalStateException("app setting TANDEM_SHARDS must be > 0, got " + shards);
    }
    if (window <= 0) {
      throw new IllegalStateException("app setting " + WINDOW + " must be > 0, got " + window);
    }
  }

  /**
   * How long a claim lasts without renewal: about the {@code orders} queue's lock duration (1 min),
   * not above {@code functionTimeout}. A running handler renews its claim every third of it, so the
   * lease only decides how long the message of a crashed or timed-out invocation waits (one lease;
   * its recheck copy comes back then) before it runs again.
   */
  static final Duration CLAIM_LEASE = Duration.ofMinutes(1);
  /** A shard's owner that makes no progress for this long while a copy waits is taken over. */
  static final Duration STUCK_AFTER = Duration.ofMinutes(2);

  /**
   * These settings as {@link TandemRegionConfig} keys: the two regions and their Kafka clusters, the
   * state directory (this instance's own, {@link InstanceStoreDirectory}), the shards, AUTOMATIC
   * ownership with L and margin, W, the heartbeat timer's period as the heartbeat interval (checked
   * against L by the region), and the claim lease.
   *
   * @param instanceName the owner identity of this instance ({@link
   *     InstanceStoreDirectory#instanceName})
   */
  Properties regionConfig(String instanceName) {
    Properties p = new Properties();
    p.put(TandemRegionConfig.REGIONS_CONFIG, region.name() + "," + peer.name());
    p.put(TandemRegionConfig.REGION_CONFIG, region.name());
    p.put(TandemRegionConfig.REGION_PREFIX + region.name() + ".bootstrap.servers", kafkaLocal);
    p.put(TandemRegionConfig.REGION_PREFIX + peer.name() + ".bootstrap.servers", kafkaPeer);
    p.put(TandemRegionConfig.STATE_DIR_CONFIG, storeDirectory.toString());
    p.put(TandemRegionConfig.INSTANCE_CONFIG, instanceName);
    p.put(TandemRegionConfig.SHARDS_CONFIG, String.valueOf(shards));
    p.put(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG, String.valueOf(leaseTimeout.toMillis()));
    p.put(TandemRegionConfig.TAKEOVER_MARGIN_MS_CONFIG, String.valueOf(takeoverMargin.toMillis()));
    p.put(TandemRegionConfig.STUCK_AFTER_MS_CONFIG, String.valueOf(STUCK_AFTER.toMillis()));
    p.put(TandemRegionConfig.WINDOW_CONFIG, String.valueOf(window));
    p.put(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG,
        String.valueOf(TandemApp.HEARTBEAT_PERIOD.toMillis()));
    p.put(TandemRegionConfig.CLAIM_LEASE_MS_CONFIG, String.valueOf(CLAIM_LEASE.toMillis()));
    return p;
  }

  /**
   * The Kafka trigger's cluster when it is not this region's changelog cluster: then the heartbeat
   * must probe it too (a trigger cluster down while the changelog answers would otherwise leave
   * this region holding its shards). Empty when {@code KafkaBrokers} is absent or names the same
   * bootstrap servers as {@code TANDEM_KAFKA_LOCAL} (the changelog probe already asks it).
   */
  Optional<String> kafkaTriggerCluster() {
    if (kafkaTrigger == null || kafkaTrigger.isBlank()
        || servers(kafkaTrigger).equals(servers(kafkaLocal))) {
      return Optional.empty();
    }
    return Optional.of(kafkaTrigger.strip());
  }

  /** A bootstrap list as a set of host:port (order, spaces, case name no other cluster). */
  private static Set<String> servers(String bootstrap) {
    Set<String> s = new TreeSet<>();
    for (String server : bootstrap.split(",")) {
      if (!server.isBlank()) {
        s.add(server.strip().toLowerCase(Locale.ROOT));
      }
    }
    return s;
  }

  static TandemSettings from(Function<String, String> env) {
    return new TandemSettings(
        RegionId.of(required(env, "TANDEM_REGION")),
        RegionId.of(required(env, "TANDEM_PEER_REGION")),
        required(env, "TANDEM_KAFKA_LOCAL"),
        required(env, "TANDEM_KAFKA_PEER"),
        integer(env, "TANDEM_SHARDS", 16),
        storeDirectory(env),
        duration(env, LEASE_TIMEOUT, DEFAULT_LEASE_TIMEOUT),
        duration(env, TAKEOVER_MARGIN, DEFAULT_TAKEOVER_MARGIN),
        integer(env, WINDOW, DEFAULT_WINDOW),
        orDefault(env, SERVICE_BUS_CONNECTION, null),
        orDefault(env, KAFKA_BROKERS, null));
  }

  /**
   * This instance's own directory on its local disk ({@link InstanceStoreDirectory}): by default
   * {@code <local temp>/tandem/<instance id>}; {@code TANDEM_STORE_DIR} on the platform gets the
   * instance id appended, and is refused on storage the app's instances share ({@code HOME}).
   */
  private static Path storeDirectory(Function<String, String> env) {
    String configured = env.apply(STORE_DIR);
    try {
      return InstanceStoreDirectory.resolve(env, configured,
          Path.of(System.getProperty("java.io.tmpdir"))).directory();
    } catch (IllegalStateException e) {
      if (configured == null || configured.isBlank()) {
        throw e; // not about the setting (no instance id, worker process count): as it is
      }
      throw new IllegalStateException("app setting " + STORE_DIR + ": " + e.getMessage(), e);
    }
  }

  /** An ISO-8601 duration ({@code PT20S}) or a number of seconds ({@code 20}). */
  private static Duration duration(Function<String, String> env, String name, Duration fallback) {
    String v = env.apply(name);
    if (v == null || v.isBlank()) {
      return fallback;
    }
    Duration d;
    try {
      d = v.strip().chars().allMatch(Character::isDigit)
          ? Duration.ofSeconds(Long.parseLong(v.strip()))
          : Duration.parse(v.strip());
    } catch (DateTimeParseException | NumberFormatException e) {
      throw new IllegalStateException("app setting " + name + " is not a duration (PT20S or 20): "
          + v, e);
    }
    if (d.isNegative() || d.isZero()) {
      throw new IllegalStateException("app setting " + name + " must be > 0, got " + v);
    }
    return d;
  }

  private static int integer(Function<String, String> env, String name, int fallback) {
    String v = env.apply(name);
    if (v == null || v.isBlank()) {
      return fallback;
    }
    try {
      return Integer.parseInt(v.strip());
    } catch (NumberFormatException e) {
      throw new IllegalStateException("app setting " + name + " is not a number: " + v, e);
    }
  }

  static TandemSettings fromEnvironment() {
    Map<String, String> env = System.getenv();
    return from(env::get);
  }

  private static String required(Function<String, String> env, String name) {
    String v = env.apply(name);
    if (v == null || v.isBlank()) {
      throw new IllegalStateException("app setting " + name + " is missing (see "
          + "local.settings.json.example)");
    }
    return v;
  }

  private static String orDefault(Function<String, String> env, String name, String fallback) {
    String v = env.apply(name);
    return v == null || v.isBlank() ? fallback : v;
  }
}
