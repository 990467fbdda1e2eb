package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Both regions consuming at once on two real KRaft clusters, no fault. */
class TwoRegionConsumerTest {

  static TwoRegions regions;

  @BeforeAll
  static void start() {
    regions = TwoRegions.start();
  }

  @AfterAll
  static void stop() {
    regions.close();
  }

  @Test
  void faultFreeEveryMessageHandledExactlyOnceAcrossBothRegions(@TempDir Path dir) throws Exception {
    String topic = "orders-ff";
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
    History history = new History();
    int n = 4000;
    try (RegionNode a = new RegionNode(regions, RegionNode.A, "a1", dir, topic, "ff", history, o -> {});
        RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "ff", history, o -> {});
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      a.start();
      b.start();
      Publishing.publish(producer, topic, "ff", 0, n, history);
      await().atMost(Duration.ofSeconds(120)).until(() -> history.distinctHandled() == n);
      // both followers acknowledge along: every copy in both regions is settled
      await().atMost(Duration.ofSeconds(60)).until(
          () -> a.counter("tandem.consumer.follower.acknowledged")
              + b.counter("tandem.consumer.follower.acknowledged") >= n);
      History.Report report = history.check(0);
      System.out.println("fault-free: " + report);
      assertEquals(0, report.lost().size());
      assertEquals(0, report.duplicates(), "no duplicate without a fault");
      assertEquals(n, history.totalRuns());
      assertTrue(report.runsByRegion().getOrDefault("region-a", 0) > 0, "region-a did part of the work");
      assertTrue(report.runsByRegion().getOrDefault("region-b", 0) > 0, "region-b did part of the work");
      assertEquals(0, a.ownership.reports().size() + b.ownership.reports().size(), "zero takeovers");
      assertEquals(0.0, a.counter("tandem.consumer.takeovers") + b.counter("tandem.consumer.takeovers"));
      assertEquals(0L, a.store.detectedDuplicates() + b.store.detectedDuplicates());
    }
  }
}
