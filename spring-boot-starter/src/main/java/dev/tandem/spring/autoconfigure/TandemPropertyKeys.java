package dev.tandem.spring.autoconfigure;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.publisher.TandemClientConfig;
import dev.tandem.publisher.TandemProducerConfig;
import java.beans.Introspector;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The mapping of {@link TandemProperties} onto Tandem's key tables, derived from the properties class
 * itself (so adding a field is adding a key): a property at path {@code tandem.a.b} is the key {@code
 * tandem.a.b}; a {@link Duration} property is the key plus {@code .ms}, in milliseconds. The maps
 * ({@code tandem.regions}, {@code tandem.witness.client}, {@code tandem.consumer}) are mapped by hand,
 * see {@link TandemProperties}.
 */
public final class TandemPropertyKeys {

  /** One scalar property and the Tandem key it sets. */
  public record Leaf(String property, String tandemKey, Class<?> type, List<Method> path) {

    /** This leaf's value in {@code properties} (null when unset), in the key table's unit. */
    Object valueIn(TandemProperties properties) {
      Object v = properties;
      try {
        for (Method m : path) {
          v = m.invoke(v);
          if (v == null) {
            return null;
          }
        }
      } catch (IllegalAccessException | InvocationTargetException e) {
        throw new IllegalStateException("cannot read " + property, e);
      }
      return v instanceof Duration d ? d.toMillis() : v;
    }
  }

  private static final Set<Class<?>> SCALARS =
      Set.of(String.class, Integer.class, Long.class, Short.class, Boolean.class, Duration.class);
  private static final List<Leaf> LEAVES = List.copyOf(walk(TandemProperties.class, "tandem",
      List.of()));

  private TandemPropertyKeys() {}

  /** Every scalar property of {@link TandemProperties}, sorted by property name. */
  public static List<Leaf> leaves() {
    return LEAVES;
  }

  private static List<Leaf> walk(Class<?> type, String prefix, List<Method> path) {
    List<Leaf> out = new ArrayList<>();
    Method[] getters = type.getMethods();
    Arrays.sort(getters, Comparator.comparing(Method::getName));
    for (Method m : getters) {
      if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers())
          || m.getDeclaringClass() == Object.class || !m.getName().startsWith("get")) {
        continue;
      }
      String name = Introspector.decapitalize(m.getName().substring(3));
      List<Method> p = new ArrayList<>(path);
      p.add(m);
      Class<?> r = m.getReturnType();
      if (SCALARS.contains(r)) {
        String property = prefix + "." + name;
        String key = r == Duration.class ? property + ".ms" : property;
        out.add(new Leaf(property, key, r, List.copyOf(p)));
      } else if (r.getEnclosingClass() == TandemProperties.class) {
        out.addAll(walk(r, prefix + "." + name, p));
      }
      // maps are mapped by hand in toConfig
    }
    out.sort(Comparator.comparing(Leaf::property));
    return out;
  }

  /**
   * The region's configuration ({@code TandemRegion.create}): every set property of the region's key
   * table, the regions and their client settings, the witness's client settings, the region's own
   * consumer settings.
   */
  public static Map<String, Object> regionConfig(TandemProperties properties) {
    Map<String, Object> c = new LinkedHashMap<>();
    properties.getConsumer().forEach(c::put);
    putRegions(properties, c);
    put(properties, c, TandemRegionConfig.configDef().names());
    properties.getWitness().getClient().forEach((k, v) ->
        c.put(TandemRegionConfig.WITNESS_CLIENT_PREFIX + k, v));
    return c;
  }

  /**
   * The producer's Tandem keys ({@code TandemProducerConfig}): every set property of the producer's key
   * table, the regions and their client settings; {@code tandem.spool.dir} defaults to {@code
   * <tandem.state.dir>/publisher-spool}.
   */
  public static Map<String, Object> producerConfig(TandemProperties properties) {
    Map<String, Object> c = new LinkedHashMap<>();
    putRegions(properties, c);
    put(properties, c, TandemProducerConfig.configDef().names());
    if (!c.containsKey(TandemProducerConfig.SPOOL_DIR_CONFIG)
        && properties.getState().getDir() != null) {
      c.put(TandemProducerConfig.SPOOL_DIR_CONFIG,
          java.nio.file.Path.of(properties.getState().getDir(), "publisher-spool").toString());
    }
    return c;
  }

  private static void putRegions(TandemProperties properties, Map<String, Object> c) {
    if (properties.getRegions().isEmpty()) {
      return;
    }
    c.put(TandemClientConfig.REGIONS_CONFIG, String.join(",", properties.getRegions().keySet()));
    properties.getRegions().forEach((r, client) -> {
      if (client != null) {
        client.forEach((k, v) -> c.put(TandemClientConfig.REGION_PREFIX + r + "." + k, v));
      }
    });
  }

  private static void put(TandemProperties properties, Map<String, Object> c, Set<String> keys) {
    for (Leaf leaf : LEAVES) {
      if (keys.contains(leaf.tandemKey())) {
        Object v = leaf.valueIn(properties);
        if (v != null) {
          c.put(leaf.tandemKey(), v);
        }
      }
    }
  }

  /** The documented definition of {@code tandemKey}: the region's table first, then the producer's. */
  static org.apache.kafka.common.config.ConfigDef.ConfigKey definition(String tandemKey) {
    org.apache.kafka.common.config.ConfigDef.ConfigKey k =
        TandemRegionConfig.configDef().configKeys().get(tandemKey);
    return k != null ? k : TandemProducerConfig.configDef().configKeys().get(tandemKey);
  }

  /** The hand-mapped map properties: (property, Tandem key pattern, description). */
  static final List<String[]> MAPS = List.of(
      new String[] {"tandem.regions.<r>.<kafka key>",
          "tandem.regions, tandem.region.<r>.<kafka key>",
          "Every region, in order, with its Kafka client settings (at least bootstrap.servers; "
              + "security.protocol, sasl.*, ssl.* for a TLS/SASL cluster). The names in the order "
              + "written are tandem.regions; each setting is tandem.region.<r>.<kafka key>. The own "
              + "region's settings are also Spring Boot's Kafka defaults (spring.kafka.bootstrap-servers, "
              + "spring.kafka.properties.*)."},
      new String[] {"tandem.witness.client.<kafka key>", "tandem.witness.<kafka key>",
          "The witness cluster's other Kafka client settings (security.protocol, sasl.*, ssl.*)."},
      new String[] {"tandem.consumer.<kafka key>", "<kafka key>",
          "Kafka settings of the consumers the region itself makes (TandemRegion.kafkaConsumer); "
              + "@KafkaListener containers take spring.kafka.consumer.* instead."});

  /**
   * The properties table of the starter's README: every {@code tandem.*} property, the Tandem key it
   * sets, its type, default and description (from the key tables).
   */
  public static String markdownTable() {
    StringBuilder sb = new StringBuilder();
    sb.append("| application.yml | Tandem key | type | default | description |\n");
    sb.append("|---|---|---|---|---|\n");
    for (String[] m : MAPS) {
      sb.append("| `").append(m[0]).append("` | `").append(m[1]).append("` | map |  | ")
          .append(cell(m[2])).append(" |\n");
    }
    for (Leaf leaf : LEAVES) {
      org.apache.kafka.common.config.ConfigDef.ConfigKey k = definition(leaf.tandemKey());
      if (k == null) {
        throw new IllegalStateException(leaf.property() + " maps onto " + leaf.tandemKey()
            + ", which no key table declares");
      }
      sb.append("| `").append(leaf.property()).append("` | `").append(leaf.tandemKey()).append("` | ")
          .append(leaf.type() == Duration.class ? "duration (bare number: ms)"
              : leaf.type().getSimpleName().toLowerCase(java.util.Locale.ROOT))
          .append(" | ").append(defaultOf(k, leaf)).append(" | ")
          .append(cell(doc(k))).append(" |\n");
    }
    return sb.toString();
  }

  private static String defaultOf(org.apache.kafka.common.config.ConfigDef.ConfigKey k, Leaf leaf) {
    if (!k.hasDefault()) {
      return leaf.property().equals("tandem.spool.dir") ? "`<tandem.state.dir>/publisher-spool`"
          : "(required)";
    }
    if (k.defaultValue == null) {
      return "";
    }
    return "`" + k.defaultValue + (leaf.type() == Duration.class ? "ms" : "") + "`";
  }

  private static String doc(org.apache.kafka.common.config.ConfigDef.ConfigKey k) {
    return k.documentation.replaceAll("</?code>", "`").replace("&lt;", "<").replace("&gt;", ">");
  }

  private static String cell(String s) {
    return s.replace("|", "\\|").replace("\n", " ");
  }

  /**
   * {@code META-INF/additional-spring-configuration-metadata.json}: the key tables' descriptions and
   * defaults for the IDE (the configuration processor merges it into the generated metadata).
   */
  public static String additionalMetadataJson() {
    StringBuilder sb = new StringBuilder("{\n  \"properties\": [\n");
    List<String> items = new ArrayList<>();
    for (Leaf leaf : LEAVES) {
      org.apache.kafka.common.config.ConfigDef.ConfigKey k = definition(leaf.tandemKey());
      if (k == null) {
        continue;
      }
      StringBuilder i = new StringBuilder("    {\n");
      i.append("      \"name\": ").append(json(leaf.property())).append(",\n");
      i.append("      \"description\": ").append(json(doc(k) + " (" + leaf.tandemKey() + ")"));
      if (k.hasDefault() && k.defaultValue != null) {
        Object d = k.defaultValue;
        String v = leaf.type() == Duration.class ? json(d + "ms")
            : d instanceof Number || d instanceof Boolean ? d.toString() : json(d.toString());
        i.append(",\n      \"defaultValue\": ").append(v);
      }
      i.append("\n    }");
      items.add(i.toString());
    }
    sb.append(String.join(",\n", items)).append("\n  ]\n}\n");
    return sb.toString();
  }

  private static String json(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        default -> sb.append(c < 0x20 ? String.format("\\u%04x", (int) c) : String.valueOf(c));
      }
    }
    return sb.append('"').toString();
  }
}
