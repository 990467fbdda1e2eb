package dev.tandem.spring.autoconfigure;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.publisher.TandemProducerConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.config.ConfigDef;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.env.YamlPropertySourceLoader;
import org.springframework.core.env.PropertySource;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.io.ByteArrayResource;

/**
 * {@code tandem.*} in application.yml against the key tables: every key of {@code TandemRegionConfig}
 * and {@code TandemProducerConfig} is reachable from YAML and arrives with its value; every property
 * maps onto a declared key; the generated IDE metadata knows every property; the README table and
 * the additional metadata are the tables' (regenerate both with {@code -Dtandem.docs.write=true},
 * as ConfigDocsTest does for the other tables).
 */
class TandemPropertiesTest {

  /** Values for keys without a usable default (required, or unset by default). */
  static final Map<String, String> GIVEN = Map.of(
      "tandem.region", "a",
      "tandem.state.dir", "/tmp/tandem-state",
      "tandem.shards", "4",
      "tandem.instance", "i-1",
      "tandem.stale.margin", "3600000ms",
      "tandem.changelog.retention", "700000000ms",
      "tandem.failback.after", "60000ms",
      "tandem.witness.bootstrap.servers", "witness:9092",
      "tandem.spool.dir", "/tmp/tandem-spool");

  /** A YAML document setting every property of TandemProperties, nested the way users write it. */
  static String everyPropertyAsYaml() {
    Map<String, Object> tree = new LinkedHashMap<>();
    for (TandemPropertyKeys.Leaf leaf : TandemPropertyKeys.leaves()) {
      String value = GIVEN.get(leaf.property());
      if (value == null) {
        ConfigDef.ConfigKey k = TandemPropertyKeys.definition(leaf.tandemKey());
        assertNotNull(k, leaf.tandemKey());
        value = leaf.type() == Duration.class ? k.defaultValue + "ms" : String.valueOf(k.defaultValue);
      }
      put(tree, leaf.property(), value);
    }
    StringBuilder yaml = new StringBuilder();
    write(yaml, tree, "");
    yaml.append("""
        tandem:
          regions:
            a:
              bootstrap.servers: kafka-a:9092
              security.protocol: PLAINTEXT
            b:
              bootstrap.servers: kafka-b:9092
          witness:
            client:
              security.protocol: PLAINTEXT
          consumer:
            max.poll.records: 200
        """.replace("tandem:\n", "tandem_maps:\n"));
    return yaml.toString().replace("tandem_maps:", "---\ntandem:");
  }

  @SuppressWarnings("unchecked")
  static void put(Map<String, Object> tree, String path, String value) {
    String[] parts = path.split("\\.");
    Map<String, Object> m = tree;
    for (int i = 0; i < parts.length - 1; i++) {
      m = (Map<String, Object>) m.computeIfAbsent(parts[i], x -> new LinkedHashMap<>());
    }
    m.put(parts[parts.length - 1], value);
  }

  @SuppressWarnings("unchecked")
  static void write(StringBuilder sb, Map<String, Object> m, String indent) {
    m.forEach((k, v) -> {
      if (v instanceof Map<?, ?> child) {
        sb.append(indent).append(k).append(":\n");
        write(sb, (Map<String, Object>) child, indent + "  ");
      } else {
        sb.append(indent).append(k).append(": \"").append(v).append("\"\n");
      }
    });
  }

  static TandemProperties bind(String yaml) throws Exception {
    StandardEnvironment env = new StandardEnvironment();
    for (PropertySource<?> s : new YamlPropertySourceLoader().load("test.yml",
        new ByteArrayResource(yaml.getBytes(StandardCharsets.UTF_8)))) {
      env.getPropertySources().addFirst(s);
    }
    return new Binder(ConfigurationPropertySources.get(env)).bind("tandem", TandemProperties.class)
        .get();
  }

  @Test
  void everyRegionKeyIsReachableFromApplicationYml() throws Exception {
    TandemProperties p = bind(everyPropertyAsYaml());
    Map<String, Object> config = TandemPropertyKeys.regionConfig(p);
    Set<String> missing = new TreeSet<>(TandemRegionConfig.configDef().names());
    missing.removeAll(config.keySet());
    assertEquals(Set.of(), missing, "TandemRegionConfig keys application.yml cannot set");
    TandemRegionConfig c = new TandemRegionConfig(config); // the table accepts every value
    for (String key : TandemRegionConfig.configDef().names()) {
      Map<String, Object> alone = new LinkedHashMap<>(Map.of("tandem.regions", "a,b",
          "tandem.region", "a", "tandem.state.dir", "x", "tandem.shards", "4"));
      alone.put(key, config.get(key));
      assertEquals(TandemRegionConfig.configDef().parse(alone).get(key), c.values().get(key), key);
    }
    assertEquals("a,b", config.get("tandem.regions"), "regions in the order written");
    assertEquals("kafka-a:9092", config.get("tandem.region.a.bootstrap.servers"));
    assertEquals("PLAINTEXT", config.get("tandem.region.a.security.protocol"));
    assertEquals("kafka-b:9092", config.get("tandem.region.b.bootstrap.servers"));
    assertEquals("PLAINTEXT", config.get("tandem.witness.security.protocol"));
    assertEquals("200", config.get("max.poll.records"));
    assertEquals(6000L, config.get("tandem.lease.timeout.ms"), "a duration arrives in ms");
  }

  @Test
  void everyProducerKeyIsReachableFromApplicationYml() throws Exception {
    TandemProperties p = bind(everyPropertyAsYaml());
    Map<String, Object> config = TandemPropertyKeys.producerConfig(p);
    Set<String> missing = new TreeSet<>(TandemProducerConfig.configDef().names());
    missing.removeAll(config.keySet());
    assertEquals(Set.of(), missing, "TandemProducerConfig keys application.yml cannot set");
    new TandemProducerConfig(config);
    assertEquals("/tmp/tandem-spool", config.get("tandem.spool.dir"));
  }

  @Test
  void theSpoolDirectoryDefaultsToOneInTheStateDirectory() throws Exception {
    TandemProperties p = bind("tandem:\n  state:\n    dir: /var/lib/app\n  regions:\n    a:\n"
        + "      bootstrap.servers: x:1\n");
    assertEquals(Path.of("/var/lib/app", "publisher-spool").toString(),
        TandemPropertyKeys.producerConfig(p).get("tandem.spool.dir"));
  }

  @Test
  void everyPropertyMapsOntoADeclaredKey() {
    Set<String> declared = new TreeSet<>(TandemRegionConfig.configDef().names());
    declared.addAll(TandemProducerConfig.configDef().names());
    List<String> stray = new ArrayList<>();
    for (TandemPropertyKeys.Leaf leaf : TandemPropertyKeys.leaves()) {
      if (!declared.contains(leaf.tandemKey())) {
        stray.add(leaf.property() + " -> " + leaf.tandemKey());
      }
    }
    assertEquals(List.of(), stray, "properties whose Tandem key no table declares");
  }

  /** The configuration processor's output (target/classes) has every property, with its doc. */
  @Test
  void theGeneratedIdeMetadataHasEveryProperty() throws Exception {
    String json = Files.readString(Path.of("target", "classes", "META-INF",
        "spring-configuration-metadata.json"), StandardCharsets.UTF_8);
    List<String> absent = new ArrayList<>();
    for (TandemPropertyKeys.Leaf leaf : TandemPropertyKeys.leaves()) {
      if (!json.contains("\"name\": \"" + leaf.property() + "\"")) {
        absent.add(leaf.property());
      }
    }
    for (String map : List.of("tandem.regions", "tandem.consumer", "tandem.witness.client")) {
      if (!json.contains("\"name\": \"" + map + "\"")) {
        absent.add(map);
      }
    }
    assertEquals(List.of(), absent, "properties missing from spring-configuration-metadata.json");
    assertTrue(json.contains("(tandem.lease.timeout.ms)"),
        "the key tables' descriptions are merged in (additional metadata)");
  }

  @Test
  void theReadmePropertiesTableIsCurrent() throws Exception {
    Path readme = Path.of("README.md");
    String begin = "<!-- generated from TandemPropertyKeys.markdownTable(): begin -->";
    String end = "<!-- generated from TandemPropertyKeys.markdownTable(): end -->";
    String text = Files.readString(readme, StandardCharsets.UTF_8);
    int b = text.indexOf(begin);
    int e = text.indexOf(end);
    assertTrue(b >= 0 && e > b, readme + " has no generated table between " + begin + " and " + end);
    String generated = "\n" + TandemPropertyKeys.markdownTable();
    String current = text.substring(b + begin.length(), e);
    if (Boolean.getBoolean("tandem.docs.write") && !current.equals(generated)) {
      Files.writeString(readme, text.substring(0, b + begin.length()) + generated + text.substring(e),
          StandardCharsets.UTF_8);
      return;
    }
    assertEquals(generated, current, readme + ": the properties table is stale; regenerate it with "
        + "-Dtandem.docs.write=true");
  }

  @Test
  void theAdditionalMetadataIsCurrent() throws Exception {
    Path file = Path.of("src", "main", "resources", "META-INF",
        "additional-spring-configuration-metadata.json");
    String generated = TandemPropertyKeys.additionalMetadataJson();
    String current = Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
    if (Boolean.getBoolean("tandem.docs.write") && !current.equals(generated)) {
      Files.writeString(file, generated, StandardCharsets.UTF_8);
      return;
    }
    assertEquals(generated, current, file + " is stale; regenerate it with -Dtandem.docs.write=true");
  }
}
