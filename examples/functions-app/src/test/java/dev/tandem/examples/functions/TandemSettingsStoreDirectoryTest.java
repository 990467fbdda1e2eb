package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The sample's store directory on the platform: on App Service and Functions on Linux, {@code HOME}
 * is {@code /home}, persisted storage shared by every instance of the app; the same RocksDB directory
 * there would be opened by every instance.
 */
class TandemSettingsStoreDirectoryTest {

  /** Instance {@code instanceId} of the app on App Service / Functions on Linux. */
  static Map<String, String> onLinuxInstance(String instanceId) {
    Map<String, String> env = new HashMap<>(TandemSettingsTest.minimal());
    env.put("HOME", "/home");
    env.put("WEBSITE_SITE_NAME", "tandem-orders-weu");
    env.put("WEBSITE_INSTANCE_ID", instanceId);
    return env;
  }

  @Test
  void twoInstancesOfTheAppGetTheirOwnLocalStoreDirectoriesNotTheSharedHome() {
    Path one = TandemSettings.from(onLinuxInstance("a1".repeat(32))::get).storeDirectory();
    Path two = TandemSettings.from(onLinuxInstance("b2".repeat(32))::get).storeDirectory();
    assertNotEquals(one, two, "two instances share the store directory " + one);
    for (Path p : new Path[] {one, two}) {
      assertTrue(!p.startsWith("/home"), "the store directory " + p + " is on /home, the storage "
          + "every instance of the app shares");
    }
  }

  @Test
  void aConfiguredStoreDirectoryOnSharedStorageIsRefusedNamingThePathAndTheReason() {
    Map<String, String> env = onLinuxInstance("c3".repeat(32));
    env.put("TANDEM_STORE_DIR", "/home/data/tandem"); // what local.settings.json.example had
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> TandemSettings.from(env::get), "a store directory on /home was accepted");
    assertTrue(e.getMessage().contains("/home/data/tandem"), e.getMessage());
    assertTrue(e.getMessage().contains("TANDEM_STORE_DIR"), e.getMessage());
    assertTrue(e.getMessage().contains("shared"), e.getMessage());
  }

  @Test
  void anErrorNotCausedByTandemStoreDirIsNotAttributedToIt() {
    Map<String, String> env = onLinuxInstance("d4".repeat(32));
    env.remove("WEBSITE_INSTANCE_ID"); // on the platform without an instance id; no TANDEM_STORE_DIR
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> TandemSettings.from(env::get));
    assertFalse(e.getMessage().contains("TANDEM_STORE_DIR"), e.getMessage());
    assertTrue(e.getMessage().contains("WEBSITE_INSTANCE_ID"), e.getMessage());
  }
}
