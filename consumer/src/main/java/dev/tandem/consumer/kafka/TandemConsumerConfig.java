package dev.tandem.consumer.kafka;

import dev.tandem.core.RegionId;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.ConfigException;

/**
 * The {@code tandem.*} consumer properties read by {@link TandemConsumerInterceptor} (set next to
 * {@code interceptor.classes} in the consumer's configuration).
 */
public final class TandemConsumerConfig {

  /** The RocksDB directory of this instance's idempotency store (required). */
  public static final String STORE_DIRECTORY = "tandem.store.directory";
  /** This region's name, e.g. {@code westeurope} (required). */
  public static final String REGION = "tandem.region";
  /** This instance's name (default: {@code client.id}, else the host name). */
  public static final String INSTANCE = "tandem.instance";
  /** Record TTL of the store, ISO-8601 duration (default {@code P7D}). */
  public static final String RECORD_TTL = "tandem.record.ttl";
  /** Comma-separated region names (required). */
  public static final String REGIONS = "tandem.regions";
  /** Prefix of per-region client settings: {@code tandem.region.<name>.bootstrap.servers}, ... */
  public static final String REGION_PREFIX = "tandem.region.";
  /** Number of shards = changelog partitions (required; ≥ the consumed topics' partitions). */
  public static final String SHARDS = "tandem.shards";
  /** Changelog topic prefix (default {@code tandem}: the changelog is {@code tandem.changelog}). */
  public static final String TOPIC_PREFIX = "tandem.topic.prefix";
  /** Spool directory of the changelog publisher (default: the store directory + {@code -spool}). */
  public static final String SPOOL_DIRECTORY = "tandem.spool.dir";
  /** Passed records the interceptor tracks until a commit covers them (default 100000). */
  public static final String MAX_TRACKED = "tandem.interceptor.max.tracked";

  private TandemConsumerConfig() {}

  /** The interceptor's settings, read from a consumer configuration. */
  record InterceptorSettings(Path storeDirectory, RegionId region, String instance, Duration recordTtl,
      Map<RegionId, Properties> regionClients, int shards, String topicPrefix, Path spoolDirectory,
      int maxTracked, Duration restoreWait) {}

  static InterceptorSettings interceptorSettings(Map<String, ?> configs) {
    Object dir = configs.get(STORE_DIRECTORY);
    Object region = configs.get(REGION);
    if (dir == null || region == null) {
      throw new ConfigException("TandemConsumerInterceptor needs " + STORE_DIRECTORY + " and " + REGION);
    }
    RegionId regionId = RegionId.of(region.toString());
    Object inst = configs.get(INSTANCE);
    if (inst == null || inst.toString().isEmpty()) {
      inst = configs.get(ConsumerConfig.CLIENT_ID_CONFIG);
    }
    String instance = inst == null || inst.toString().isEmpty() ? host() : inst.toString();
    Duration ttl = configs.get(RECORD_TTL) == null ? Duration.ofDays(7)
        : Duration.parse(configs.get(RECORD_TTL).toString());
    Object regions = configs.get(REGIONS);
    if (regions == null) {
      throw new ConfigException(REGIONS, null, "required: the regions of the replica");
    }
    Map<RegionId, Properties> clients = new LinkedHashMap<>();
    List<String> names = new ArrayList<>();
    for (String n : regions.toString().split(",")) {
      if (!n.isBlank()) {
        names.add(n.trim());
      }
    }
    for (String n : names) {
      Properties p = new Properties();
      String prefix = REGION_PREFIX + n + ".";
      configs.forEach((k, v) -> {
        if (k.startsWith(prefix) && v != null) {
          p.put(k.substring(prefix.length()), v.toString());
        }
      });
      if (!p.containsKey(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG)) {
        throw new ConfigException(prefix + "bootstrap.servers", null, "required for region " + n);
      }
      clients.put(RegionId.of(n), p);
    }
    if (!clients.containsKey(regionId)) {
      throw new ConfigException(REGIONS, regions, "must name this region " + regionId);
    }
    Object shards = configs.get(SHARDS);
    if (shards == null) {
      throw new ConfigException(SHARDS, null, "required: the number of shards");
    }
    String prefix = configs.get(TOPIC_PREFIX) == null ? "tandem" : configs.get(TOPIC_PREFIX).toString();
    Path storeDir = Path.of(dir.toString());
    Path spool = configs.get(SPOOL_DIRECTORY) == null
        ? storeDir.resolveSibling(storeDir.getFileName() + "-spool")
        : Path.of(configs.get(SPOOL_DIRECTORY).toString());
    int maxTracked = configs.get(MAX_TRACKED) == null ? 100_000
        : Integer.parseInt(configs.get(MAX_TRACKED).toString());
    return new InterceptorSettings(storeDir, regionId, instance, ttl, clients,
        Integer.parseInt(shards.toString()), prefix, spool, maxTracked, Duration.ofSeconds(10));
  }

  private static String host() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      return "unknown-host";
    }
  }
}
