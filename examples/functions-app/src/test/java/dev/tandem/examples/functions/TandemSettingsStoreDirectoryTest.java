package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.azure.functions.TandemAppSettings;
import java.nio.file.Path;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sample's store directory on the platform: on App Service and Functions on Linux, {@code HOME}
 * is {@code /home}, persisted storage shared by every instance of the app; the same RocksDB directory
 * there would be opened by every instance.
 */
class TandemSettingsStoreDirectoryTest {

  @TempDir Path tmp;

  /** Instance {@code instanceId} of the app on App Service / Functions on Linux. */
  static Map<String, String> onLinuxInstance(String instanceId) throws Exception {
    Map<String, String> env = AppSettingsTest.example();
    env.put("HOME", "/home");
    env.put("WEBSITE_SITE_NAME", "tandem-orders-weu");
    env.put("WEBSITE_INSTANCE_ID", instanceId);
    return env;
  }

  Path storeDirectory(Map<String, String> env) {
    return TandemAppSettings.from(env, tmp).instanceDirectory().directory();
  }

  @Test
  void twoInstancesOfTheAppGetTheirOwnLocalStoreDirectoriesNotTheSharedHome() throws Exception {
    Path one = storeDirectory(onLinuxInstance("a1".repeat(32)));
    Path two = storeDirectory(onLinuxInstance("b2".repeat(32)));
    assertNotEquals(one, two, "two instances share the store directory " + one);
    for (Path p : new Path[] {one, two}) {
      assertTrue(!p.startsWith("/home"), "the store directory " + p + " is on /home, the storage "
          + "every instance of the app shares");
    }
  }

  @Test
  void aConfiguredStoreDirectoryOnSharedStorageIsRefusedNamingThePathAndTheReason()
      throws Exception {
    Map<String, String> env = onLinuxInstance("c3".repeat(32));
    env.put("TANDEM_STATE_DIR", "/home/data/tandem"); // what local.settings.json.example once had
    ConfigException e = assertThrows(ConfigException.class, () -> storeDirectory(env),
        "a store directory on /home was accepted");
    assertTrue(e.getMessage().contains("/home/data/tandem"), e.getMessage());
    assertTrue(e.getMessage().contains("TANDEM_STATE_DIR"), e.getMessage());
    assertTrue(e.getMessage().contains("shared"), e.getMessage());
  }

  @Test
  void anErrorNotCausedByTandemStateDirIsNotAttributedToIt() throws Exception {
    Map<String, String> env = onLinuxInstance("d4".repeat(32));
    env.remove("WEBSITE_INSTANCE_ID"); // on the platform without an instance id; no TANDEM_STATE_DIR
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> storeDirectory(env));
    assertFalse(e.getMessage().contains("TANDEM_STATE_DIR"), e.getMessage());
    assertTrue(e.getMessage().contains("WEBSITE_INSTANCE_ID"), e.getMessage());
  }
}
