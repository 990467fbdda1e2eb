package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

class TandemSettingsTest {

  @Test
  void settingsAreReadAndAMissingOneIsNamed() {
    Map<String, String> env = Map.of("TANDEM_REGION", "westeurope", "TANDEM_PEER_REGION",
        "northeurope", "TANDEM_KAFKA_LOCAL", "a:9092", "TANDEM_KAFKA_PEER", "b:9092",
        "TANDEM_STORE_DIR", "/tmp/t");
    TandemSettings s = TandemSettings.from(env::get);
    assertEquals("westeurope", s.region().name());
    assertEquals(16, s.shards());
    assertEquals(Path.of("/tmp/t"), s.storeDirectory());
    assertEquals(null, s.serviceBusConnection(), "no recheck sender without ServiceBusConnection");
    Map<String, String> withSb = new HashMap<>(env);
    withSb.put("ServiceBusConnection", "Endpoint=sb://weu.servicebus.windows.net/;SharedAccessKey=k");
    assertEquals("Endpoint=sb://weu.servicebus.windows.net/;SharedAccessKey=k",
        TandemSettings.from(withSb::get).serviceBusConnection());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> TandemSettings.from(Map.of("TANDEM_REGION", "westeurope")::get));
    assertTrue(e.getMessage().contains("TANDEM_PEER_REGION"), e.getMessage());
  }

  @Test
  void theKafkaTriggerClusterIsProbedOnlyWhenItIsNotTheChangelogCluster() {
    Map<String, String> env = minimal(); // TANDEM_KAFKA_LOCAL a:9092
    assertEquals(Optional.empty(), TandemSettings.from(env::get).kafkaTriggerCluster(),
        "no KafkaBrokers setting: no Kafka trigger cluster to probe");
    env.put("KafkaBrokers", " A:9092 ");
    assertEquals(Optional.empty(), TandemSettings.from(env::get).kafkaTriggerCluster(),
        "the changelog cluster: the changelog probe already asks it");
    env.put("TANDEM_KAFKA_LOCAL", "a:9092,a2:9092");
    env.put("KafkaBrokers", "a2:9092, a:9092");
    assertEquals(Optional.empty(), TandemSettings.from(env::get).kafkaTriggerCluster(),
        "the same servers in another order are the same cluster");
    env.put("KafkaBrokers", "events:9092");
    assertEquals(Optional.of("events:9092"), TandemSettings.from(env::get).kafkaTriggerCluster());
  }

  /** L + margin + one heartbeat period with the default settings (35 s). */
  static Duration takeoverTimeOfDefaults() {
    TandemSettings d = TandemSettings.from(minimal()::get);
    return d.leaseTimeout().plus(d.takeoverMargin()).plus(TandemApp.HEARTBEAT_PERIOD);
  }

  static Map<String, String> minimal() {
    Map<String, String> env = new HashMap<>(Map.of("TANDEM_REGION", "westeurope",
        "TANDEM_PEER_REGION", "northeurope", "TANDEM_KAFKA_LOCAL", "a:9092", "TANDEM_KAFKA_PEER",
        "b:9092"));
    return env;
  }

  @Test
  void ownershipSettingsHaveDefaultsAndAcceptIsoDurationsOrSeconds() {
    TandemSettings d = TandemSettings.from(minimal()::get);
    assertEquals(Duration.ofSeconds(20), d.leaseTimeout());
    assertEquals(Duration.ofSeconds(10), d.takeoverMargin());
    assertEquals(1000, d.window());

    Map<String, String> env = minimal();
    env.put("TANDEM_LEASE_TIMEOUT", "PT45S");
    env.put("TANDEM_TAKEOVER_MARGIN", "15");
    env.put("TANDEM_WINDOW", "200");
    TandemSettings s = TandemSettings.from(env::get);
    assertEquals(Duration.ofSeconds(45), s.leaseTimeout());
    assertEquals(Duration.ofSeconds(15), s.takeoverMargin());
    assertEquals(200, s.window());
  }

  @Test
  void malformedOwnershipSettingsFailNamingTheSetting() {
    for (String[] bad : new String[][] {{"TANDEM_LEASE_TIMEOUT", "twenty"},
        {"TANDEM_TAKEOVER_MARGIN", "PT0S"}, {"TANDEM_WINDOW", "0"}, {"TANDEM_WINDOW", "many"},
        {"TANDEM_SHARDS", "-1"}}) {
      Map<String, String> env = minimal();
      env.put(bad[0], bad[1]);
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> TandemSettings.from(env::get), bad[0] + "=" + bad[1]);
      assertTrue(e.getMessage().contains(bad[0]), e.getMessage());
    }
  }

  @Test
  void theSettingsMapOntoTheRegionKeysWhichTheRegionConfigAccepts() {
    Map<String, String> env = minimal();
    env.put("TANDEM_STORE_DIR", "/tmp/t");
    env.put("TANDEM_LEASE_TIMEOUT", "PT45S");
    env.put("TANDEM_WINDOW", "200");
    TandemRegionConfig c = new TandemRegionConfig(TandemSettings.from(env::get)
        .regionConfig("instance-1"));
    assertEquals("westeurope", c.region().name());
    assertEquals(2, c.regions().size());
    assertEquals("b:9092", c.regionClientProperties(c.regions().get(1)).get("bootstrap.servers"));
    assertEquals("/tmp/t", c.getString(TandemRegionConfig.STATE_DIR_CONFIG));
    assertEquals("instance-1", c.getString(TandemRegionConfig.INSTANCE_CONFIG));
    assertEquals(16, c.getInt(TandemRegionConfig.SHARDS_CONFIG));
    assertEquals(45_000L, c.getLong(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG));
    assertEquals(10_000L, c.getLong(TandemRegionConfig.TAKEOVER_MARGIN_MS_CONFIG));
    assertEquals(200, c.getInt(TandemRegionConfig.WINDOW_CONFIG));
    assertEquals(TandemApp.HEARTBEAT_PERIOD.toMillis(),
        c.getLong(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG));
    assertEquals(Duration.ofMinutes(1).toMillis(),
        c.getLong(TandemRegionConfig.CLAIM_LEASE_MS_CONFIG));
  }

  @Test
  void aLeaseTimeoutTooShortForTheHeartbeatTimerFailsNamingTheKey() {
    Map<String, String> env = minimal();
    env.put("TANDEM_STORE_DIR", "/tmp/t");
    env.put("TANDEM_LEASE_TIMEOUT", "8"); // the 5 s timer must beat at least twice within L
    Properties p = TandemSettings.from(env::get).regionConfig("instance-1");
    ConfigException e = assertThrows(ConfigException.class, () -> new TandemRegionConfig(p));
    assertTrue(e.getMessage().contains(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG),
        e.getMessage());
  }
}
