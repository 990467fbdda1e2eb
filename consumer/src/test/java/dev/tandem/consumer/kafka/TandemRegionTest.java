package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16: a consumer built from a properties file alone ({@link TandemRegion#create} of the loaded
 * file, nothing else wired by hand) gives the full guarantee across two real KRaft regions: fault-free
 * each id once; region A's consumers stopped → B takes A's shards over with the bound reported; A's
 * broker stopped → the same. One pair of clusters for the class; the broker test runs last.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@TandemClusters(shared = false)
class TandemRegionTest {

  static TwoRegions regions;

  /** The properties file of one region's process, as an operator would write it. */
  static Path propertiesFile(Path dir, String region, String prefix) throws Exception {
    // short for the test: L 2 s + margin 1 s, heartbeat 500 ms, W 20; the application's consumer
    return RegionFiles.write(dir, regions, region, prefix,
        "tandem.lease.timeout.ms=2000",
        "tandem.heartbeat.interval.ms=500",
        "group.id=orders",
        "max.poll.records=200");
  }

  /** A region's process: the region from its file, one consumer of {@code topic}. */
  record Process(TandemRegion region, TandemKafkaConsumer<String, byte[]> consumer)
      implements AutoCloseable {

    static Process start(Path file, String topic, History history, AtomicInteger runs) {
      TandemRegion region = TandemRegion.create(TandemRegion.load(file));
      String name = region.region().name();
      TandemKafkaConsumer<String, byte[]> c = region.kafkaConsumer(topic, new StringDeserializer(),
          new ByteArrayDeserializer(), (rec, ctx) -> {
            history.handled(ctx.id(), name, region.instance(), ctx.epoch());
            runs.incrementAndGet();
          });
      c.start();
      return new Process(region, c);
    }

    @Override
    public void close() {
      region.close();
    }
  }

  private static void topics(String topic) {
    RegionFiles.createTopics(regions, topic);
  }

  @Test
  @Order(1)
  void faultFreeEachIdOnceFromTheFileAlone(@TempDir Path dir) throws Exception {
    String topic = "region-ff";
    topics(topic);
    History history = new History();
    int n = 400;
    AtomicInteger aRuns = new AtomicInteger();
    AtomicInteger bRuns = new AtomicInteger();
    try (Process a = Process.start(propertiesFile(dir, "region-a", "ff"), topic, history, aRuns);
        Process b = Process.start(propertiesFile(dir, "region-b", "ff"), topic, history, bRuns);
        TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      Publishing.publish(producer, topic, "ff", 0, n, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n);
      // both loops stopped before the check: a duplicate run after every id was seen once would
      // otherwise be missed
      a.consumer().close();
      b.consumer().close();
      History.Report report = history.check(Duration.ofSeconds(2).toNanos());
      System.out.printf("region fault-free: messages=%d runs A=%d B=%d duplicates=%d%n", n,
          aRuns.get(), bRuns.get(), report.duplicates());
      assertEquals(0, report.lost().size());
      assertEquals(0, report.duplicates(), "each id once");
      assertEquals(n, history.totalRuns());
      assertTrue(aRuns.get() > 0 && bRuns.get() > 0, "both regions own shards");
      assertEquals(0, a.region().ownership().reports().size() + b.region().ownership().reports().size(),
          "no takeover without a fault");
      // the safe defaults the file did not spell out
      assertEquals(TestRegions.A, a.region().region());
      assertTrue(Files.isRegularFile(dir.resolve("ff-region-a").resolve("instance.id")));
    }
  }

  @Test
  @Order(2)
  void regionAsConsumersStoppedBTakesOverWithTheBoundReported(@TempDir Path dir) throws Exception {
    String topic = "region-cs";
    topics(topic);
    History history = new History();
    int n = 400;
    AtomicInteger aRuns = new AtomicInteger();
    AtomicInteger bRuns = new AtomicInteger();
    Path fileA = propertiesFile(dir, "region-a", "cs");
    try (TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"));
        Process a = Process.start(fileA, topic, history, aRuns);
        Process b = Process.start(propertiesFile(dir, "region-b", "cs"), topic, history, bRuns)) {
      Publishing.publish(producer, topic, "cs", 0, n, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> aRuns.get() >= 40);
      int fault = history.beginFault("region-a consumers stopped");
      long stoppedAt = System.nanoTime();
      a.consumer().close(); // the loop stops, then its Kafka consumer; the region's replica stays up
      await().atMost(Duration.ofSeconds(60)).until(() -> b.region().ownership().reports().size() == 2);
      long takeoverMillis = (System.nanoTime() - stoppedAt) / 1_000_000;
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n);
      b.consumer().close(); // the last running loop stopped before the check (no late duplicate)
      history.endFault(fault);
      List<TakeoverReport> reports = b.region().ownership().reports();
      long bound = 0;
      for (TakeoverReport r : reports) {
        assertTrue(r.bound().isPresent(), "a bound is reported: " + r);
        assertTrue(r.boundHolds(), "A's changelog was readable, the bound holds: " + r);
        bound += r.bound().getAsLong();
      }
      History.Report report = history.check(Duration.ofSeconds(2).toNanos());
      System.out.printf("region consumers-stopped: messages=%d duplicates=%d bound=%d takeover=%dms%n",
          n, report.duplicates(), bound, takeoverMillis);
      assertEquals(0, report.lost().size());
      assertTrue(report.duplicates() <= bound, "duplicates " + report.duplicates() + " <= bound " + bound);
      assertEquals(0, report.duplicatesOutsideFaults());
    }
  }

  @Test
  @Order(3)
  void regionAsBrokerStoppedBTakesOverWithTheBoundReported(@TempDir Path dir) throws Exception {
    String topic = "region-bs";
    topics(topic);
    History history = new History();
    int n = 400;
    AtomicInteger aRuns = new AtomicInteger();
    AtomicInteger bRuns = new AtomicInteger();
    try (TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"));
        Process a = Process.start(propertiesFile(dir, "region-a", "bs"), topic, history, aRuns);
        Process b = Process.start(propertiesFile(dir, "region-b", "bs"), topic, history, bRuns)) {
      Publishing.publish(producer, topic, "bs", 0, n, history);
      await().atMost(Duration.ofSeconds(60)).until(() -> aRuns.get() >= 40);
      int fault = history.beginFault("region-a broker stopped");
      long stoppedAt = System.nanoTime();
      regions.a().stopBroker();
      try {
        await().atMost(Duration.ofSeconds(60)).until(() -> b.region().ownership().reports().size() == 2);
        long takeoverMillis = (System.nanoTime() - stoppedAt) / 1_000_000;
        await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n);
        List<TakeoverReport> reports = b.region().ownership().reports();
        long bound = 0;
        for (TakeoverReport r : reports) {
          assertFalse(r.ownerChangelog().complete(), "A's broker is down: " + r);
          assertTrue(r.bound().isPresent(), "a bound is reported: " + r);
          assertEquals(20, r.windowAdded(), "W from A's last heartbeat is added");
          bound += r.bound().getAsLong();
        }
        History.Report report = history.check(Duration.ofSeconds(2).toNanos());
        System.out.printf("region broker-stopped: messages=%d duplicates=%d bound=%d takeover=%dms%n",
            n, report.duplicates(), bound, takeoverMillis);
        assertEquals(0, report.lost().size());
        assertTrue(report.duplicates() <= bound, "duplicates " + report.duplicates() + " <= bound " + bound);
        assertEquals(0, report.duplicatesOutsideFaults());
      } finally {
        history.endFault(fault);
        regions.a().startBroker();
      }
    }
  }
}
