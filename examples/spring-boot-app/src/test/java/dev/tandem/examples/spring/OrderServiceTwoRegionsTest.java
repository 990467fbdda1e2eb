package dev.tandem.examples.spring;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The sample as a newcomer runs it: the same application in two regions (profiles region-a and
 * region-b, the bootstrap servers from the environment as the README says), against two real in-JVM
 * Kafka clusters. Orders placed in region a, 20 of them placed again from region b (the order id is
 * the Tandem id), are charged exactly once across both regions.
 */
class OrderServiceTwoRegionsTest {

  @Test
  void everyOrderIsChargedOnceAcrossTheTwoRegions() throws Exception {
    Path state = Files.createTempDirectory("orders");
    try (TwoRegions regions = TwoRegions.start("region-a", "region-b")) {
      regions.createTopic(Orders.TOPIC, 8);
      Map<String, Object> env = new HashMap<>();
      env.put("REGION_A_BOOTSTRAP", regions.a().bootstrapServers());
      env.put("REGION_B_BOOTSTRAP", regions.b().bootstrapServers());
      env.put("logging.level.org.apache.kafka", "WARN");
      try (ConfigurableApplicationContext a = start("region-a", env, state);
          ConfigurableApplicationContext b = start("region-b", env, state)) {
        Orders orders = a.getBean(Orders.class);
        int n = 200;
        CompletableFuture<?>[] sent = new CompletableFuture<?>[n];
        for (int i = 0; i < n; i++) {
          sent[i] = orders.place("order-" + i, "{\"id\":" + i + ",\"amount\":" + (10 + i) + "}");
        }
        CompletableFuture.allOf(sent).get();
        // the first 20 orders placed again, from region b (a client's retry): the same ids
        Orders ordersB = b.getBean(Orders.class);
        for (int i = 0; i < 20; i++) {
          ordersB.place("order-" + i, "{\"id\":" + i + ",\"amount\":" + (10 + i) + "}").get();
        }
        Payments pa = a.getBean(Payments.class);
        Payments pb = b.getBean(Payments.class);
        await().atMost(Duration.ofSeconds(60)).until(() -> charges(pa, pb).size() >= n);
        // every record (the 20 re-placed ones too) consumed and committed in both regions: the
        // group's committed offsets at the end of every partition
        await().atMost(Duration.ofSeconds(60)).until(() -> allCommitted(regions.a())
            && allCommitted(regions.b()));
        Map<String, Integer> charges = charges(pa, pb);
        long twice = charges.values().stream().filter(c -> c > 1).count();
        System.out.printf("orders: %d placed (+20 again), charged in region-a %d, in region-b %d, twice %d%n", n,
            pa.charged().size(), pb.charged().size(), twice);
        assertEquals(n, charges.size(), "every order charged");
        assertEquals(0, twice, "no order charged twice: " + charges);
      }
    }
  }

  static ConfigurableApplicationContext start(String profile, Map<String, Object> env, Path state) {
    Map<String, Object> p = new HashMap<>(env);
    p.put("TANDEM_STATE_DIR", state.resolve(profile).toString());
    return new SpringApplicationBuilder(OrderServiceApplication.class)
        .web(WebApplicationType.NONE).profiles(profile).properties(p).run();
  }

  static boolean allCommitted(KafkaRegion region) throws Exception {
    try (Admin admin = region.admin()) {
      return committedToTheEnd(admin);
    }
  }

  static boolean committedToTheEnd(Admin admin) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> committed = admin
        .listConsumerGroupOffsets("order-service").partitionsToOffsetAndMetadata().get();
    Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
    for (int p = 0; p < 8; p++) {
      latest.put(new TopicPartition(Orders.TOPIC, p), OffsetSpec.latest());
    }
    for (var e : admin.listOffsets(latest).all().get().entrySet()) {
      OffsetAndMetadata c = committed.get(e.getKey());
      if (c == null ? e.getValue().offset() > 0 : c.offset() < e.getValue().offset()) {
        return false;
      }
    }
    return true;
  }

  static Map<String, Integer> charges(Payments... ps) {
    Map<String, Integer> all = new HashMap<>();
    for (Payments p : ps) {
      p.charged().forEach((k, v) -> all.merge(k, v.get(), Integer::sum));
    }
    return all;
  }
}
