package dev.tandem.spring.autoconfigure;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.spring.autoconfigure.actuator.TandemEndpoint;
import dev.tandem.spring.autoconfigure.actuator.TandemHealthIndicator;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.core.ProducerFactory;

/**
 * The starter against two real in-JVM KRaft clusters, one Spring application context per region,
 * each started from properties only (the application class has no Tandem wiring of its own). The
 * clusters and the two contexts are shared by the tests of the class; the broker outage runs last.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TandemStarterTest {

  static final String TOPIC = "orders";
  static final String STREAM = "stream";
  static final int SHARDS = 4;

  static TwoRegions regions;
  static Path dir;
  static ConfigurableApplicationContext contextA;
  static ConfigurableApplicationContext contextB;
  /** What the region consumers of the test application processed: (region, tandem id). */
  static final List<String[]> processed = new CopyOnWriteArrayList<>();

  /**
   * The application: a plain {@code @KafkaListener} on the handover's stream, nothing
   * Tandem-specific (the auto-configuration puts its container under the guarantee).
   */
  @SpringBootConfiguration
  @EnableAutoConfiguration
  static class App {
    @Bean
    StreamListener streamListener(@Value("${tandem.region}") String region) {
      return new StreamListener(region);
    }
  }

  /** Records (region, tandem id) of every record the listener method ran for. */
  static class StreamListener {
    private final String region;

    StreamListener(String region) {
      this.region = region;
    }

    @KafkaListener(topics = STREAM)
    void on(ConsumerRecord<String, String> record) {
      Header h = record.headers().lastHeader(TandemKafkaProducer.ID_HEADER);
      processed.add(new String[] {region, new String(h.value(), StandardCharsets.UTF_8)});
    }
  }

  static Map<String, Object> properties(String region) {
    Map<String, Object> p = new HashMap<>();
    p.put("tandem.region", region);
    p.put("tandem.regions.a.bootstrap.servers", regions.a().bootstrapServers());
    p.put("tandem.regions.b.bootstrap.servers", regions.b().bootstrapServers());
    p.put("tandem.state.dir", dir.resolve(region).toString());
    p.put("tandem.shards", SHARDS);
    p.put("tandem.changelog.topic.prefix", "starter");
    p.put("tandem.lease.timeout", "4s");
    p.put("tandem.takeover.margin", "2s");
    p.put("tandem.heartbeat.interval", "500ms");
    p.put("tandem.changelog.publish.timeout", "2s");
    p.put("tandem.timeout", "5s");
    p.put("spring.kafka.consumer.group-id", "stream");
    p.put("spring.kafka.consumer.auto-offset-reset", "earliest");
    p.put("management.endpoints.web.exposure.include", "health,tandem");
    p.put("logging.level.org.apache.kafka", "ERROR");
    return p;
  }

  static ConfigurableApplicationContext start(String region) {
    return new SpringApplicationBuilder(App.class).web(WebApplicationType.NONE)
        .properties(properties(region)).run();
  }

  static {
    // the two contexts start in parallel, and Boot's LoggingSystem is not safe for two
    // SpringApplication.run at once in one JVM: one resets Logback while the other's encoder
    // starts ("Unable to find Spring Environment in logger context", seen in a loaded verify run).
    // RegionContext sets the same for the kafka package's tests; which class loads first is
    // surefire's order, so this class sets it itself.
    System.setProperty("org.springframework.boot.logging.LoggingSystem", "none");
  }

  @BeforeAll
  static void startRegions() throws Exception {
    regions = TwoRegions.start("a", "b");
    regions.createTopic(TOPIC, SHARDS);
    regions.createTopic(STREAM, SHARDS);
    dir = Files.createTempDirectory("tandem-starter");
    // both regions' contexts start together (half the wait; neither starts long after the other)
    var b = java.util.concurrent.CompletableFuture.supplyAsync(() -> start("b"));
    contextA = start("a");
    contextB = b.join();
  }

  @AfterAll
  static void stopRegions() {
    for (ConfigurableApplicationContext c : new ConfigurableApplicationContext[] {contextA, contextB}) {
      if (c != null) {
        c.close();
      }
    }
    if (regions != null) {
      regions.close();
    }
  }

  @Test
  @Order(1)
  void contextStartsFromPropertiesAndKafkaTemplateReachesBothRegionsWithOneId() throws Exception {
    TandemRegion region = contextA.getBean(TandemRegion.class);
    assertEquals("a", region.region().name());
    assertInstanceOf(TandemProducerFactory.class, contextA.getBean(ProducerFactory.class));
    @SuppressWarnings("unchecked")
    KafkaTemplate<Object, Object> template = contextA.getBean(KafkaTemplate.class);
    int n = 20;
    for (int i = 0; i < n; i++) {
      template.send(TOPIC, "order-" + i, "{\"order\":" + i + "}").get();
    }
    Map<String, String> idsA = idsByKey(regions.a(), n);
    Map<String, String> idsB = idsByKey(regions.b(), n);
    assertEquals(n, idsA.size(), "every order in region a");
    assertEquals(idsA, idsB, "the same Tandem id for each order in both regions");
    assertEquals(n, Set.copyOf(idsA.values()).size(), "one id per order");
    // Boot's own Kafka clients default to the own region (TandemEnvironmentPostProcessor)
    assertEquals(regions.a().bootstrapServers(),
        contextA.getEnvironment().getProperty("spring.kafka.bootstrap-servers"));
  }

  /** key -> tandem id header of every record of TOPIC in {@code region}. */
  static Map<String, String> idsByKey(KafkaRegion region, int expected) {
    Map<String, String> ids = new ConcurrentHashMap<>();
    java.util.Properties props = region.consumerProperties("check-" + System.nanoTime());
    props.put("key.deserializer", org.apache.kafka.common.serialization.ByteArrayDeserializer.class.getName());
    props.put("value.deserializer", org.apache.kafka.common.serialization.ByteArrayDeserializer.class.getName());
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
      c.subscribe(List.of(TOPIC));
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          Header h = r.headers().lastHeader(TandemKafkaProducer.ID_HEADER);
          ids.put(new String(r.key(), StandardCharsets.UTF_8),
              h == null ? "none" : new String(h.value(), StandardCharsets.UTF_8));
        }
        return ids.size() >= expected;
      });
    }
    return ids;
  }

  @Test
  @Order(2)
  void handoverEndpointMovesAShardWithZeroDuplicatesDuringAStream() throws Exception {
    TandemEndpoint endpointA = contextA.getBean(TandemEndpoint.class);
    TandemRegion a = contextA.getBean(TandemRegion.class);
    TandemRegion b = contextB.getBean(TandemRegion.class);
    int shard = -1;
    for (int s = 0; s < SHARDS && shard < 0; s++) {
      if (a.ownership().owns(s)) {
        shard = s;
      }
    }
    assertTrue(shard >= 0, "region a owns a shard: " + endpointA.ownership());
    @SuppressWarnings("unchecked")
    KafkaTemplate<Object, Object> template = contextA.getBean(KafkaTemplate.class);
    int n = 400;
    int s0 = shard;
    // the first half before the handover: region a, the owner, processes it
    for (int i = 0; i < n / 2; i++) {
      template.send(STREAM, s0, "k" + i, "v" + i); // explicit partition: the shard handed over
    }
    template.flush();
    await().atMost(Duration.ofSeconds(30)).until(() -> processed.size() >= n / 4);
    // the second half while the handover runs
    Thread sender = new Thread(() -> {
      for (int i = n / 2; i < n; i++) {
        template.send(STREAM, s0, "k" + i, "v" + i);
      }
    });
    sender.start();
    Map<String, Object> report = endpointA.handover(shard, "b", 20_000L);
    sender.join();
    template.flush();
    assertNotNull(report);
    assertEquals(Boolean.TRUE, report.get("moved"), "handover report: " + report);
    int s = shard;
    await().atMost(Duration.ofSeconds(30)).until(() -> b.ownership().owns(s));
    await().atMost(Duration.ofSeconds(40)).until(() -> Set.copyOf(ids()).size() >= n);
    // the stream drained: count again after a quiet second of B's loop
    List<String> ids = ids();
    Map<String, Integer> counts = new HashMap<>();
    ids.forEach(id -> counts.merge(id, 1, Integer::sum));
    long duplicates = counts.values().stream().filter(c -> c > 1).count();
    long byA = processed.stream().filter(p -> p[0].equals("a")).count();
    long byB = processed.stream().filter(p -> p[0].equals("b")).count();
    System.out.printf("handover: %d messages, processed a=%d b=%d, duplicates=%d, report=%s%n", n,
        byA, byB, duplicates, report);
    assertEquals(n, counts.size(), "every message processed");
    assertEquals(0, duplicates, "no message processed twice across the regions");
    assertTrue(byB > 0, "region b processed the rest of the shard after the handover");
    Map<String, Object> view = contextB.getBean(TandemEndpoint.class).ownership();
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> shards = (List<Map<String, Object>>) view.get("shards");
    assertEquals("b", shards.get(shard).get("owner"), "b's endpoint shows the new owner: " + view);
    assertEquals(Boolean.TRUE, shards.get(shard).get("held"));
  }

  static List<String> ids() {
    List<String> ids = new ArrayList<>();
    processed.forEach(p -> ids.add(p[1]));
    return ids;
  }

  @Test
  @Order(3)
  void healthGoesDownWhenTheOwnBrokerStopsAndUpWhenItReturns() {
    TandemHealthIndicator health = contextA.getBean(TandemHealthIndicator.class);
    await().atMost(Duration.ofSeconds(30)).until(() -> health.health().getStatus().equals(Status.UP));
    long t0 = System.nanoTime();
    regions.a().stopBroker();
    try {
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
          .until(() -> health.health().getStatus().equals(Status.DOWN));
      long down = System.nanoTime();
      Health h = health.health();
      System.out.printf("health DOWN %d ms after the broker stopped: %s%n", (down - t0) / 1_000_000,
          h.getDetails().get("reasons"));
    } finally {
      regions.a().startBroker();
    }
    long t1 = System.nanoTime();
    await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(200))
        .until(() -> health.health().getStatus().equals(Status.UP));
    System.out.printf("health UP %d ms after the broker returned%n",
        (System.nanoTime() - t1) / 1_000_000);
  }
}
