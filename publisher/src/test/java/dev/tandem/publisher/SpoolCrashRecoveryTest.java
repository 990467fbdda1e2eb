package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.testkit.ChildJvm;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A publisher SIGKILLed while region B is down and its copies sit in the spool; a new publisher on the
 * same directory, after B is back, replays them: every acknowledged id reaches B, in order.
 */
@TandemClusters(shared = false)
class SpoolCrashRecoveryTest {

  static TwoRegions regions;
  static final int REPLAY_RATE = 40;

  @Test
  void aKilledPublishersSpoolIsReplayedByTheNextPublisherOnTheSameDirectory(@TempDir Path spool)
      throws Exception {
    String topic = "crash";
    regions.createTopic(topic, 2);
    regions.b().stopBroker();
    List<String> acked = new ArrayList<>();
    try {
      try (ChildJvm child = ChildJvm.start(SpoolingPublisherMain.class, regions.a().bootstrapServers(),
          regions.b().bootstrapServers(), topic, "2", spool.toString())) {
        child.awaitLine("STARTED"::equals, Duration.ofSeconds(60));
        AtomicInteger seen = new AtomicInteger();
        child.awaitLine(l -> l.startsWith("ACKED ") && seen.incrementAndGet() == 40, Duration.ofSeconds(90));
        child.kill(); // SIGKILL mid-stream: no close, no flush
        for (String line : child.output()) {
          if (line.startsWith("ACKED ")) {
            String[] parts = line.split(" ", 3);
            acked.add(parts[1]);
            assertEquals("[region-b]", parts[2], "with B down, B's copy of an acked id was spooled");
          }
        }
      }
    } finally {
      regions.b().startBroker();
    }
    assertTrue(acked.size() >= 40, "acked " + acked.size());

    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    long built = System.nanoTime();
    try (DualPublisher restarted = DualPublisher.builder()
        .sink(TestRegions.sink(regions.a()))
        .sink(TestRegions.sink(regions.b()))
        .timeout(Duration.ofMillis(1500))
        .spoolDirectory(spool)
        .meterRegistry(registry)
        .replayRate(REPLAY_RATE)
        .build()) {
      long depth = restarted.status(TestRegions.B).spoolDepth();
      assertTrue(depth >= acked.size(), "the restarted publisher found the killed one's copies in the spool");
      assertTrue(restarted.awaitSpoolDrained(Duration.ofSeconds(60)), "spool drained");
      long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - built);
      // the replay is paced: it cannot be faster than the configured rate (batches of rate/10)
      long floor = (depth - REPLAY_RATE / 10) * 1000 / REPLAY_RATE;
      assertTrue(tookMillis >= floor, depth + " copies at " + REPLAY_RATE + "/s drained in " + tookMillis + " ms");
    }
    assertTrue(registry.get("tandem.publisher.replayed").tag("region", "region-b").counter().count()
        >= acked.size());

    List<ConsumerRecord<byte[], byte[]>> inB =
        TestRegions.readAll(regions.b(), topic, acked.size(), Duration.ofSeconds(30));
    Map<Integer, List<String>> firstB = TestRegions.firstOccurrences(TestRegions.idsByPartition(inB));
    Set<String> idsInB = new HashSet<>();
    firstB.values().forEach(idsInB::addAll);
    assertTrue(idsInB.containsAll(acked), "nothing acknowledged was lost for B");
    int highestAcked = acked.size() - 1;
    for (Map.Entry<Integer, List<String>> e : firstB.entrySet()) {
      int previous = -1;
      for (String id : e.getValue()) {
        assertTrue(id.matches("crash-\\d+"), "only published ids: " + id);
        int n = Integer.parseInt(id.substring("crash-".length()));
        assertTrue(n <= highestAcked + 1, "at most the one in-flight unacknowledged id: " + id);
        assertEquals(e.getKey().intValue(), n % 2, "partition computed once: " + id);
        assertTrue(n > previous, "publish order in partition " + e.getKey() + ": " + e.getValue());
        previous = n;
      }
    }
    List<ConsumerRecord<byte[], byte[]>> inA =
        TestRegions.readAll(regions.a(), topic, acked.size(), Duration.ofSeconds(30));
    Set<String> idsInA = new HashSet<>();
    inA.forEach(r -> idsInA.add(KafkaEnvelopeHeaders.id(r.headers())));
    assertTrue(idsInA.containsAll(acked), "A has every acknowledged id too");
  }
}
