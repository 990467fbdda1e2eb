package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link InstanceStoreDirectory} for given environments (App Service Linux and Windows, local). */
class InstanceStoreDirectoryTest {

  static final Path LINUX_TMP = Path.of("/tmp");
  static final Path WINDOWS_TMP = Path.of("D:\\local\\Temp");

  static Map<String, String> linux(String instanceId) {
    Map<String, String> env = new HashMap<>();
    env.put("HOME", "/home");
    env.put("WEBSITE_SITE_NAME", "tandem-orders-weu");
    env.put("WEBSITE_INSTANCE_ID", instanceId);
    return env;
  }

  static Map<String, String> windows(String instanceId) {
    Map<String, String> env = new HashMap<>();
    env.put("HOME", "D:\\home");
    env.put("WEBSITE_SITE_NAME", "tandem-orders-weu");
    env.put("WEBSITE_INSTANCE_ID", instanceId);
    env.put("COMPUTERNAME", "RD0003FF");
    return env;
  }

  @Test
  void eachInstanceOnLinuxGetsItsOwnDirectoryUnderLocalTemp() {
    String id1 = "4b7c".repeat(16);
    String id2 = "9e21".repeat(16);
    InstanceStoreDirectory one = InstanceStoreDirectory.resolve(linux(id1)::get, null, LINUX_TMP);
    InstanceStoreDirectory two = InstanceStoreDirectory.resolve(linux(id2)::get, null, LINUX_TMP);
    assertEquals(Path.of("/tmp/tandem/" + id1), one.directory());
    assertEquals(Path.of("/tmp/tandem/" + id2), two.directory());
    assertNotEquals(one.directory(), two.directory());
    assertEquals(id1, one.instanceName());
    assertTrue(one.onPlatform());
  }

  @Test
  void onWindowsTheDefaultIsUnderDLocalTempAndDHomeIsRefused() {
    InstanceStoreDirectory d =
        InstanceStoreDirectory.resolve(windows("abc123")::get, null, WINDOWS_TMP);
    assertTrue(InstanceStoreDirectory.isUnder(d.directory().toString(), "D:\\local\\Temp\\tandem"),
        d.directory().toString());
    assertTrue(d.directory().toString().endsWith("abc123"), d.directory().toString());
    IllegalStateException e = assertThrows(IllegalStateException.class, () ->
        InstanceStoreDirectory.resolve(windows("abc123")::get, "d:/HOME/data/tandem", WINDOWS_TMP));
    assertTrue(e.getMessage().contains("d:/HOME/data/tandem"), e.getMessage());
    assertTrue(e.getMessage().contains("shared by every instance"), e.getMessage());
  }

  @Test
  void aConfiguredDirectoryUnderSharedHomeIsRefusedNamingThePathAndTheReason() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () ->
        InstanceStoreDirectory.resolve(linux("i-1")::get, "/home/data/tandem", LINUX_TMP));
    assertTrue(e.getMessage().contains("/home/data/tandem/i-1"), e.getMessage());
    assertTrue(e.getMessage().contains("shared by every instance of the app (/home"),
        e.getMessage());
    // /home itself, and with trailing separators or doubled ones
    assertThrows(IllegalStateException.class,
        () -> InstanceStoreDirectory.resolve(linux("i-1")::get, "/home", LINUX_TMP));
    assertThrows(IllegalStateException.class,
        () -> InstanceStoreDirectory.resolve(linux("i-1")::get, "//home//site/", LINUX_TMP));
    // a sibling whose name starts with "home" is not under it
    assertEquals(Path.of("/homework/t/i-1"),
        InstanceStoreDirectory.resolve(linux("i-1")::get, "/homework/t", LINUX_TMP).directory());
  }

  @Test
  void aConfiguredLocalDirectoryGetsTheInstanceKeyOnThePlatformAndIsUsedAsGivenOffIt() {
    assertEquals(Path.of("/mnt/ssd/tandem/i-2"),
        InstanceStoreDirectory.resolve(linux("i-2")::get, "/mnt/ssd/tandem", LINUX_TMP)
            .directory());
    InstanceStoreDirectory local =
        InstanceStoreDirectory.resolve(Map.of("HOME", "/home/dev")::get, "/home/dev/t", LINUX_TMP);
    assertEquals(Path.of("/home/dev/t"), local.directory(), "local development: as configured");
    assertEquals("local", local.instanceName());
    assertFalse(local.onPlatform());
    assertEquals(Path.of("/tmp/tandem/local"),
        InstanceStoreDirectory.resolve(Map.<String, String>of()::get, null, LINUX_TMP).directory());
  }

  @Test
  void aCustomContainerWithoutAppServiceStorageMayUseHome() {
    Map<String, String> env = linux("i-3");
    env.put("WEBSITES_ENABLE_APP_SERVICE_STORAGE", "false");
    assertEquals(Path.of("/home/tandem/i-3"),
        InstanceStoreDirectory.resolve(env::get, "/home/tandem", LINUX_TMP).directory());
  }

  @Test
  void theInstanceIdFallsBackToTheContainerNameAndIsRequiredOnThePlatform() {
    Map<String, String> env = new HashMap<>(Map.of("HOME", "/home", "WEBSITE_SITE_NAME", "app",
        "CONTAINER_NAME", "app_0_8f2c/../x"));
    InstanceStoreDirectory d = InstanceStoreDirectory.resolve(env::get, null, LINUX_TMP);
    assertEquals(Path.of("/tmp/tandem/app_0_8f2c_.._x"), d.directory(),
        "one path element, no separator");
    assertEquals("app_0_8f2c/../x", d.instanceName());

    env.remove("CONTAINER_NAME");
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> InstanceStoreDirectory.resolve(env::get, null, LINUX_TMP));
    assertTrue(e.getMessage().contains("WEBSITE_INSTANCE_ID"), e.getMessage());
  }

  @Test
  void aRelativeDirectoryIsRefusedOnThePlatform() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> InstanceStoreDirectory.resolve(linux("i-4")::get, "data/tandem", LINUX_TMP));
    assertTrue(e.getMessage().contains("data/tandem") && e.getMessage().contains("relative"),
        e.getMessage());
  }

  @Test
  void aLongInstanceIdIsCutTo64Characters() {
    String id = "f".repeat(100);
    InstanceStoreDirectory d = InstanceStoreDirectory.resolve(linux(id)::get, null, LINUX_TMP);
    assertEquals(64, d.instanceName().length());
    assertEquals(Path.of("/tmp/tandem/" + "f".repeat(64)), d.directory());
  }

  @Test
  void moreThanOneWorkerProcessIsRefusedTheyWouldShareOneInstanceDirectory() {
    Map<String, String> env = linux("i-5");
    env.put("FUNCTIONS_WORKER_PROCESS_COUNT", "2");
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> InstanceStoreDirectory.resolve(env::get, null, LINUX_TMP));
    assertTrue(e.getMessage().contains("FUNCTIONS_WORKER_PROCESS_COUNT")
        && e.getMessage().contains("2") && e.getMessage().contains("one worker process"),
        e.getMessage());
    env.put("FUNCTIONS_WORKER_PROCESS_COUNT", "1");
    assertEquals(Path.of("/tmp/tandem/i-5"),
        InstanceStoreDirectory.resolve(env::get, null, LINUX_TMP).directory());
  }

  @Test
  void aPathThatLeadsIntoHomeThroughDotDotIsRefused() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () ->
        InstanceStoreDirectory.resolve(linux("i-6")::get, "/tmp/../home/data", LINUX_TMP));
    assertTrue(e.getMessage().contains("shared by every instance"), e.getMessage());
    assertThrows(IllegalStateException.class, () -> InstanceStoreDirectory.resolve(
        windows("i-6")::get, "D:\\local\\..\\home\\data", WINDOWS_TMP));
  }

  @Test
  void aPathThatLeadsIntoHomeThroughASymbolicLinkIsRefused(@TempDir Path dir) throws Exception {
    Path home = Files.createDirectories(dir.resolve("home"));
    Path link = Files.createSymbolicLink(dir.resolve("local-looking"), home);
    Map<String, String> env = linux("i-7");
    env.put("HOME", home.toString());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> InstanceStoreDirectory.resolve(env::get, link.resolve("tandem").toString(), LINUX_TMP));
    assertTrue(e.getMessage().contains("shared by every instance"), e.getMessage());
  }

  @Test
  void homeAtTheFileSystemRootDoesNotRefuseEveryDirectory() {
    Map<String, String> env = linux("i-8");
    env.put("HOME", "/");
    assertEquals(Path.of("/tmp/tandem/i-8"),
        InstanceStoreDirectory.resolve(env::get, null, LINUX_TMP).directory());
  }

  @Test
  void offThePlatformTheMachineNameIsNotUsedTheInstanceIsLocal() {
    Map<String, String> devBox = Map.of("COMPUTERNAME", "DEV-LAPTOP", "HOME", "/home/dev");
    InstanceStoreDirectory d = InstanceStoreDirectory.resolve(devBox::get, null, LINUX_TMP);
    assertEquals(Path.of("/tmp/tandem/local"), d.directory());
    assertEquals("local", d.instanceName());
    assertEquals("local", InstanceStoreDirectory.instanceName(devBox::get));
    assertEquals("i-9", InstanceStoreDirectory.instanceName(linux("i-9")::get));
  }
}
