package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
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
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> TandemSettings.from(Map.of("TANDEM_REGION", "westeurope")::get));
    assertTrue(e.getMessage().contains("TANDEM_PEER_REGION"), e.getMessage());
  }
}
