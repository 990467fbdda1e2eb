package dev.tandem.consumer.kafka;

import dev.tandem.consumer.TandemRegionConfig;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;

/**
 * The configuration of {@link TandemConsumerInterceptor}: the region's key table ({@link
 * TandemRegionConfig}, same types, defaults and cross-field checks) plus the interceptor's own keys
 * ({@link #ownConfigDef()}). Those keys mean nothing to a {@code TandemRegion}, so they are declared
 * here and not in the region's table ({@code TandemRegion.create} refuses them as unknown).
 */
public final class TandemInterceptorConfig extends TandemRegionConfig {

  /**
   * Passed records the interceptor keeps, per consumer, until a commit covers them; default 100000.
   */
  public static final String MAX_TRACKED_CONFIG = "tandem.interceptor.max.tracked";

  private static final ConfigDef OWN = ownConfigDef();
  private static final ConfigDef CONFIG = configDef();

  /** Only the interceptor's own keys (the table in consumer/README.md's interceptor section). */
  public static ConfigDef ownConfigDef() {
    return new ConfigDef()
        .define(MAX_TRACKED_CONFIG, Type.INT, 100_000, Range.atLeast(1), Importance.LOW,
            "Records passed to the application that the interceptor keeps (per consumer) until a "
                + "commit covers them and completes them. Past this bound the least recently fed "
                + "partition's oldest are forgotten (counted, tandem.consumer.interceptor.untracked):"
                + " this consumer records no completion for them.");
  }

  /** The region's key table plus the interceptor's own keys. */
  public static ConfigDef configDef() {
    ConfigDef def = new ConfigDef(TandemRegionConfig.configDef());
    ownConfigDef().configKeys().values().forEach(def::define);
    return def;
  }

  /** Parses and validates {@code originals} (the region's checks plus the interceptor's keys). */
  public TandemInterceptorConfig(Map<?, ?> originals) {
    super(CONFIG, originals, false);
  }

  /** {@code originals} without the interceptor's own keys: what the region entry point accepts. */
  static Map<String, Object> regionKeys(Map<String, ?> originals) {
    Map<String, Object> out = new HashMap<>(originals);
    OWN.names().forEach(out::remove);
    return out;
  }
}
