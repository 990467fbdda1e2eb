package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;

/**
 * The keys every Tandem client shares — the publisher's {@link TandemProducerConfig} and the consumer
 * side's region configuration ({@code dev.tandem.consumer.TandemRegionConfig}) extend these
 * definitions ({@code new ConfigDef(TandemClientConfig.baseConfigDef())}), the way Kafka's {@code
 * ProducerConfig} and {@code ConsumerConfig} share {@code CommonClientConfigs}.
 *
 * <ul>
 *   <li>{@value #REGIONS_CONFIG}: every region, e.g. {@code westeurope,northeurope}.
 *   <li>{@code tandem.region.<r>.<kafka client key>}: the Kafka client settings of region {@code r}
 *       (at least {@code bootstrap.servers}; {@code security.protocol}, {@code sasl.*}, {@code ssl.*}
 *       ... for a TLS/SASL cluster such as Event Hubs' Kafka endpoint), used for every client Tandem
 *       opens toward that region.
 * </ul>
 *
 * <p>Checked when the configuration is built: types, validators and required keys by Kafka's {@link
 * ConfigDef} ({@link ConfigException} names the key and the value); a {@code tandem.*} key no
 * definition knows is an error (a misspelt key must not silently keep a default); a {@code
 * tandem.region.<r>.*} key of a region not listed in {@value #REGIONS_CONFIG} is an error; every
 * listed region needs its {@code bootstrap.servers}.
 */
public abstract class TandemClientConfig extends AbstractConfig {

  /** Prefix of every Tandem key. */
  public static final String TANDEM_PREFIX = "tandem.";
  /** Every region, comma-separated (required). */
  public static final String REGIONS_CONFIG = "tandem.regions";
  /** Prefix of per-region Kafka client settings: {@code tandem.region.<name>.<kafka key>}. */
  public static final String REGION_PREFIX = "tandem.region.";

  private static final String REGIONS_DOC = "Every region, comma-separated, e.g. "
      + "<code>westeurope,northeurope</code> (1-32 characters of [a-z0-9-] each). Each region's Kafka "
      + "client settings follow as <code>tandem.region.&lt;name&gt;.&lt;kafka key&gt;</code>: at least "
      + "<code>bootstrap.servers</code>, and security.protocol, sasl.*, ssl.* ... for a TLS/SASL cluster.";

  /**
   * Kafka client keys refused under {@code tandem.region.<r>.}: they would be passed to clients that
   * cannot honour them (partitioner and interceptors of the wrong types, one transactional id shared
   * by several producers).
   */
  public static final Set<String> REFUSED_REGION_CLIENT_KEYS = Set.of(
      "partitioner.class", "interceptor.classes", "transactional.id");

  private final List<RegionId> regions;
  private final Map<RegionId, Properties> regionClients;

  /**
   * The definitions every Tandem client shares (a new {@link ConfigDef} each call, to extend with
   * {@code define(...)}).
   */
  public static ConfigDef baseConfigDef() {
    return new ConfigDef()
        .define(REGIONS_CONFIG, ConfigDef.Type.LIST, ConfigDef.NO_DEFAULT_VALUE, regionList(),
            ConfigDef.Importance.HIGH, REGIONS_DOC);
  }

  /**
   * Parses and validates {@code originals} against {@code definition}; see the class comment for
   * what is checked.
   */
  protected TandemClientConfig(ConfigDef definition, Map<?, ?> originals) {
    this(definition, originals, Set.of());
  }

  /**
   * As {@link #TandemClientConfig(ConfigDef, Map)}; keys under one of {@code passThroughPrefixes}
   * (e.g. {@code tandem.witness.}) are not "unknown": the subclass reads and checks them itself
   * (Kafka client settings of another cluster).
   */
  protected TandemClientConfig(ConfigDef definition, Map<?, ?> originals,
      Set<String> passThroughPrefixes) {
    super(definition, originals, false);
    List<RegionId> rs = new ArrayList<>();
    for (String name : getList(REGIONS_CONFIG)) {
      rs.add(RegionId.of(name.trim()));
    }
    this.regions = List.copyOf(rs);
    Map<RegionId, Properties> clients = new LinkedHashMap<>();
    for (RegionId r : regions) {
      clients.put(r, new Properties());
    }
    Set<String> known = definition.names();
    Set<String> unknown = new TreeSet<>();
    for (Map.Entry<?, ?> e : originals.entrySet()) {
      String key = String.valueOf(e.getKey());
      if (!key.startsWith(TANDEM_PREFIX) || known.contains(key)
          || passThroughPrefixes.stream().anyMatch(key::startsWith)) {
        continue;
      }
      if (key.startsWith(REGION_PREFIX)) {
        String rest = key.substring(REGION_PREFIX.length());
        int dot = rest.indexOf('.');
        RegionId region = null;
        if (dot > 0) {
          try {
            region = RegionId.of(rest.substring(0, dot));
          } catch (IllegalArgumentException ex) {
            region = null;
          }
        }
        if (region != null && clients.containsKey(region) && dot < rest.length() - 1) {
          String clientKey = rest.substring(dot + 1);
          if (REFUSED_REGION_CLIENT_KEYS.contains(clientKey)) {
            // a region's client settings reach every Tandem-made client of that region (region
            // producers, changelog producers, replication-log and application consumers): these
            // would break them (bytes, explicit partitions, one transactional id per producer)
            throw new ConfigException(key, e.getValue(), clientKey + " cannot be set per region: "
                + "the region's Tandem clients send and read serialized bytes on explicit "
                + "partitions, and a transactional.id must be unique per producer; remove it");
          }
          clients.get(region).put(clientKey, e.getValue());
          continue;
        }
        if (region != null && dot < rest.length() - 1) {
          throw new ConfigException(key, shown(clientKeyOf(key), e.getValue()), "region '"
              + region.name()
              + "' is not in " + REGIONS_CONFIG + "=" + String.join(",", getList(REGIONS_CONFIG)));
        }
      }
      unknown.add(key);
    }
    if (!unknown.isEmpty()) {
      String first = unknown.iterator().next();
      throw new ConfigException(first, shown(first, originals.get(first)),
          "unknown Tandem configuration"
          + (unknown.size() > 1 ? " (also unknown: " + String.join(", ", unknown) + ")" : "")
          + "; " + getClass().getSimpleName() + " knows " + new TreeSet<>(known)
          + " and tandem.region.<r>.<kafka client key> for each r in " + REGIONS_CONFIG);
    }
    for (Map.Entry<RegionId, Properties> e : clients.entrySet()) {
      Object bootstrap = e.getValue().get(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
      if (bootstrap == null || bootstrap.toString().isBlank()) {
        String key = REGION_PREFIX + e.getKey().name() + "."
            + CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG;
        throw new ConfigException("Missing required configuration \"" + key
            + "\" (the Kafka cluster of region " + e.getKey().name() + ", listed in "
            + REGIONS_CONFIG + ")");
      }
    }
    this.regionClients = Collections.unmodifiableMap(clients);
  }

  /**
   * A value as an error message may show it: hidden where the key may hold a secret ({@code
   * sasl.jaas.config} holds a SASL password, e.g. an Event Hubs connection string; {@code
   * *.password}, {@code *.key}), since an unknown or misplaced key's value is printed otherwise.
   */
  static Object shown(String key, Object value) {
    String k = key.toLowerCase(java.util.Locale.ROOT);
    return k.contains("jaas") || k.contains("password") || k.contains("secret")
        || k.endsWith(".key") || k.contains("credential") || k.contains("token")
        ? "[hidden]" : value;
  }

  private static String clientKeyOf(String key) {
    String rest = key.substring(REGION_PREFIX.length());
    int dot = rest.indexOf('.');
    return dot < 0 ? rest : rest.substring(dot + 1);
  }

  /** The regions, in the order given. */
  public List<RegionId> regions() {
    return regions;
  }

  /**
   * A copy of region {@code r}'s Kafka client settings (the {@code tandem.region.<r>.*} keys without
   * their prefix).
   */
  public Properties regionClientProperties(RegionId r) {
    Properties p = regionClients.get(r);
    if (p == null) {
      throw new ConfigException(REGIONS_CONFIG, String.join(",", getList(REGIONS_CONFIG)),
          "region " + r + " is not listed");
    }
    Properties copy = new Properties();
    copy.putAll(p);
    return copy;
  }

  /** The keys given that are not {@code tandem.*} keys (Kafka client settings), unchanged. */
  public Map<String, Object> nonTandemOriginals() {
    Map<String, Object> m = new LinkedHashMap<>();
    originals().forEach((k, v) -> {
      if (!k.startsWith(TANDEM_PREFIX)) {
        m.put(k, v);
      }
    });
    return m;
  }

  /**
   * {@code definition} as a Markdown table (key, type, default, valid values, importance,
   * description), in {@link ConfigDef}'s documentation order (required keys first, then by
   * importance and name) — the tables in the READMEs are generated with it, and a test keeps them
   * current.
   */
  public static String markdownTable(ConfigDef definition) {
    StringBuilder sb = new StringBuilder();
    sb.append("| key | type | default | valid values | importance | description |\n");
    sb.append("|---|---|---|---|---|---|\n");
    List<ConfigDef.ConfigKey> keys = new ArrayList<>(definition.configKeys().values());
    keys.sort((x, y) -> {
      boolean xr = !x.hasDefault();
      boolean yr = !y.hasDefault();
      if (xr != yr) {
        return xr ? -1 : 1;
      }
      int c = x.importance.compareTo(y.importance);
      return c != 0 ? c : x.name.compareTo(y.name);
    });
    for (ConfigDef.ConfigKey k : keys) {
      String def = !k.hasDefault() ? "(required)"
          : k.defaultValue == null ? "(none)"
          : k.type == ConfigDef.Type.LIST
              ? String.join(",", ((List<?>) k.defaultValue).stream().map(String::valueOf).toList())
              : String.valueOf(k.defaultValue);
      sb.append("| `").append(k.name).append("` | ")
          .append(k.type.toString().toLowerCase(java.util.Locale.ROOT)).append(" | ")
          .append(!k.hasDefault() || k.defaultValue == null ? def
              : def.isEmpty() ? "\"\"" : "`" + def + "`").append(" | ")
          .append(k.validator == null ? "" : cell(k.validator.toString())).append(" | ")
          .append(k.importance.toString().toLowerCase(java.util.Locale.ROOT)).append(" | ")
          .append(cell(k.documentation.replaceAll("</?code>", "`").replace("&lt;", "<")
              .replace("&gt;", ">"))).append(" |\n");
    }
    return sb.toString();
  }

  private static String cell(String s) {
    return s.replace("|", "\\|").replace("\n", " ");
  }

  /** A validator of a non-empty list of distinct region names. */
  public static ConfigDef.Validator regionList() {
    return new ConfigDef.Validator() {
      @Override
      public void ensureValid(String name, Object value) {
        @SuppressWarnings("unchecked")
        List<String> list = (List<String>) value;
        if (list == null || list.isEmpty()) {
          throw new ConfigException(name, value, "at least one region is required");
        }
        Set<String> seen = new LinkedHashSet<>();
        for (String s : list) {
          try {
            RegionId.of(s.trim());
          } catch (IllegalArgumentException e) {
            throw new ConfigException(name, value, e.getMessage());
          }
          if (!seen.add(s.trim())) {
            throw new ConfigException(name, value, "region '" + s.trim() + "' is listed twice");
          }
        }
      }

      @Override
      public String toString() {
        return "non-empty list of distinct region names ([a-z0-9-], 1-32 characters)";
      }
    };
  }

  /** A validator of one region name ([a-z0-9-], 1-32 characters). */
  public static ConfigDef.Validator regionName() {
    return new ConfigDef.Validator() {
      @Override
      public void ensureValid(String name, Object value) {
        if (value == null) {
          return;
        }
        try {
          RegionId.of(value.toString().trim());
        } catch (IllegalArgumentException e) {
          throw new ConfigException(name, value, e.getMessage());
        }
      }

      @Override
      public String toString() {
        return "a region name ([a-z0-9-], 1-32 characters)";
      }
    };
  }

  /**
   * A validator of a string naming one of {@code values}, case-insensitively (Kafka's {@link
   * ConfigDef.CaseInsensitiveValidString}).
   */
  protected static ConfigDef.Validator oneOf(String... values) {
    return ConfigDef.CaseInsensitiveValidString.in(values);
  }
}
