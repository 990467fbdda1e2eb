package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19: a region can be a SASL_SSL-only cluster (as Event Hubs' Kafka endpoint is). Region A is
 * plaintext, region B requires SASL/PLAIN over TLS on every client listener; every Tandem client
 * reaches B with per-region settings only ({@code tandem.region.region-b.security.protocol},
 * {@code sasl.*}, {@code ssl.*}; the witness with {@code tandem.witness.*}): the publisher built from
 * properties, B's Kafka consumer, the changelog (written to and read from B), the witness of the
 * WITNESS policy (its topic lives on B's cluster). A wrong password fails the region's start with an
 * error naming the region and the key, counted and logged, within seconds.
 */
// its own pair of regions (B is SASL_SSL only), closed after the class
@TandemClusters(securityB = KafkaRegion.Security.SASL_SSL)
class SaslSslRegionTest {

  static TwoRegions regions;

  /** Region B's client settings under {@code prefix}, with {@code password} for B's user. */
  private static void putB(Properties p, String prefix, String password) {
    regions.b().clientSecurity(KafkaRegion.SASL_USERNAME, password)
        .forEach((k, v) -> p.put(prefix + k, v));
  }

  /**
   * One region process's configuration: B over SASL_SSL; with {@code witness}, the WITNESS policy
   * with its witness topic on B's cluster (over SASL_SSL too), else the default AUTOMATIC policy.
   */
  static Properties regionProperties(Path dir, String region, String prefix, String passwordB,
      boolean witness) {
    Properties p = new Properties();
    p.put("tandem.regions", "region-a,region-b");
    p.put("tandem.region", region);
    p.put("tandem.region.region-a.bootstrap.servers", regions.a().bootstrapServers());
    p.put("tandem.region.region-b.bootstrap.servers", regions.b().bootstrapServers());
    putB(p, "tandem.region.region-b.", passwordB);
    p.put("tandem.state.dir", dir.resolve(prefix + "-" + region).toString());
    p.put("tandem.shards", "2");
    p.put("tandem.changelog.topic.prefix", prefix);
    if (witness) {
      p.put("tandem.ownership.policy", "witness");
      p.put("tandem.witness.bootstrap.servers", regions.b().bootstrapServers());
      p.put("tandem.witness.topic", prefix + ".witness");
      p.put("tandem.witness.lease.ms", "6000");
      putB(p, "tandem.witness.", KafkaRegion.SASL_PASSWORD);
    }
    p.put("tandem.heartbeat.interval.ms", "500");
    p.put("tandem.catchup.timeout.ms", "5000");
    p.put("tandem.changelog.publish.timeout.ms", "3000");
    p.put("group.id", "orders");
    p.put("auto.offset.reset", "earliest");
    p.put("session.timeout.ms", "6000");
    p.put("heartbeat.interval.ms", "1000");
    return p;
  }

  @Test
  void everyTandemClientReachesTheSaslSslRegionWithPerRegionSettings(@TempDir Path dir)
      throws Exception {
    String topic = "sasl-orders";
    regions.createTopic(topic, 2);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 2);
    regions.b().createTopic("e2e.witness", 1);
    History history = new History();
    Map<String, Integer> shardOf = new ConcurrentHashMap<>();
    AtomicInteger aRuns = new AtomicInteger();
    AtomicInteger bRuns = new AtomicInteger();
    int n = 100;

    Properties pub = new Properties();
    pub.put("tandem.regions", "region-a,region-b");
    pub.put("tandem.region.region-a.bootstrap.servers", regions.a().bootstrapServers());
    pub.put("tandem.region.region-b.bootstrap.servers", regions.b().bootstrapServers());
    putB(pub, "tandem.region.region-b.", KafkaRegion.SASL_PASSWORD);
    pub.put("tandem.spool.dir", dir.resolve("spool").toString());
    pub.put("tandem.ack.policy", "ALL"); // a send completes only once B's broker has its copy
    pub.put("key.serializer", StringSerializer.class.getName());
    pub.put("value.serializer", ByteArraySerializer.class.getName());

    try (TandemRegion a = TandemRegion.create(regionProperties(dir, "region-a", "e2e",
            KafkaRegion.SASL_PASSWORD, true));
        TandemRegion b = TandemRegion.create(regionProperties(dir, "region-b", "e2e",
            KafkaRegion.SASL_PASSWORD, true));
        TandemKafkaProducer<String, byte[]> producer = new TandemKafkaProducer<>(pub)) {
      for (TandemRegion r : List.of(a, b)) {
        AtomicInteger runs = r == a ? aRuns : bRuns;
        String name = r.region().name();
        r.kafkaConsumer(topic, new StringDeserializer(), new ByteArrayDeserializer(),
            (rec, ctx) -> {
              shardOf.put(ctx.id(), ctx.shard());
              history.handled(ctx.id(), name, r.instance(), ctx.epoch());
              runs.incrementAndGet();
            }).start();
      }
      List<String> ids = Publishing.publish(producer, topic, "sasl", 0, n, history);
      await().atMost(Duration.ofSeconds(30)).until(() -> history.distinctHandled() == n);
      // each completion reaches the other region's replica through the changelog: A's copies were
      // written to B's cluster over SASL_SSL and read there by B's changelog consumer
      await().atMost(Duration.ofSeconds(30)).until(() -> ids.stream().allMatch(id ->
          a.store().isTerminal(id, shardOf.get(id)) && b.store().isTerminal(id, shardOf.get(id))));
      a.close(); // the loops stop before the check: a late duplicate would otherwise be missed
      b.close();
      History.Report report = history.check(Duration.ofSeconds(2).toNanos());
      System.out.printf("SASL_SSL region B: messages=%d runs A=%d B=%d duplicates=%d%n", n,
          aRuns.get(), bRuns.get(), report.duplicates());
      assertEquals(0, report.lost().size(), "every id processed");
      assertEquals(0, report.duplicates(), "each id once");
      assertEquals(n, history.totalRuns());
      assertTrue(aRuns.get() > 0, "region A processed its shard");
      assertTrue(bRuns.get() > 0, "region B's consumer read B over SASL_SSL and processed");
    }
    // the witness's grants are records on B's cluster: it wrote there over SASL_SSL
    try (Admin admin = regions.b().admin()) {
      TopicPartition w = new TopicPartition("e2e.witness", 0);
      long end = admin.listOffsets(Map.of(w, OffsetSpec.latest())).partitionResult(w)
          .get(30, TimeUnit.SECONDS).offset();
      assertTrue(end > 0, "the witness appended its claims to B's cluster: " + end);
    }
  }

  @Test
  void aWrongPasswordForTheOwnRegionFailsTheStartNamingTheRegionAndTheKey(@TempDir Path dir) {
    assertRefusedNamingB(regionProperties(dir, "region-b", "wrong-own", "not-the-password-4711",
        false),
        "region-b");
  }

  @Test
  void aWrongPasswordForThePeerRegionFailsTheStartNamingTheRegionAndTheKey(@TempDir Path dir) {
    assertRefusedNamingB(regionProperties(dir, "region-a", "wrong-peer", "not-the-password-4711",
        false),
        "region-a");
  }

  /**
   * The publisher with a wrong password for B: under {@code tandem.ack.policy=ALL} a send fails
   * within seconds naming the region and Kafka's refusal (A acknowledged, B's copy spooled). Holds
   * without a change (the publisher counts a refusal against the region like any failure).
   */
  @Test
  void aWrongPasswordInThePublisherFailsItsSendsNamingTheRegion(@TempDir Path dir) {
    regions.createTopic("sasl-pub", 2);
    Properties pub = new Properties();
    pub.put("tandem.regions", "region-a,region-b");
    pub.put("tandem.region.region-a.bootstrap.servers", regions.a().bootstrapServers());
    pub.put("tandem.region.region-b.bootstrap.servers", regions.b().bootstrapServers());
    putB(pub, "tandem.region.region-b.", "not-the-password-4711");
    pub.put("tandem.spool.dir", dir.resolve("spool").toString());
    pub.put("tandem.ack.policy", "ALL");
    pub.put("key.serializer", StringSerializer.class.getName());
    pub.put("value.serializer", ByteArraySerializer.class.getName());
    try (TandemKafkaProducer<String, byte[]> producer = new TandemKafkaProducer<>(pub)) {
      ExecutionException e = assertThrows(ExecutionException.class, () -> producer.send(
          new ProducerRecord<>("sasl-pub", "k", new byte[] {1})).get(30, TimeUnit.SECONDS));
      String m = e.getCause().getMessage();
      assertTrue(m.contains("region region-b") && m.contains("SaslAuthenticationException"), m);
      assertFalse(m.contains("not-the-password-4711"), m);
    }
  }

  private static void assertRefusedNamingB(Properties p, String local) {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    ConfigException e = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> assertThrows(
        ConfigException.class,
        () -> TandemRegion.builder().configs(p).meterRegistry(meters).build().close()));
    String m = e.getMessage();
    assertTrue(m.contains("region region-b refused"), m);
    assertTrue(m.contains("tandem.region.region-b.sasl.jaas.config"), m);
    assertTrue(m.contains("Authentication failed"), "Kafka's answer is kept: " + m);
    assertFalse(m.contains("not-the-password-4711"), "the password is not shown: " + m);
    assertEquals(1.0, meters.get("tandem.region.authentication.failures")
        .tag("region", local).tag("target", "region-b").counter().count());
  }
}
