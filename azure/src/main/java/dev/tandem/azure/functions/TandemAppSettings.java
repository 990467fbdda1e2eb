package dev.tandem.azure.functions;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A function app's Tandem configuration read from its <b>app settings</b> (environment variables:
 * {@code local.settings.json} "Values" locally, application settings in Azure), mapped onto the key
 * table of {@link TandemRegionConfig} by one rule, with what the platform gives filled in; it builds
 * the process's {@link TandemRegion}:
 *
 * <pre>{@code
 * static final TandemAppSettings SETTINGS = TandemAppSettings.fromEnvironment();
 * static final TandemRegion REGION = SETTINGS.region();
 * }</pre>
 *
 * <p>(Over 500 lines on purpose: it is one concept, the mapping between app settings and the key
 * table — the name rule both ways, the Functions defaults, errors that name the setting to change,
 * and the generated settings table — whose pieces share the same names and origins; a region's
 * cluster named by a connection setting, a concept of its own, is {@link ConnectionSetting}.)
 *
 * <p><b>The rule.</b> A key {@code tandem.a.b.c} is the app setting {@code TANDEM_A_B_C}: upper case,
 * every {@code .} an {@code _} (App Service on Linux turns periods in setting names into
 * underscores, so names carry none). E.g. {@code TANDEM_LEASE_TIMEOUT_MS} is {@code
 * tandem.lease.timeout.ms}, {@code TANDEM_REGIONS} is {@code tandem.regions}. Per region {@code r}
 * (its name upper case, {@code -} as {@code _}):
 *
 * <ul>
 *   <li>{@code TANDEM_REGION_<R>_<KAFKA_KEY>} is the Kafka client setting {@code
 *       tandem.region.<r>.<kafka.key>} (e.g. {@code TANDEM_REGION_WESTEUROPE_BOOTSTRAP_SERVERS},
 *       {@code TANDEM_REGION_WESTEUROPE_SECURITY_PROTOCOL}); the key must be a Kafka producer,
 *       consumer or admin setting.
 *   <li>{@code TANDEM_REGION_<R>_CONNECTION=<setting name>}: the region's cluster <b>by name</b>, the
 *       way a binding takes {@code connection = "…"} — the named app setting holds either a
 *       bootstrap server list (what a Kafka trigger's {@code brokerList = "%KafkaBrokers%"} names;
 *       the own region can name the trigger's own setting) or an Event Hubs namespace connection
 *       string ({@code Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=…;
 *       SharedAccessKey=…}), which becomes the namespace's Kafka endpoint: {@code
 *       bootstrap.servers=<namespace host>:9093}, {@code security.protocol=SASL_SSL}, {@code
 *       sasl.mechanism=PLAIN}, {@code sasl.jaas.config} with user {@code $ConnectionString} and the
 *       connection string as password. A key given both by the connection and by {@code
 *       TANDEM_REGION_<R>_<KAFKA_KEY>} is refused naming both settings.
 * </ul>
 *
 * <p><b>Filled in for Functions</b> (each overridable by its setting, except the instance):
 *
 * <ul>
 *   <li>{@code tandem.state.dir}: this instance's own directory on its local disk, by {@link
 *       InstanceStoreDirectory} ({@code <local temp>/tandem/<instance id>}); {@code
 *       TANDEM_STATE_DIR} is the base directory under which each instance gets {@code <instance
 *       id>} on the platform; one on storage the instances share ({@code /home}) is refused.
 *   <li>{@code tandem.instance}: the platform's instance id ({@link
 *       InstanceStoreDirectory#instanceName()}). {@code TANDEM_INSTANCE} is refused: every instance
 *       of an app reads the same app settings, so one name would be shared by all of them.
 *   <li>{@code tandem.heartbeat.interval.ms} = {@value #DEFAULT_HEARTBEAT_PERIOD_MS} (the period of
 *       a {@code tandem-heartbeat} timer on {@code 0/5 * * * * *}; set it to your timer's period),
 *       {@code tandem.lease.timeout.ms} = 20000 (four timer periods: one late timer run is no
 *       silence), {@code tandem.takeover.margin.ms} = 10000, {@code tandem.stuck.after.ms} = 120000,
 *       {@code tandem.claim.lease.ms} = 60000 (about a queue's lock duration: a crashed
 *       invocation's message waits one lease).
 * </ul>
 *
 * <p><b>Mistakes</b> fail here, before anything is opened, with a {@link ConfigException} whose
 * message begins {@code app setting <NAME>=<value>:} — the setting to change, not only the key (a
 * secret's value is shown as {@code [hidden]}): a value the key table refuses (type, range, the
 * region's cross-checks such as L against the heartbeat), a missing required setting, a {@code
 * TANDEM_*} setting the rule maps to no key (all of them listed, with the likely intended name),
 * a region setting of a region not in {@code TANDEM_REGIONS}, a connection naming a setting that is
 * absent or holds neither form, a non-Kafka client key. Other app settings are not read.
 */
public final class TandemAppSettings {

  private static final Logger LOG = LoggerFactory.getLogger(TandemAppSettings.class);

  /** Prefix of every Tandem app setting. */
  public static final String PREFIX = "TANDEM_";
  /** Prefix of a region's settings: {@code TANDEM_REGION_<R>_…}. */
  public static final String REGION_PREFIX = "TANDEM_REGION_";
  /**
   * Prefix of the witness cluster's settings: besides the declared ones, {@code
   * TANDEM_WITNESS_<KAFKA_KEY>} is the witness client's {@code tandem.witness.<kafka.key>} (e.g.
   * {@code TANDEM_WITNESS_SECURITY_PROTOCOL}, {@code TANDEM_WITNESS_SASL_JAAS_CONFIG}).
   */
  public static final String WITNESS_PREFIX = "TANDEM_WITNESS_";
  /** {@code TANDEM_REGION_<R>_CONNECTION}: names the app setting holding the region's cluster. */
  public static final String CONNECTION = "CONNECTION";
  /** The {@code tandem-heartbeat} timer's period the defaults assume (ms): {@code 0/5 * * * * *}. */
  public static final long DEFAULT_HEARTBEAT_PERIOD_MS = 5_000L;

  /** The keys filled in for Functions when their setting is absent, and why. */
  static final Map<String, Object> FUNCTIONS_DEFAULTS;

  static {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG, DEFAULT_HEARTBEAT_PERIOD_MS);
    d.put(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG, 20_000L);
    d.put(TandemRegionConfig.TAKEOVER_MARGIN_MS_CONFIG, 10_000L);
    d.put(TandemRegionConfig.STUCK_AFTER_MS_CONFIG, 120_000L);
    d.put(TandemRegionConfig.CLAIM_LEASE_MS_CONFIG, 60_000L);
    FUNCTIONS_DEFAULTS = Collections.unmodifiableMap(d);
  }

  private static final ConfigDef KEYS = TandemRegionConfig.configDef();
  private static final Set<String> KAFKA_KEYS = kafkaKeys();
  private static final Pattern KEY_IN_MESSAGE =
      Pattern.compile("configuration \"?([a-z0-9][a-z0-9._-]*[a-z0-9])");

  private final Properties keys;
  /** Key → the app setting it came from (or how it was filled in). */
  private final Map<String, String> origins;
  private final InstanceStoreDirectory directory;
  private final Map<String, String> env;

  private TandemAppSettings(Properties keys, Map<String, String> origins,
      InstanceStoreDirectory directory, Map<String, String> env) {
    this.keys = keys;
    this.origins = origins;
    this.directory = directory;
    this.env = env;
  }

  /**
   * From this process's environment, with {@code java.io.tmpdir} as the instance's local temporary
   * directory (on App Service: {@code /tmp} on Linux, {@code D:\local\Temp} on Windows).
   *
   * @throws ConfigException naming the app setting, for any mistake (see the class comment)
   * @throws IllegalStateException from {@link InstanceStoreDirectory} (no instance id on the
   *     platform, more than one worker process)
   */
  public static TandemAppSettings fromEnvironment() {
    return from(System.getenv(), Path.of(System.getProperty("java.io.tmpdir")));
  }

  /**
   * From {@code env} (app settings and platform variables; names matched ignoring case, as Windows
   * does), {@code localTemp} being the instance's local temporary directory. Validates everything
   * against {@link TandemRegionConfig} and opens nothing.
   *
   * @throws ConfigException naming the app setting, for any mistake (see the class comment)
   */
  public static TandemAppSettings from(Map<String, String> env, Path localTemp) {
    Objects.requireNonNull(env, "env");
    Objects.requireNonNull(localTemp, "localTemp");
    Map<String, String> byName = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    Map<String, String> tandem = new TreeMap<>(); // upper-case name → value
    Map<String, String> spelled = new TreeMap<>(); // upper-case name → the name as given
    for (Map.Entry<String, String> e : env.entrySet()) {
      if (e.getKey() == null || e.getValue() == null) {
        continue;
      }
      String previous = byName.put(e.getKey(), e.getValue());
      String upper = e.getKey().toUpperCase(Locale.ROOT);
      if (previous != null && upper.startsWith(PREFIX)) {
        throw new ConfigException("app settings " + spelled.get(upper) + " and " + e.getKey()
            + " differ only in case: one setting (Windows does not tell them apart); remove one");
      }
      if (upper.startsWith(PREFIX)) {
        tandem.put(upper, e.getValue());
        spelled.put(upper, e.getKey());
      }
    }
    Properties keys = new Properties();
    Map<String, String> origins = new LinkedHashMap<>();
    String regionsSetting = settingName(TandemRegionConfig.REGIONS_CONFIG);
    List<RegionId> regions = regions(tandem.get(regionsSetting), spelled.get(regionsSetting));
    Map<String, RegionId> regionPrefixes = new TreeMap<>(
        Comparator.comparingInt(String::length).reversed().thenComparing(Comparator.naturalOrder()));
    for (RegionId r : regions) {
      regionPrefixes.put(REGION_PREFIX + settingPart(r.name()) + "_", r);
    }
    List<String> unknown = new ArrayList<>();
    Map<RegionId, String> connections = new LinkedHashMap<>();
    String stateDirBase = null;
    for (Map.Entry<String, String> e : tandem.entrySet()) {
      String name = spelled.get(e.getKey());
      String upper = e.getKey();
      String value = e.getValue().strip();
      if (value.isEmpty()) {
        throw new ConfigException("app setting " + name + " is empty: give it a value, or remove it "
            + "to leave " + keyOf(upper, regionPrefixes) + " unset");
      }
      if (upper.equals(settingName(TandemRegionConfig.INSTANCE_CONFIG))) {
        throw new ConfigException("app setting " + name + "=" + value + ": every instance of a "
            + "function app reads the same app settings, so they would all run as one instance "
            + "(claims and leases carry the name). Remove it: the instance name is the platform's "
            + "instance id (" + InstanceStoreDirectory.INSTANCE_ID + ")");
      }
      if (upper.equals(settingName(TandemRegionConfig.STATE_DIR_CONFIG))) {
        stateDirBase = value; // the base: the instance's own directory is resolved below
        continue;
      }
      RegionId region = null;
      String rest = null;
      for (Map.Entry<String, RegionId> p : regionPrefixes.entrySet()) {
        if (upper.startsWith(p.getKey()) && upper.length() > p.getKey().length()) {
          region = p.getValue();
          rest = upper.substring(p.getKey().length());
          break;
        }
      }
      if (region != null) {
        if (rest.equals(CONNECTION)) {
          connections.put(region, name);
          continue;
        }
        String kafkaKey = rest.toLowerCase(Locale.ROOT).replace('_', '.');
        if (!KAFKA_KEYS.contains(kafkaKey)) {
          throw new ConfigException("app setting " + name + "=" + shown(kafkaKey, value) + ": "
              + kafkaKey + " is not a Kafka client setting (producer, consumer or admin); a "
              + "region's settings are " + REGION_PREFIX + settingPart(region.name())
              + "_<KAFKA_KEY> (e.g. _BOOTSTRAP_SERVERS, _SECURITY_PROTOCOL) or _" + CONNECTION);
        }
        String key = TandemRegionConfig.REGION_PREFIX + region.name() + "." + kafkaKey;
        keys.put(key, value);
        origins.put(key, name);
        continue;
      }
      String key = upper.toLowerCase(Locale.ROOT).replace('_', '.');
      if (KEYS.names().contains(key)) {
        keys.put(key, value);
        origins.put(key, name);
      } else if (upper.startsWith(WITNESS_PREFIX)
          && KAFKA_KEYS.contains(key.substring("tandem.witness.".length()))) {
        // the witness cluster's own client settings (a TLS/SASL witness): tandem.witness.<kafka key>
        keys.put(key, value);
        origins.put(key, name);
      } else {
        unknown.add(name);
      }
    }
    if (!unknown.isEmpty()) {
      throw unknownSettings(unknown, regions, spelled.get(regionsSetting));
    }
    for (Map.Entry<RegionId, String> c : connections.entrySet()) {
      ConnectionSetting.connect(c.getKey(), c.getValue(), byName, keys, origins);
    }
    FUNCTIONS_DEFAULTS.forEach((key, value) -> {
      if (!keys.containsKey(key)) {
        keys.put(key, String.valueOf(value));
        origins.put(key, settingName(key) + " (not set: the Functions default " + value + ")");
      }
    });
    InstanceStoreDirectory dir;
    try {
      dir = InstanceStoreDirectory.resolve(byName::get, stateDirBase, localTemp);
    } catch (IllegalStateException e) {
      if (stateDirBase == null) {
        throw e; // about the platform (no instance id, worker processes), not about a setting
      }
      throw new ConfigException("app setting " + settingName(TandemRegionConfig.STATE_DIR_CONFIG)
          + "=" + stateDirBase + ": " + e.getMessage());
    }
    keys.put(TandemRegionConfig.STATE_DIR_CONFIG, dir.directory().toString());
    origins.put(TandemRegionConfig.STATE_DIR_CONFIG, stateDirBase == null
        ? settingName(TandemRegionConfig.STATE_DIR_CONFIG) + " (not set: this instance's "
            + "directory on its local disk, " + dir.directory() + ")"
        : settingName(TandemRegionConfig.STATE_DIR_CONFIG) + "=" + stateDirBase
            + " (this instance's directory under it: " + dir.directory() + ")");
    keys.put(TandemRegionConfig.INSTANCE_CONFIG, dir.instanceName());
    origins.put(TandemRegionConfig.INSTANCE_CONFIG, "the platform's instance id ("
        + InstanceStoreDirectory.INSTANCE_ID + ")");
    TandemAppSettings settings = new TandemAppSettings(keys, Collections.unmodifiableMap(origins),
        dir, Collections.unmodifiableMap(byName));
    try {
      new TandemRegionConfig(keys); // every key-table check, nothing opened
    } catch (ConfigException e) {
      throw settings.naming(e);
    }
    LOG.info("Tandem region {} of {} from app settings: instance {}, state {}", keys.get(
        TandemRegionConfig.REGION_CONFIG), regions, dir.instanceName(), dir.directory());
    return settings;
  }

  /**
   * The app setting of a key of {@link TandemRegionConfig}: upper case, {@code .} as {@code _}
   * ({@code tandem.lease.timeout.ms} → {@code TANDEM_LEASE_TIMEOUT_MS}).
   */
  public static String settingName(String key) {
    return key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
  }

  /**
   * The app setting of a Kafka client setting of region {@code region}: {@code
   * TANDEM_REGION_<R>_<KAFKA_KEY>} ({@code westeurope}, {@code bootstrap.servers} → {@code
   * TANDEM_REGION_WESTEUROPE_BOOTSTRAP_SERVERS}).
   */
  public static String regionSettingName(String region, String kafkaKey) {
    return REGION_PREFIX + settingPart(region) + "_" + settingName(kafkaKey);
  }

  /** The region's keys ({@link TandemRegionConfig}), secrets included: a copy. */
  public Properties regionConfig() {
    Properties p = new Properties();
    p.putAll(keys);
    return p;
  }

  /**
   * Where a key's value came from: the app setting's name, or how it was filled in (a Functions
   * default, the platform); null for a key left to the key table's default.
   */
  public String origin(String key) {
    return origins.get(key);
  }

  /** This process's region ({@code TANDEM_REGION}). */
  public RegionId localRegion() {
    return RegionId.of(keys.getProperty(TandemRegionConfig.REGION_CONFIG).strip());
  }

  /** Where this instance keeps its state, and its name. */
  public InstanceStoreDirectory instanceDirectory() {
    return directory;
  }

  /** About how long a takeover of a silent region's shards takes: L + margin + one heartbeat period. */
  public Duration takeoverTime() {
    return Duration.ofMillis(longKey(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG)
        + longKey(TandemRegionConfig.TAKEOVER_MARGIN_MS_CONFIG)
        + longKey(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG));
  }

  /**
   * The value of another app setting (a trigger's connection, e.g. {@code ServiceBusConnection}).
   *
   * @throws ConfigException naming the setting when it is absent or empty
   */
  public String setting(String name) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      throw new ConfigException("app setting " + name + " is missing");
    }
    return v.strip();
  }

  /** The value of another app setting, if present and not empty. */
  public Optional<String> optionalSetting(String name) {
    String v = env.get(name);
    return v == null || v.isBlank() ? Optional.empty() : Optional.of(v.strip());
  }

  /**
   * The bootstrap servers in app setting {@code brokerListSetting} (a Kafka trigger's {@code
   * brokerList = "%KafkaBrokers%"}) when they are not this region's own cluster: then the heartbeat
   * must probe that cluster too ({@code KafkaClusterProbe}); empty when the setting is absent or
   * names the own region's servers (in any order or case: the changelog probe already asks it).
   */
  public Optional<String> otherKafkaCluster(String brokerListSetting) {
    Optional<String> servers = optionalSetting(brokerListSetting);
    Object own = keys.get(TandemRegionConfig.REGION_PREFIX + localRegion().name() + "."
        + CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
    if (servers.isEmpty() || serverSet(servers.get()).equals(serverSet(String.valueOf(own)))) {
      return Optional.empty();
    }
    return servers;
  }

  /**
   * A {@link TandemRegion} builder with these keys: add objects before {@code build()} (a meter
   * registry, signing keys). {@link #region()} is this, built, with errors naming the settings.
   */
  public TandemRegion.Builder regionBuilder() {
    return TandemRegion.builder().configs(keys);
  }

  /**
   * Opens this process's region: store in this instance's directory, replication log over every
   * region's changelog, ownership. One per process; close it when the process ends.
   *
   * @throws ConfigException naming the app setting
   */
  public TandemRegion region() {
    try {
      return regionBuilder().build();
    } catch (ConfigException e) {
      throw naming(e);
    }
  }

  /**
   * The settings as a Markdown table (setting, key, Functions default or the key's default,
   * description) in the key table's order, plus the per-region rows: the sample's README carries
   * it, and a test keeps it current.
   */
  public static String markdownTable() {
    StringBuilder sb = new StringBuilder();
    sb.append("| app setting | key | default | description |\n|---|---|---|---|\n");
    String table = TandemRegionConfig.markdownTable(KEYS);
    for (String line : table.split("\n")) {
      if (!line.startsWith("| `")) {
        continue;
      }
      String[] cells = line.split(" \\| ");
      String key = cells[0].substring(3, cells[0].length() - 1);
      String def = cells[2];
      String description = cells[5].substring(0, cells[5].length() - 2);
      String setting = settingName(key);
      if (key.equals(TandemRegionConfig.INSTANCE_CONFIG)) {
        def = "the platform's instance id";
        description = "Refused as a setting: every instance reads the same settings.";
      } else if (key.equals(TandemRegionConfig.STATE_DIR_CONFIG)) {
        def = "`<local temp>/tandem/<instance id>`";
        description = "The BASE directory: on the platform each instance uses `<base>/<instance "
            + "id>`, on its local disk (refused under `/home`, shared by every instance). "
            + description;
      } else if (FUNCTIONS_DEFAULTS.containsKey(key)) {
        def = "`" + FUNCTIONS_DEFAULTS.get(key) + "` (Functions)";
      }
      sb.append("| `").append(setting).append("` | `").append(key).append("` | ").append(def)
          .append(" | ").append(description).append(" |\n");
    }
    sb.append("| `TANDEM_REGION_<R>_<KAFKA_KEY>` | `tandem.region.<r>.<kafka.key>` | | A Kafka "
        + "client setting of region r (upper case, `-` and `.` as `_`), e.g. "
        + "`TANDEM_REGION_WESTEUROPE_BOOTSTRAP_SERVERS`, `..._SECURITY_PROTOCOL`. |\n");
    sb.append("| `TANDEM_WITNESS_<KAFKA_KEY>` | `tandem.witness.<kafka.key>` | | A Kafka client "
        + "setting of the witness cluster (policy `witness`), e.g. "
        + "`TANDEM_WITNESS_SECURITY_PROTOCOL`, `TANDEM_WITNESS_SASL_JAAS_CONFIG`. |\n");
    sb.append("| `TANDEM_REGION_<R>_CONNECTION` | `tandem.region.<r>.*` | | The NAME of the app "
        + "setting holding region r's cluster: a bootstrap server list, or an Event Hubs namespace "
        + "connection string (its Kafka endpoint: `<namespace>:9093`, SASL_SSL, PLAIN). |\n");
    return sb.toString();
  }

  // ---------------------------------------------------------------------------------------------

  /** A key-table error rewritten to begin with the app setting to change. */
  ConfigException naming(ConfigException e) {
    String message = String.valueOf(e.getMessage());
    Matcher m = KEY_IN_MESSAGE.matcher(message);
    String key = m.find() ? m.group(1) : null;
    if (key == null) {
      return new ConfigException("app settings: " + message);
    }
    String setting = origins.getOrDefault(key, settingForKey(key) + " (not set)");
    Object value = keys.get(key);
    StringBuilder sb = new StringBuilder("app setting ").append(setting);
    if (value != null && origins.containsKey(key) && !setting.contains("(")) {
      sb.append('=').append(shown(key, String.valueOf(value)));
    }
    sb.append(": ").append(message);
    List<String> others = new ArrayList<>();
    for (String other : KEYS.names()) {
      if (!other.equals(key) && mentions(message, other)) {
        others.add(other + " is " + settingName(other));
      }
    }
    if (!others.isEmpty()) {
      sb.append(" [").append(String.join("; ", others)).append(']');
    }
    ConfigException named = new ConfigException(sb.toString());
    named.initCause(e);
    return named;
  }

  private static boolean mentions(String message, String key) {
    return Pattern.compile("(?<![a-z0-9.])" + Pattern.quote(key) + "(?![a-z0-9]|\\.[a-z0-9])")
        .matcher(message).find();
  }

  /** The setting a key maps to by the rule ({@code tandem.region.<r>.<k>} included). */
  private static String settingForKey(String key) {
    if (key.startsWith(TandemRegionConfig.REGION_PREFIX)) {
      String rest = key.substring(TandemRegionConfig.REGION_PREFIX.length());
      int dot = rest.indexOf('.');
      if (dot > 0) {
        return regionSettingName(rest.substring(0, dot), rest.substring(dot + 1)) + " or "
            + REGION_PREFIX + settingPart(rest.substring(0, dot)) + "_" + CONNECTION;
      }
    }
    return settingName(key);
  }

  private static String keyOf(String upper, Map<String, RegionId> regionPrefixes) {
    for (Map.Entry<String, RegionId> p : regionPrefixes.entrySet()) {
      if (upper.startsWith(p.getKey())) {
        return "tandem.region." + p.getValue().name() + "."
            + upper.substring(p.getKey().length()).toLowerCase(Locale.ROOT).replace('_', '.');
      }
    }
    return upper.toLowerCase(Locale.ROOT).replace('_', '.');
  }

  private static List<RegionId> regions(String value, String name) {
    List<RegionId> regions = new ArrayList<>();
    if (value == null || value.isBlank()) {
      return regions; // TANDEM_REGIONS missing: the key table names it
    }
    for (String r : value.split(",")) {
      try {
        regions.add(RegionId.of(r.strip()));
      } catch (IllegalArgumentException e) {
        throw new ConfigException("app setting " + name + "=" + value + ": " + e.getMessage());
      }
    }
    return regions;
  }

  private static ConfigException unknownSettings(List<String> unknown, List<RegionId> regions,
      String regionsName) {
    List<String> described = new ArrayList<>();
    for (String name : unknown) {
      String upper = name.toUpperCase(Locale.ROOT);
      String hint = "";
      if (KEYS.names().contains((upper + "_MS").toLowerCase(Locale.ROOT).replace('_', '.'))) {
        hint = " (did you mean " + upper + "_MS, in milliseconds?)";
      } else if (upper.startsWith(REGION_PREFIX)) {
        hint = regions.isEmpty() ? " (" + settingName(TandemRegionConfig.REGIONS_CONFIG)
            + " is not set)"
            : " (a region setting of none of " + regionsName + "=" + regions + ": "
                + REGION_PREFIX + "<R>_<KAFKA_KEY> or _" + CONNECTION + ")";
      } else if (upper.equals("TANDEM_STORE_DIR")) {
        hint = " (now " + settingName(TandemRegionConfig.STATE_DIR_CONFIG) + ")";
      }
      described.add(name + hint);
    }
    return new ConfigException("app setting" + (unknown.size() > 1 ? "s " : " ")
        + String.join(", ", described) + ": unknown Tandem setting" + (unknown.size() > 1 ? "s" : "")
        + ". A key tandem.a.b of " + TandemRegionConfig.class.getSimpleName() + " is the setting "
        + "TANDEM_A_B; a region's Kafka client setting is TANDEM_REGION_<R>_<KAFKA_KEY>, its "
        + "cluster by name TANDEM_REGION_<R>_CONNECTION (see TandemAppSettings)");
  }

  /** A value for a message: {@code [hidden]} for a password, JAAS config or connection string. */
  private static String shown(String key, String value) {
    String k = key.toLowerCase(Locale.ROOT);
    // by the key's name, and by the value's form: a misspelt name (…_SASL_JASS_CONFIG) must not
    // print the password it carries
    String lower = value.toLowerCase(Locale.ROOT);
    if (k.contains("password") || k.contains("jaas") || k.contains("secret")
        || k.endsWith(".key") || lower.contains("sharedaccess") || lower.contains("password")
        || lower.contains("loginmodule")) {
      return "[hidden]";
    }
    return value;
  }

  private static String settingPart(String region) {
    return region.toUpperCase(Locale.ROOT).replace('-', '_');
  }

  private long longKey(String key) {
    return Long.parseLong(keys.getProperty(key).strip());
  }

  private static Set<String> serverSet(String bootstrap) {
    Set<String> s = new TreeSet<>();
    for (String server : bootstrap.split(",")) {
      if (!server.isBlank()) {
        s.add(server.strip().toLowerCase(Locale.ROOT));
      }
    }
    return s;
  }

  private static Set<String> kafkaKeys() {
    Set<String> s = new HashSet<>(ProducerConfig.configNames());
    s.addAll(ConsumerConfig.configNames());
    s.addAll(AdminClientConfig.configNames());
    return Collections.unmodifiableSet(s);
  }
}
