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
}
