package dev.tandem.azure.functions;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.SaslConfigs;

/**
 * A region's Kafka cluster named by an app setting, the way a binding takes {@code connection =
 * "…"} ({@code TANDEM_REGION_<R>_CONNECTION=<setting name>}, see {@link TandemAppSettings}): the
 * named setting holds a bootstrap server list or an Event Hubs namespace connection string, which
 * becomes the namespace's Kafka endpoint's client settings. A secret's value is never printed.
 */
final class ConnectionSetting {

  /** The Event Hubs Kafka endpoint's port. */
  static final int EVENT_HUBS_KAFKA_PORT = 9093;

  private ConnectionSetting() {}

  /**
   * The cluster of {@code region} from the app setting that {@code connectionSetting} names: a
   * bootstrap server list or an Event Hubs connection string.
   */
  static void connect(RegionId region, String connectionSetting,
      Map<String, String> byName, Properties keys, Map<String, String> origins) {
    String named = byName.get(connectionSetting).strip();
    String value = byName.get(named);
    String source = named + " (named by " + connectionSetting + ")";
    if (value == null || value.isBlank()) {
      throw new ConfigException("app setting " + connectionSetting + "=" + named + ": names the app "
          + "setting " + named + ", which is not set (it holds region " + region.name()
          + "'s cluster: bootstrap servers, or an Event Hubs namespace connection string)");
    }
    Map<String, String> client = new LinkedHashMap<>();
    String v = value.strip();
    if (v.regionMatches(true, 0, "Endpoint=", 0, "Endpoint=".length())) {
      client.putAll(eventHubs(v, source));
    } else {
      for (String server : v.split(",")) {
        if (!server.strip().matches("[A-Za-z0-9._\\-\\[\\]:]+:[0-9]{1,5}")) {
          // a connection setting may hold a secret in any form (keys reordered, quoted): its value
          // is never printed; the offending part is shown only when it cannot be a secret
          boolean secret = v.contains("=") || v.contains(";") || v.contains("\"");
          throw new ConfigException("app setting " + source + "=" + (secret ? "[hidden]" : v)
              + ": neither bootstrap "
              + "servers (host:port,host:port) nor an Event Hubs connection string (Endpoint=sb://"
              + "…); '" + (secret ? "[hidden]" : server.strip()) + "' is not host:port");
        }
      }
      client.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, v);
    }
    client.forEach((kafkaKey, kafkaValue) -> {
      String key = TandemRegionConfig.REGION_PREFIX + region.name() + "." + kafkaKey;
      if (keys.containsKey(key)) {
        throw new ConfigException("app setting " + origins.get(key) + " and app setting " + source
            + " both set " + kafkaKey + " of region " + region.name() + ": remove one");
      }
      keys.put(key, kafkaValue);
      origins.put(key, source);
    });
  }

  /** An Event Hubs namespace connection string as its Kafka endpoint's client settings. */
  static Map<String, String> eventHubs(String connectionString, String source) {
    Map<String, String> parts = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    for (String part : connectionString.split(";")) {
      int eq = part.indexOf('=');
      if (eq > 0) {
        parts.put(part.substring(0, eq).strip(), part.substring(eq + 1).strip());
      }
    }
    String endpoint = parts.getOrDefault("Endpoint", "");
    Matcher host = Pattern.compile("(?i)^sb://([^/:]+)/?$").matcher(endpoint);
    if (!host.matches()) {
      throw new ConfigException("app setting " + source + "=[hidden]: an Event Hubs connection "
          + "string needs Endpoint=sb://<namespace>.servicebus.windows.net/; got Endpoint="
          + endpoint);
    }
    if (parts.containsKey("EntityPath")) {
      throw new ConfigException("app setting " + source + "=[hidden]: a connection string of one "
          + "event hub (EntityPath=" + parts.get("EntityPath") + ") reaches only that event hub; "
          + "Tandem needs the namespace (its data topics and its changelog): use a namespace-level "
          + "shared access policy's connection string");
    }
    if (!(parts.containsKey("SharedAccessKeyName") && parts.containsKey("SharedAccessKey"))
        && !parts.containsKey("SharedAccessSignature")) {
      throw new ConfigException("app setting " + source + "=[hidden]: an Event Hubs connection "
          + "string needs SharedAccessKeyName and SharedAccessKey (or SharedAccessSignature)");
    }
    Map<String, String> client = new LinkedHashMap<>();
    client.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG,
        host.group(1) + ":" + EVENT_HUBS_KAFKA_PORT);
    client.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_SSL");
    client.put(SaslConfigs.SASL_MECHANISM, "PLAIN");
    client.put(SaslConfigs.SASL_JAAS_CONFIG, "org.apache.kafka.common.security.plain."
        + "PlainLoginModule required username=\"$ConnectionString\" password=\""
        + connectionString.replace("\\", "\\\\").replace("\"", "\\\"") + "\";");
    return client;
  }
}
