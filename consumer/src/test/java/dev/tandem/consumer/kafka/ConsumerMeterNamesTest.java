package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.FreshTopic;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every meter name the consumer module registers is a constant of {@link ConsumerMeterNames}: one
 * region (region A, on the JVM-wide pair of clusters) with one Kafka consumer processes a few
 * messages with a {@link SimpleMeterRegistry}; then every registered {@code tandem.*} name of this
 * module — {@code tandem.consumer.*} and {@code tandem.region.*}, except the names other modules
 * register under those prefixes ({@link #OTHER_MODULES}) — must be the value of one of the class's
 * {@code public static final String} constants (collected by reflection).
 */
@TandemClusters
class ConsumerMeterNamesTest {

  static TwoRegions regions;

  /** Names under this module's prefixes registered by another module (named with their owner). */
  static final Set<String> OTHER_MODULES = Set.of(
      // dedup-store: KafkaReplicationLog counts refused SASL/TLS handshakes per region
      "tandem.region.authentication.failures");

  static Set<String> constants() throws IllegalAccessException {
    Set<String> out = new TreeSet<>();
    for (Field f : ConsumerMeterNames.class.getDeclaredFields()) {
      int m = f.getModifiers();
      if (Modifier.isPublic(m) && Modifier.isStatic(m) && Modifier.isFinal(m)
          && f.getType() == String.class) {
        out.add((String) f.get(null));
      }
    }
    return out;
  }

  static boolean ofThisModule(String name) {
    return (name.startsWith("tandem.consumer.") || name.startsWith("tandem.region."))
        && !OTHER_MODULES.contains(name);
  }

  @Test
  void everyRegisteredNameOfTheModuleIsAConstant(@FreshTopic("meters") String topic,
      @TempDir Path dir) throws Exception {
    regions.createTopic(topic, 2);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 2);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    History history = new History();
    int n = 5;
    Map<String, String> bootstrap = new LinkedHashMap<>();
    bootstrap.put("region-a", regions.a().bootstrapServers());
    bootstrap.put("region-b", regions.b().bootstrapServers());
    try (TandemRegion a = TandemRegion.builder()
            .regions(bootstrap)
            .localRegion("region-a")
            .stateDir(dir.resolve("state-a"))
            .shards(2)
            .config("tandem.changelog.topic.prefix", topic + "-changelog")
            .heartbeatInterval(Duration.ofMillis(500))
            .automatic(Duration.ofSeconds(2), Duration.ofSeconds(1))
            .groupId(topic + "-group")
            .config("auto.offset.reset", "earliest")
            .meterRegistry(registry)
            .build();
        TandemKafkaProducer<String, byte[]> producer =
            Publishing.producer(regions, dir.resolve("pub"))) {
      TandemKafkaConsumer<String, byte[]> c = a.kafkaConsumer(topic, new StringDeserializer(),
          new ByteArrayDeserializer(),
          (rec, ctx) -> history.handled(ctx.id(), "region-a", a.instance(), ctx.epoch()));
      c.start();
      Publishing.publish(producer, topic, topic, 0, n, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n);
      a.health(); // what an operator's health check reads
      Set<String> constants = constants();
      Set<String> missing = new TreeSet<>();
      Set<String> seen = new TreeSet<>();
      for (Meter m : registry.getMeters()) {
        String name = m.getId().getName();
        if (ofThisModule(name)) {
          seen.add(name);
          if (!constants.contains(name)) {
            missing.add(name);
          }
        }
      }
      assertTrue(seen.contains(ConsumerMeterNames.MESSAGES) && seen.contains(
          ConsumerMeterNames.REGION_OPEN), "the region registered its meters: " + seen);
      assertTrue(missing.isEmpty(), "meter names registered by the consumer module but not "
          + "constants of ConsumerMeterNames (move each into its section): " + missing);
    }
  }
}
