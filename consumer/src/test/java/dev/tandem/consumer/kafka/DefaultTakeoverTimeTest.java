package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.ChildJvm;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, defaults: with the library's default ownership settings (AUTOMATIC L 6 s, margin 3 s,
 * heartbeat 1 s, handlerTimeout 30 s), region A's consumer, in its own JVM, runs batches of 200 records
 * of 50 ms — 10 s each, longer than L + margin — without being taken over; then it is killed
 * (SIGKILL) and region B takes its shard over within 10 s (+ slack for this loaded machine).
 */
@TandemClusters
class DefaultTakeoverTimeTest {

  static TwoRegions regions;

  @Test
  void aKilledRegionIsTakenOverWithinTenSecondsAndABusyOneNever(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("orders-defaults");
    regions.createTopic(topic, 2);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 2);
    History history = new History();
    int n = 300;
    try (TandemKafkaProducer<String, byte[]> producer = Publishing.producer(regions, dir.resolve("pub"))) {
      List<Future<RecordMetadata>> acks = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, 0, "key-" + i,
            ("payload " + i).getBytes(StandardCharsets.UTF_8));
        r.headers().add(TandemHeaders.ID, ("d-" + i).getBytes(StandardCharsets.UTF_8));
        acks.add(producer.send(r));
      }
      producer.flush();
      for (int i = 0; i < n; i++) {
        acks.get(i).get();
        history.published("d-" + i);
      }
    }
    try (RegionNode b = new RegionNode(regions, RegionNode.B, "b1", dir, topic, "dflt", history, o -> {
          o.libraryDefaults = true;
          o.shards = 2;
        }).start();
        ChildJvm a = ChildJvm.start(DefaultsRegionMain.class, regions.a().bootstrapServers(),
            regions.b().bootstrapServers(), topic, "dflt", dir.toString(), "a1", "50")) {
      a.awaitLine(l -> l.equals("started"), Duration.ofSeconds(60));
      // past the first 200-record batch (10 s of handlers, longer than L + margin) into the second
      await().atMost(Duration.ofSeconds(90)).until(() -> handled(a) >= 215);
      assertTrue(b.ownership.reports().isEmpty(),
          "region A was busy, not dead: " + b.ownership.reports());
      a.kill();
      long killedAt = System.nanoTime();
      int fault = history.beginFault("region-a killed");
      await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
          .until(() -> !b.ownership.reports().isEmpty());
      long takeoverMs = (System.nanoTime() - killedAt) / 1_000_000;
      for (String l : a.output()) {
        if (l.startsWith("handled ")) {
          String[] f = l.split(" ");
          history.handled(f[1], "region-a", "a1", Long.parseLong(f[2]));
        }
      }
      TakeoverReport t = b.ownership.reports().get(0);
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == n);
      history.endFault(fault);
      History.Report report = history.check(0);
      System.out.printf("defaults (L 6 s, margin 3 s): region A killed, taken over %d ms later; %s;"
          + " %s%n", takeoverMs, t, report);
      assertEquals(0, t.shard());
      assertEquals(0, report.lost().size(), report.toString());
      assertTrue(report.duplicates() <= t.bound().orElseThrow(), report + " vs " + t);
      assertTrue(takeoverMs >= 5_000, "taken over " + takeoverMs + " ms after the kill: before L");
      assertTrue(takeoverMs <= 13_000, "taken over " + takeoverMs + " ms after the kill: the goal is"
          + " 10 s (L + margin + catch-up), with 3 s of slack for this shared machine");
    }
  }

  private static long handled(ChildJvm a) {
    return a.output().stream().filter(l -> l.startsWith("handled ")).count();
  }
}
