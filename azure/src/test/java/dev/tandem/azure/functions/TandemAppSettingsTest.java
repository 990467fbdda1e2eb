package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** App settings → the region's keys, and every kind of mistake failing naming the SETTING (no cluster). */
class TandemAppSettingsTest {

  static final String EVENT_HUBS = "Endpoint=sb://tandem-weu.servicebus.windows.net/;"
      + "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VjcmV0";

  @TempDir Path tmp;

  /** The settings of the westeurope app, off the platform. */
  static Map<String, String> westeurope() {
    Map<String, String> env = new HashMap<>();
    env.put("TANDEM_REGIONS", "westeurope,northeurope");
    env.put("TANDEM_REGION", "westeurope");
    env.put("TANDEM_SHARDS", "16");
    env.put("TANDEM_REGION_WESTEUROPE_CONNECTION", "KafkaBrokers");
    env.put("KafkaBrokers", "weu-1:9092,weu-2:9092");
    env.put("TANDEM_REGION_NORTHEUROPE_BOOTSTRAP_SERVERS", "neu-1:9092");
    env.put("PATH", "/usr/bin"); // other settings are not read
    return env;
  }

  ConfigException mistake(Map<String, String> env) {
    return assertThrows(ConfigException.class, () -> TandemAppSettings.from(env, tmp));
  }

  static void assertMentions(String message, String... parts) {
    for (String p : parts) {
      assertTrue(message.contains(p), "'" + p + "' not in: " + message);
    }
  }

  @Test
  void eachSettingMapsOntoItsKeyByOneRuleAndTheKeyTableAcceptsThem() {
    Map<String, String> env = westeurope();
    env.put("TANDEM_LEASE_TIMEOUT_MS", "30000");
    env.put("TANDEM_REPLICATION_WINDOW", "200");
    env.put("TANDEM_CHANGELOG_REPLICATION_FACTOR", "3");
    env.put("TANDEM_REGION_NORTHEUROPE_CLIENT_ID", "weu-app");
    TandemAppSettings s = TandemAppSettings.from(env, tmp);
    TandemRegionConfig c = new TandemRegionConfig(s.regionConfig());
    assertEquals(RegionId.of("westeurope"), c.region());
    assertEquals(30_000L, c.getLong(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG));
    assertEquals(200, c.getInt(TandemRegionConfig.WINDOW_CONFIG));
    assertEquals((short) 3, c.getShort(TandemRegionConfig.CHANGELOG_REPLICATION_FACTOR_CONFIG));
    assertEquals("weu-1:9092,weu-2:9092", c.regionClientProperties(RegionId.of("westeurope"))
        .get("bootstrap.servers"), "the own region's cluster by NAME: the trigger's KafkaBrokers");
    Properties neu = c.regionClientProperties(RegionId.of("northeurope"));
    assertEquals("neu-1:9092", neu.get("bootstrap.servers"));
    assertEquals("weu-app", neu.get("client.id"));
    assertEquals("TANDEM_LEASE_TIMEOUT_MS", s.origin(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG));
    assertEquals("KafkaBrokers (named by TANDEM_REGION_WESTEUROPE_CONNECTION)",
        s.origin("tandem.region.westeurope.bootstrap.servers"));
    // the rule both ways, for every key of the table
    for (String key : TandemRegionConfig.configDef().names()) {
      String setting = TandemAppSettings.settingName(key);
      assertTrue(setting.matches("TANDEM_[A-Z0-9_]+"), setting);
      assertEquals(key, setting.toLowerCase().replace('_', '.'), "the rule is reversible: " + key);
    }
    assertEquals("TANDEM_REGION_WEST_EUROPE_SASL_JAAS_CONFIG",
        TandemAppSettings.regionSettingName("west-europe", "sasl.jaas.config"));
  }

  @Test
  void whatThePlatformGivesIsFilledInWithDefaultsSafeForFunctions() {
    Map<String, String> env = westeurope();
    env.put("WEBSITE_SITE_NAME", "orders-weu");
    env.put("WEBSITE_INSTANCE_ID", "a1".repeat(32));
    env.put("HOME", "/home");
    TandemAppSettings s = TandemAppSettings.from(env, tmp);
    TandemRegionConfig c = new TandemRegionConfig(s.regionConfig());
    assertEquals(tmp.resolve("tandem").resolve("a1".repeat(32)).toString(),
        c.getString(TandemRegionConfig.STATE_DIR_CONFIG), "the instance's own local directory");
    assertEquals("a1".repeat(32), c.getString(TandemRegionConfig.INSTANCE_CONFIG));
    assertEquals(5_000L, c.getLong(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG),
        "the heartbeat timer's period");
    assertEquals(20_000L, c.getLong(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG));
    assertEquals(10_000L, c.getLong(TandemRegionConfig.TAKEOVER_MARGIN_MS_CONFIG));
    assertEquals(60_000L, c.getLong(TandemRegionConfig.CLAIM_LEASE_MS_CONFIG));
    assertEquals(Duration.ofSeconds(35), s.takeoverTime());
    env.put("WEBSITE_INSTANCE_ID", "b2".repeat(32));
    assertNotEquals(c.getString(TandemRegionConfig.STATE_DIR_CONFIG),
        TandemAppSettings.from(env, tmp).regionConfig().get(TandemRegionConfig.STATE_DIR_CONFIG),
        "another instance of the same app: another directory");
  }

  @Test
  void anEventHubsConnectionStringBecomesTheNamespacesKafkaEndpoint() {
    Map<String, String> env = westeurope();
    env.remove("TANDEM_REGION_NORTHEUROPE_BOOTSTRAP_SERVERS");
    env.put("TANDEM_REGION_NORTHEUROPE_CONNECTION", "EventHubsNorthEurope");
    env.put("EventHubsNorthEurope", EVENT_HUBS);
    Properties neu = new TandemRegionConfig(TandemAppSettings.from(env, tmp).regionConfig())
        .regionClientProperties(RegionId.of("northeurope"));
    assertEquals("tandem-weu.servicebus.windows.net:9093", neu.get("bootstrap.servers"));
    assertEquals("SASL_SSL", neu.get("security.protocol"));
    assertEquals("PLAIN", neu.get("sasl.mechanism"));
    assertEquals("org.apache.kafka.common.security.plain.PlainLoginModule required "
        + "username=\"$ConnectionString\" password=\"" + EVENT_HUBS + "\";", neu.get("sasl.jaas.config"));
  }

  @Test
  void aMalformedValueFailsNamingTheSettingAndTheValue() {
    for (String[] bad : new String[][] {{"TANDEM_LEASE_TIMEOUT_MS", "20s"},
        {"TANDEM_SHARDS", "0"}, {"TANDEM_REPLICATION_WINDOW", "many"},
        {"TANDEM_GUARANTEE", "exactly-once"}, {"TANDEM_REGION", "mars"}}) {
      Map<String, String> env = westeurope();
      env.put(bad[0], bad[1]);
      ConfigException e = mistake(env);
      assertTrue(e.getMessage().startsWith("app setting " + bad[0] + "=" + bad[1] + ": "),
          e.getMessage());
    }
  }

  @Test
  void aMissingRequiredSettingIsNamed() {
    Map<String, String> env = westeurope();
    env.remove("TANDEM_SHARDS");
    assertMentions(mistake(env).getMessage(), "app setting TANDEM_SHARDS (not set)");
    env = westeurope();
    env.remove("TANDEM_REGION_NORTHEUROPE_BOOTSTRAP_SERVERS");
    assertMentions(mistake(env).getMessage(), "TANDEM_REGION_NORTHEUROPE_BOOTSTRAP_SERVERS or "
        + "TANDEM_REGION_NORTHEUROPE_CONNECTION (not set)");
    env = westeurope();
    env.remove("TANDEM_REGIONS"); // the region settings cannot be read without the list
    assertMentions(mistake(env).getMessage(), "TANDEM_REGION_WESTEUROPE_CONNECTION (TANDEM_REGIONS "
        + "is not set)");
    env.remove("TANDEM_REGION_WESTEUROPE_CONNECTION");
    env.remove("TANDEM_REGION_NORTHEUROPE_BOOTSTRAP_SERVERS");
    assertMentions(mistake(env).getMessage(), "app setting TANDEM_REGIONS (not set)");
  }

  @Test
  void aCrossCheckOnADefaultNamesTheDefaultedSettingAndTheOneThatWasSet() {
    Map<String, String> env = westeurope();
    env.put("TANDEM_LEASE_TIMEOUT_MS", "8000"); // the 5 s timer must beat twice within L
    String m = mistake(env).getMessage();
    assertMentions(m, "app setting TANDEM_HEARTBEAT_INTERVAL_MS (not set: the Functions default "
        + "5000)", "tandem.lease.timeout.ms is TANDEM_LEASE_TIMEOUT_MS");
  }

  @Test
  void unknownTandemSettingsAreAllReportedWithTheLikelyName() {
    Map<String, String> env = westeurope();
    env.put("TANDEM_LEASE_TIMEOUT", "PT20S"); // the old sample's names
    env.put("TANDEM_STORE_DIR", "/tmp/t");
    env.put("TANDEM_SHARD", "16");
    env.put("TANDEM_REGION_EASTUS_BOOTSTRAP_SERVERS", "eus:9092");
    String m = mistake(env).getMessage();
    assertMentions(m, "TANDEM_LEASE_TIMEOUT (did you mean TANDEM_LEASE_TIMEOUT_MS",
        "TANDEM_STORE_DIR (now TANDEM_STATE_DIR)", "TANDEM_SHARD",
        "TANDEM_REGION_EASTUS_BOOTSTRAP_SERVERS (a region setting of none of TANDEM_REGIONS",
        "unknown Tandem settings");
  }

  @Test
  void theWitnessClustersClientSettingsMapOntoItsPassThroughAndAMisspeltOneIsUnknown() {
    Map<String, String> env = westeurope();
    env.put("TANDEM_OWNERSHIP_POLICY", "witness");
    env.put("TANDEM_WITNESS_BOOTSTRAP_SERVERS", "witness.servicebus.windows.net:9093");
    env.put("TANDEM_WITNESS_SECURITY_PROTOCOL", "SASL_SSL");
    env.put("TANDEM_WITNESS_SASL_MECHANISM", "PLAIN");
    java.util.Properties keys = TandemAppSettings.from(env, tmp).regionConfig();
    assertEquals("SASL_SSL", keys.getProperty("tandem.witness.security.protocol"));
    assertEquals("PLAIN", keys.getProperty("tandem.witness.sasl.mechanism"));
    new TandemRegionConfig(keys); // the region's key table accepts them
    env.put("TANDEM_WITNESS_SECURITY_PROTOKOL", "SASL_SSL");
    assertMentions(mistake(env).getMessage(), "TANDEM_WITNESS_SECURITY_PROTOKOL",
        "unknown Tandem setting");
  }

  @Test
  void aSecretIsNeverPrintedWhateverFormOrMisspeltNameItComesIn() {
    Map<String, String> env = westeurope();
    // an Event Hubs connection string whose keys are in another order: not taken for one
    env.put("KafkaBrokers", "SharedAccessKeyName=Root;SharedAccessKey=c2VjcmV0;"
        + "Endpoint=sb://weu.servicebus.windows.net/");
    String m = mistake(env).getMessage();
    assertMentions(m, "KafkaBrokers", "[hidden]");
    assertTrue(!m.contains("c2VjcmV0"), m);
    env = westeurope();
    env.put("TANDEM_REGION_NORTHEUROPE_SASL_JASS_CONFIG", "org.apache.kafka.common.security.plain"
        + ".PlainLoginModule required username=\"$ConnectionString\" password=\"p4ss\";");
    m = mistake(env).getMessage();
    assertMentions(m, "TANDEM_REGION_NORTHEUROPE_SASL_JASS_CONFIG");
    assertTrue(!m.contains("p4ss"), m);
  }

  @Test
  void regionSettingMistakesNameTheSetting() {
    Map<String, String> env = westeurope();
    env.put("TANDEM_REGION_NORTHEUROPE_BOOTSTRAP_SERVER", "neu:9092"); // not a Kafka key
    assertMentions(mistake(env).getMessage(),
        "app setting TANDEM_REGION_NORTHEUROPE_BOOTSTRAP_SERVER=neu:9092: bootstrap.server is not "
            + "a Kafka client setting");
    env = westeurope();
    env.put("TANDEM_REGION_NORTHEUROPE_TRANSACTIONAL_ID", "t1"); // refused by the key table
    assertMentions(mistake(env).getMessage(),
        "app setting TANDEM_REGION_NORTHEUROPE_TRANSACTIONAL_ID=t1: ");
    env = westeurope();
    env.put("TANDEM_REGION_NORTHEUROPE_SASL_JAAS_CONFIG", "user=\"x\" password=\"p4ss\"");
    env.put("TANDEM_REGION_NORTHEUROPE_SASL_MECHANISMS", "PLAIN");
    String m = mistake(env).getMessage();
    assertMentions(m, "TANDEM_REGION_NORTHEUROPE_SASL_MECHANISMS");
    env = westeurope();
    env.put("TANDEM_REGION_NORTHEUROPE_SASL_JAAS_CONFIGG", "user=\"x\" password=\"p4ss\"");
    m = mistake(env).getMessage();
    assertMentions(m, "app setting TANDEM_REGION_NORTHEUROPE_SASL_JAAS_CONFIGG=[hidden]: ");
    assertFalse(m.contains("p4ss"), "a secret is never in a message: " + m);
  }

  @Test
  void connectionMistakesNameBothSettings() {
    Map<String, String> env = westeurope();
    env.remove("KafkaBrokers");
    assertMentions(mistake(env).getMessage(), "app setting TANDEM_REGION_WESTEUROPE_CONNECTION="
        + "KafkaBrokers: names the app setting KafkaBrokers, which is not set");
    env = westeurope();
    env.put("KafkaBrokers", "weu-1");
    assertMentions(mistake(env).getMessage(), "app setting KafkaBrokers (named by "
        + "TANDEM_REGION_WESTEUROPE_CONNECTION)=weu-1: neither bootstrap servers");
    env = westeurope();
    env.put("TANDEM_REGION_WESTEUROPE_BOOTSTRAP_SERVERS", "weu-3:9092");
    assertMentions(mistake(env).getMessage(), "TANDEM_REGION_WESTEUROPE_BOOTSTRAP_SERVERS",
        "KafkaBrokers (named by TANDEM_REGION_WESTEUROPE_CONNECTION)", "remove one");
    env = westeurope();
    env.put("KafkaBrokers", EVENT_HUBS + ";EntityPath=orders");
    String m = mistake(env).getMessage();
    assertMentions(m, "KafkaBrokers (named by TANDEM_REGION_WESTEUROPE_CONNECTION)=[hidden]",
        "EntityPath=orders");
    assertFalse(m.contains("c2VjcmV0"), "the key is never in a message: " + m);
    env.put("KafkaBrokers", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=x");
    assertMentions(mistake(env).getMessage(), "needs SharedAccessKeyName and SharedAccessKey");
  }

  @Test
  void settingsTheAppMustNotSetAreRefusedSayingWhy() {
    Map<String, String> env = westeurope();
    env.put("TANDEM_INSTANCE", "orders-1");
    assertMentions(mistake(env).getMessage(), "app setting TANDEM_INSTANCE=orders-1: every instance",
        "WEBSITE_INSTANCE_ID");
    env = westeurope();
    env.put("TANDEM_WINDOW_SIZE", "");
    env.put("TANDEM_SHARDS", " ");
    assertMentions(mistake(env).getMessage(), "app setting TANDEM_SHARDS is empty");
    env = westeurope();
    env.put("tandem_shards", "8");
    assertMentions(mistake(env).getMessage(), "differ only in case");
    env = westeurope();
    env.put("WEBSITE_SITE_NAME", "orders-weu");
    env.put("WEBSITE_INSTANCE_ID", "c3".repeat(32));
    env.put("HOME", "/home");
    env.put("TANDEM_STATE_DIR", "/home/data/tandem");
    assertMentions(mistake(env).getMessage(), "app setting TANDEM_STATE_DIR=/home/data/tandem: ",
        "shared");
  }

  @Test
  void theKafkaTriggersClusterIsAnotherOnlyWhenItsServersDiffer() {
    Map<String, String> env = westeurope();
    TandemAppSettings s = TandemAppSettings.from(env, tmp);
    assertEquals(Optional.empty(), s.otherKafkaCluster("KafkaBrokers"), "the own cluster");
    assertEquals(Optional.empty(), s.otherKafkaCluster("NoSuchSetting"));
    env.put("EventsBrokers", "WEU-2:9092, weu-1:9092");
    assertEquals(Optional.empty(), TandemAppSettings.from(env, tmp)
        .otherKafkaCluster("EventsBrokers"), "the same servers in another order and case");
    env.put("EventsBrokers", "events:9092");
    assertEquals(Optional.of("events:9092"), TandemAppSettings.from(env, tmp)
        .otherKafkaCluster("EventsBrokers"));
  }
}
