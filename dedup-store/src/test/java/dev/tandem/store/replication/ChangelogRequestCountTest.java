package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.CompleteRequest;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Produce requests per changelog change (issue 20), from the changelog producers' own metrics, over
 * two real regions, with a poll loop's shape: per turn a batch of claims (one WriteBatch), the wait
 * for them in the own region's changelog (as the loop waits before its handlers), then their
 * COMPLETEDs. Counts, not time: what a setting or a batched changelog format would change is the
 * number of records and requests per change, and these say what they are today. The figures go to
 * the log; the assertions hold only what must be true (every change sent to both regions).
 */
@TandemClusters
class ChangelogRequestCountTest {

  private static final RegionId A = TestRegions.A;
  private static final RegionId B = TestRegions.B;

  static TwoRegions regions;

  private static Properties producerProps(KafkaRegion region) {
    Properties p = new Properties();
    p.put("bootstrap.servers", region.bootstrapServers());
    p.put("max.block.ms", "2000");
    p.put("linger.ms", "1"); // as TandemRegion's and the log's own changelog producers
    return p;
  }

  private static double metric(KafkaRegionalSink sink, String name) {
    for (Map.Entry<MetricName, ? extends Metric> e : sink.producer().metrics().entrySet()) {
      if (e.getKey().group().equals("producer-metrics") && e.getKey().name().equals(name)) {
        return ((Number) e.getValue().metricValue()).doubleValue();
      }
    }
    throw new AssertionError("no producer metric " + name);
  }

  @Test
  void produceRequestsPerChange(@TempDir Path dir) throws Exception {
    int turns = 60;
    int perTurn = 20;
    KafkaRegionalSink toA = KafkaRegionalSink.create(A, producerProps(regions.a()));
    KafkaRegionalSink toB = KafkaRegionalSink.create(B, producerProps(regions.b()));
    DualPublisher publisher = DualPublisher.builder().sink(toA).sink(toB)
        .ackPolicy(AckPolicy.ANY).timeout(Duration.ofSeconds(10))
        .spoolDirectory(dir.resolve("spool")).build();
    try (publisher;
        Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "reqcount",
            x -> x.publisher(publisher).heartbeatInterval(Duration.ZERO))) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      double requestsA0 = metric(toA, "request-total");
      double requestsB0 = metric(toB, "request-total");
      double recordsA0 = metric(toA, "record-send-total");
      double recordsB0 = metric(toB, "record-send-total");
      long changes = 0;
      for (int t = 0; t < turns; t++) {
        List<ClaimRequest> claims = new ArrayList<>();
        for (int i = 0; i < perTurn; i++) {
          String id = "t" + t + "-" + i;
          claims.add(new ClaimRequest(id, Shards.forKey(id, Replica.SHARDS),
              PayloadDigest.of(id.getBytes(StandardCharsets.UTF_8)), 0, Duration.ofMinutes(5)));
        }
        List<ClaimResult> results = a.gated.claimAll(claims);
        // the loop waits for its claims in the own changelog before any handler runs
        for (ClaimRequest c : claims) {
          a.log.barrier(c.shard(), A).get(30, TimeUnit.SECONDS);
        }
        List<CompleteRequest> completes = new ArrayList<>();
        for (int i = 0; i < perTurn; i++) {
          assertTrue(results.get(i) instanceof ClaimResult.Acquired);
          completes.add(new CompleteRequest(claims.get(i).id(), claims.get(i).shard(), null));
        }
        a.gated.completeAll(completes);
        changes += 2L * perTurn;
      }
      for (int s = 0; s < Replica.SHARDS; s++) {
        a.log.barrier(s, A).get(30, TimeUnit.SECONDS);
        a.log.barrier(s, B).get(30, TimeUnit.SECONDS);
      }
      double reqA = metric(toA, "request-total") - requestsA0;
      double reqB = metric(toB, "request-total") - requestsB0;
      double recA = metric(toA, "record-send-total") - recordsA0;
      double recB = metric(toB, "record-send-total") - recordsB0;
      System.out.printf("changelog request count: %d changes (%d turns of %d claims + %d COMPLETEDs,"
              + " %d shards): to region-a %.0f records in %.0f requests, to region-b %.0f records in"
              + " %.0f requests; %.3f requests per change per region, %.1f records per request%n",
          changes, turns, perTurn, perTurn, Replica.SHARDS, recA, reqA, recB, reqB,
          (reqA + reqB) / 2 / changes, (recA + recB) / (reqA + reqB));
      // at least: a batch the producer retries (a slow broker on a loaded machine) counts again
      assertTrue(recA >= changes, "records sent to region-a: " + recA);
      assertTrue(recB >= changes, "records sent to region-b: " + recB);
    }
  }
}
