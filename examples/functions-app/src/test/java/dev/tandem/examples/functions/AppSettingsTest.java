package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.azure.functions.TandemAppSettings;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sample's settings: local.settings.json.example is valid, the README's table is current. */
class AppSettingsTest {

  @TempDir Path tmp;

  /** The "Values" of local.settings.json.example. */
  static Map<String, String> example() throws Exception {
    JsonNode values = new ObjectMapper().readTree(Path.of("local.settings.json.example").toFile())
        .path("Values");
    Map<String, String> env = new HashMap<>();
    values.properties().forEach(e -> env.put(e.getKey(), e.getValue().asText()));
    return env;
  }

  /** L + margin + one heartbeat period with the example's settings (35 s). */
  static Duration takeoverTimeOfDefaults() throws Exception {
    return TandemAppSettings.from(example(), Path.of(System.getProperty("java.io.tmpdir")))
        .takeoverTime();
  }

  @Test
  void theExampleSettingsMakeARegionConfigWithTheClustersByName() throws Exception {
    TandemAppSettings s = TandemAppSettings.from(example(), tmp);
    TandemRegionConfig c = new TandemRegionConfig(s.regionConfig());
    assertEquals(RegionId.of("westeurope"), c.region());
    assertEquals(example().get("KafkaBrokers"), c.regionClientProperties(c.region())
        .get("bootstrap.servers"), "the own region's cluster is the Kafka trigger's");
    assertEquals(example().get("KafkaNorthEurope"),
        c.regionClientProperties(RegionId.of("northeurope")).get("bootstrap.servers"));
    assertEquals(Duration.ofSeconds(35), s.takeoverTime());
  }

  @Test
  void theReadmeSettingsTableIsGeneratedFromTheMapping() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    String table = TandemAppSettings.markdownTable();
    assertTrue(readme.contains("<!-- settings-table:begin -->\n" + table
        + "<!-- settings-table:end -->"), "README.md's settings table is not current; replace the "
        + "lines between the settings-table markers with TandemAppSettings.markdownTable():\n" + table);
  }
}
