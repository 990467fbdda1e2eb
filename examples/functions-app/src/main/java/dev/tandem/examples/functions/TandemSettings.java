package dev.tandem.examples.functions;

import dev.tandem.core.RegionId;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Function;

/**
 * The app settings Tandem needs (local.settings.json "Values" locally, application settings in
 * Azure); a missing one fails at start, naming it.
 */
record TandemSettings(RegionId region, RegionId peer, String kafkaLocal, String kafkaPeer,
    int shards, Path storeDirectory) {

  static TandemSettings from(Function<String, String> env) {
    return new TandemSettings(
        RegionId.of(required(env, "TANDEM_REGION")),
        RegionId.of(required(env, "TANDEM_PEER_REGION")),
        required(env, "TANDEM_KAFKA_LOCAL"),
        required(env, "TANDEM_KAFKA_PEER"),
        Integer.parseInt(orDefault(env, "TANDEM_SHARDS", "16")),
        Path.of(orDefault(env, "TANDEM_STORE_DIR",
            orDefault(env, "HOME", System.getProperty("java.io.tmpdir")) + "/data/tandem")));
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
