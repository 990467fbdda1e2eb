package dev.tandem.spring.kafka;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.testkit.History;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.kafka.autoconfigure.ConcurrentKafkaListenerContainerFactoryConfigurer;
import org.springframework.boot.kafka.autoconfigure.KafkaAutoConfiguration;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.core.ConsumerFactory;

/**
 * One region's Spring application: Boot's Kafka auto-configuration (consumer factory and the
 * container factory configurer from {@code spring.kafka.*}), the region's {@link TandemRegion} and
 * {@link TandemListenerSupport} beans, the container factory with {@link TandemListenerContainers#apply},
 * and one {@code @KafkaListener} (record or batch) whose handling is given by the test.
 */
final class RegionContext implements AutoCloseable {

  /** The listener's body per context id: (record, region) -> handle (may sleep, throw, block). */
  static final Map<String, BiConsumer<ConsumerRecord<String, String>, String>> HANDLERS =
      new ConcurrentHashMap<>();

  static {
    // the test classpath has slf4j-simple (the reactor's test logger) next to Boot's Logback
    System.setProperty("org.springframework.boot.logging.LoggingSystem", "none");
  }

  final String region;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final ConfigurableApplicationContext context;

  RegionContext(String id, String region, Map<String, String> bootstrap, Path dir, String topic,
      boolean batch, Map<String, Object> extra,
      BiConsumer<ConsumerRecord<String, String>, String> handler) {
    this.region = region;
    HANDLERS.put(id, handler);
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("spring.main.web-application-type", "none");
    p.put("spring.main.banner-mode", "off");
    p.put("spring.kafka.bootstrap-servers", bootstrap.get(region));
    p.put("spring.kafka.consumer.group-id", "spring-" + topic + "-" + region);
    p.put("spring.kafka.consumer.auto-offset-reset", "earliest");
    p.put("spring.kafka.consumer.max-poll-records", "100");
    p.put("spring.kafka.consumer.properties.session.timeout.ms", "6000");
    p.put("spring.kafka.consumer.properties.heartbeat.interval.ms", "1000");
    p.put("spring.kafka.listener.concurrency", "8");
    p.put("test.id", id);
    p.put("test.region", region);
    p.put("test.topic", topic);
    p.put("test.batch", Boolean.toString(batch));
    p.put("test.bootstrap.a", bootstrap.get("region-a"));
    p.put("test.bootstrap.b", bootstrap.get("region-b"));
    p.put("test.state", dir.resolve(region + "-state").toString());
    p.put("test.prefix", "tandem-" + topic);
    p.putAll(extra);
    SpringApplicationBuilder b = new SpringApplicationBuilder(App.class)
        .web(WebApplicationType.NONE)
        .properties(p)
        .initializers(ctx -> ctx.getBeanFactory().registerSingleton("testMeters", meters));
    long t0 = System.nanoTime();
    this.context = b.run();
    System.out.printf("context %s started in %d ms%n", id, (System.nanoTime() - t0) / 1_000_000);
  }

  TandemRegion tandem() {
    return context.getBean(TandemRegion.class);
  }

  TandemListenerSupport support() {
    return context.getBean(TandemListenerSupport.class);
  }

  double counter(String name, String tagKey, String tagValue) {
    var s = meters.find(name);
    if (tagKey != null) {
      s = s.tag(tagKey, tagValue);
    }
    return s.counters().stream().mapToDouble(c -> c.count()).sum();
  }

  @Override
  public void close() {
    if (context.isActive()) {
      long t0 = System.nanoTime();
      context.close();
      System.out.printf("context of %s closed in %d ms%n", region, (System.nanoTime() - t0) / 1_000_000);
    }
  }

  static String id(ConsumerRecord<?, ?> r) {
    Header h = r.headers().lastHeader("tandem-id");
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  /** The test application of one region. */
  @SpringBootConfiguration
  @ImportAutoConfiguration(KafkaAutoConfiguration.class)
  static class App {

    @Bean(destroyMethod = "close")
    TandemRegion tandemRegion(@Value("${test.region}") String region,
        @Value("${test.bootstrap.a}") String a, @Value("${test.bootstrap.b}") String b,
        @Value("${test.state}") String state, @Value("${test.prefix}") String prefix,
        @Value("${test.lease.ms:4000}") long leaseMs, @Value("${test.margin.ms:2000}") long marginMs,
        @Value("${test.max.attempts:3}") int maxAttempts,
        @Value("${test.handler.timeout.ms:30000}") long handlerTimeoutMs,
        @Value("${test.max.hold.ms:30000}") long maxHoldMs,
        MeterRegistry testMeters) {
      Map<String, String> bootstrap = new LinkedHashMap<>();
      bootstrap.put("region-a", a);
      bootstrap.put("region-b", b);
      return TandemRegion.builder()
          .regions(bootstrap)
          .localRegion(region)
          .stateDir(Path.of(state))
          .instance(region + "-1")
          .shards(8)
          .heartbeatInterval(Duration.ofMillis(500))
          .automatic(Duration.ofMillis(leaseMs), Duration.ofMillis(marginMs))
          .handlerTimeout(Duration.ofMillis(handlerTimeoutMs))
          .config(TandemRegionConfig.MAX_ATTEMPTS_CONFIG, maxAttempts)
          .config(TandemRegionConfig.MAX_HOLD_MS_CONFIG, maxHoldMs)
          .config(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG, prefix)
          .config(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG, 3_000L)
          .config(TandemRegionConfig.CATCH_UP_TIMEOUT_MS_CONFIG, 5_000L)
          .config(TandemRegionConfig.COMMIT_TIMEOUT_MS_CONFIG, 10_000L)
          .config(ConsumerConfig.GROUP_ID_CONFIG, "tandem-unused-" + region)
          .meterRegistry(testMeters)
          .build();
    }

    @Bean
    TandemListenerSupport tandemListenerSupport(TandemRegion region) {
      return TandemListenerContainers.support(region);
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> kafkaListenerContainerFactory(
        ConcurrentKafkaListenerContainerFactoryConfigurer configurer,
        ConsumerFactory<Object, Object> consumerFactory, TandemRegion region,
        TandemListenerSupport support) {
      ConcurrentKafkaListenerContainerFactory<Object, Object> f =
          new ConcurrentKafkaListenerContainerFactory<>();
      configurer.configure(f, consumerFactory);
      TandemListenerContainers.apply(f, region);
      return f;
    }

    @Bean
    @ConditionalOnProperty(name = "test.batch", havingValue = "false")
    RecordListener recordListener(@Value("${test.id}") String id,
        @Value("${test.region}") String region) {
      return new RecordListener(id, region);
    }

    @Bean
    @ConditionalOnProperty(name = "test.batch", havingValue = "true")
    BatchListener batchListener(@Value("${test.id}") String id,
        @Value("${test.region}") String region) {
      return new BatchListener(id, region);
    }
  }

  /** A plain {@code @KafkaListener} method taking records. */
  static final class RecordListener {
    final String id;
    final String region;

    RecordListener(String id, String region) {
      this.id = id;
      this.region = region;
    }

    @KafkaListener(topics = "${test.topic}")
    void onOrder(ConsumerRecord<String, String> record) {
      HANDLERS.get(id).accept(record, region);
    }
  }

  /** A batch {@code @KafkaListener} method. */
  static final class BatchListener {
    final String id;
    final String region;

    BatchListener(String id, String region) {
      this.id = id;
      this.region = region;
    }

    @KafkaListener(topics = "${test.topic}", batch = "true")
    void onOrders(List<ConsumerRecord<String, String>> records) {
      for (ConsumerRecord<String, String> r : records) {
        HANDLERS.get(id).accept(r, region);
      }
    }
  }

  /** A handler that records the run and takes {@code minMs..maxMs}. */
  static BiConsumer<ConsumerRecord<String, String>, String> recording(History history, int minMs,
      int maxMs) {
    return (r, region) -> {
      history.handled(id(r), region, region + "-1", 0);
      sleep(minMs + java.util.concurrent.ThreadLocalRandom.current().nextInt(maxMs - minMs + 1));
    };
  }

  /** The listener's simulated work (not synchronisation). */
  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
