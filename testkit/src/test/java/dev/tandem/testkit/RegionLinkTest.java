package dev.tandem.testkit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The cuttable link between two live regions, on real brokers. */
class RegionLinkTest {

  private static final String TOPIC = "link";
  private static final Duration DELIVERY_TIMEOUT = Duration.ofSeconds(3);

  static TwoRegions regions;

  @BeforeAll
  static void start() {
    regions = TwoRegions.start();
    regions.createTopic(TOPIC, 1);
  }

  @AfterAll
  static void stop() {
    regions.close();
  }

  @AfterEach
  void heal() {
    regions.healLink(); // a failed test must not leave the next one partitioned
  }

  @Test
  void metadataFetchedThroughTheLinkAdvertisesTheLink() throws Exception {
    KafkaRegion b = regions.b();
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, regions.peerBootstrapServers(b));
    try (Admin admin = Admin.create(p)) {
      List<Node> nodes = new ArrayList<>(admin.describeCluster().nodes().get(30, TimeUnit.SECONDS));
      assertEquals(1, nodes.size());
      assertEquals(b.link().port(), nodes.get(0).port(), "reconnects must also use the link");
    }
    try (Admin direct = b.admin()) {
      Node node = direct.describeCluster().nodes().get(30, TimeUnit.SECONDS).iterator().next();
      assertEquals(b.bootstrapServers(), node.host() + ":" + node.port());
    }
  }

  @Test
  void aCutFailsLinkClientsFastLeavesDirectClientsUpAndAHealRestoresThem() throws Exception {
    KafkaRegion b = regions.b();
    try (KafkaProducer<String, byte[]> viaLink = new KafkaProducer<>(linkProducer(b));
        KafkaConsumer<String, byte[]> readerViaLink =
            new KafkaConsumer<>(linkConsumer(b, "cut-reader"));
        KafkaProducer<String, byte[]> direct = new KafkaProducer<>(b.producerProperties())) {
      TopicPartition tp = new TopicPartition(TOPIC, 0);
      readerViaLink.assign(List.of(tp));
      long start = direct.send(record("cut-before")).get(30, TimeUnit.SECONDS).offset();
      readerViaLink.seek(tp, start);
      viaLink.send(record("cut-before-via-link")).get(30, TimeUnit.SECONDS);
      List<String> seen = new ArrayList<>();
      awaitKeys(readerViaLink, seen, "cut-before", "cut-before-via-link");
      assertTrue(b.link().forwardedBytes() > 0);

      regions.cutLink();
      assertTrue(regions.isLinkCut());
      assertEquals(0, b.link().openConnections());

      long sentAt = System.nanoTime();
      Future<?> lost = viaLink.send(record("cut-during-via-link"));
      ExecutionException failed =
          assertThrows(ExecutionException.class, () -> lost.get(60, TimeUnit.SECONDS));
      long failedAfterMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sentAt);
      assertInstanceOf(TimeoutException.class, failed.getCause());
      assertTrue(failedAfterMs < DELIVERY_TIMEOUT.toMillis() + 5_000,
          "a cut link fails within the delivery timeout, took " + failedAfterMs + " ms");

      // The direct path is not part of the partition: this region's own clients keep working.
      direct.send(record("cut-during-direct")).get(30, TimeUnit.SECONDS);
      try (KafkaConsumer<String, byte[]> directReader =
          new KafkaConsumer<>(b.consumerProperties("direct-reader"))) {
        directReader.assign(List.of(tp));
        directReader.seek(tp, start);
        awaitKeys(directReader, new ArrayList<>(), "cut-before", "cut-during-direct");
      }
      // ...while the link reader sees nothing during a bounded window (an absence is observed,
      // not waited for).
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
      while (System.nanoTime() < until) {
        assertTrue(readerViaLink.poll(Duration.ofMillis(200)).isEmpty(), "the cut link delivered");
      }
      assertTrue(b.link().refusedConnections() > 0, "clients kept trying and were refused");

      regions.healLink();
      assertFalse(regions.isLinkCut());
      awaitKeys(readerViaLink, seen, "cut-during-direct");
      await().atMost(Duration.ofSeconds(60)).untilAsserted(
          () -> viaLink.send(record("cut-after-via-link")).get(30, TimeUnit.SECONDS));
      awaitKeys(readerViaLink, seen, "cut-after-via-link");
      assertFalse(seen.contains("cut-during-via-link"), "the send that failed was not written");
    }
  }

  @Test
  void aCutIsBothWaysAndRefusesNewConnectionsRightAfterAccept() throws Exception {
    regions.cutLink();
    try {
      for (KafkaRegion r : regions.both()) {
        long refusedBefore = r.link().refusedConnections();
        try (Socket s = new Socket()) {
          s.connect(new InetSocketAddress("localhost", r.link().port()), 5_000);
          s.setSoTimeout(30_000);
          InputStream in = s.getInputStream();
          assertEquals(-1, readOrEof(in), r.name() + ": the cut link closes the connection");
        }
        assertEquals(refusedBefore + 1, r.link().refusedConnections());
      }
    } finally {
      regions.healLink();
    }
    for (KafkaRegion r : regions.both()) {
      try (KafkaProducer<String, byte[]> viaLink = new KafkaProducer<>(linkProducer(r))) {
        await().atMost(Duration.ofSeconds(60)).untilAsserted(
            () -> viaLink.send(record("healed-" + r.name())).get(30, TimeUnit.SECONDS));
      }
    }
  }

  @Test
  void theLinkSurvivesABrokerRestart() throws Exception {
    KafkaRegion a = regions.a();
    String before = a.linkBootstrapServers();
    try (KafkaProducer<String, byte[]> viaLink = new KafkaProducer<>(linkProducer(a))) {
      viaLink.send(record("restart-before")).get(30, TimeUnit.SECONDS);
    }
    a.stopBroker();
    a.startBroker();
    assertEquals(before, a.linkBootstrapServers());
    long forwardedBefore = a.link().forwardedConnections();
    try (KafkaProducer<String, byte[]> viaLink = new KafkaProducer<>(linkProducer(a));
        KafkaConsumer<String, byte[]> readerViaLink =
            new KafkaConsumer<>(linkConsumer(a, "restart-reader"))) {
      await().atMost(Duration.ofSeconds(60)).untilAsserted(
          () -> viaLink.send(record("restart-after")).get(30, TimeUnit.SECONDS));
      readerViaLink.assign(List.of(new TopicPartition(TOPIC, 0)));
      readerViaLink.seekToBeginning(List.of(new TopicPartition(TOPIC, 0)));
      awaitKeys(readerViaLink, new ArrayList<>(), "restart-before", "restart-after");
    }
    assertTrue(a.link().forwardedConnections() > forwardedBefore, "traffic went through the link");
  }

  private static int readOrEof(InputStream in) {
    try {
      return in.read();
    } catch (java.io.IOException e) {
      return -1; // a reset is a refusal too
    }
  }

  private static ProducerRecord<String, byte[]> record(String key) {
    return new ProducerRecord<>(TOPIC, 0, key, key.getBytes());
  }

  private static Properties linkProducer(KafkaRegion target) {
    Properties p = target.producerProperties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, regions.peerBootstrapServers(target));
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(DELIVERY_TIMEOUT.toMillis()));
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
    return p;
  }

  private static Properties linkConsumer(KafkaRegion target, String group) {
    Properties p = target.consumerProperties(group);
    p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, regions.peerBootstrapServers(target));
    return p;
  }

  /** Polls until every expected key has been seen (appending all keys read to {@code seen}). */
  private static void awaitKeys(
      KafkaConsumer<String, byte[]> consumer, List<String> seen, String... expected) {
    await().atMost(Duration.ofSeconds(60)).pollInSameThread().pollInterval(Duration.ofMillis(1)).until(() -> {
      for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        seen.add(r.key());
      }
      return seen.containsAll(List.of(expected));
    });
  }
}
