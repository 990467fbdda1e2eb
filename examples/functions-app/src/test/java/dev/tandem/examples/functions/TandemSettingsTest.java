package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
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
}
