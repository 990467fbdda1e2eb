package dev.tandem.examples.demo;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.ChildJvm;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chaos scenario "consumer SIGKILL mid-handler": region A's consumer runs in a child JVM (wired as the
 * demo wires a region), is SIGKILLed while one of its handlers runs, and region B takes over under
 * AUTOMATIC. The history recorded from both regions must show nothing lost, and no more duplicate
 * handler runs than the bound region B reported at takeover (the killed handler's re-run is one).
 */
@TandemClusters
class ConsumerKillChaosTest {

  static final long SEED = 7_001;
  static final int MESSAGES = 600;
  static final int RATE = 200;

  static TwoRegions regions;

  @Test
  void regionBTakesOverAKilledHandlerWithinTheReportedBound(@TempDir Path dir) throws Exception {
    String topic = Topics.fresh("chaos-consumer-kill");
    regions.createTopic(topic, TwoRegionDemo.SHARDS);
    Random random = new Random(SEED);
    int hangAt = 60 + random.nextInt(60); // region A's n-th handler run is the one killed
    History history = new History();
    AtomicLong killedAt = new AtomicLong();
    AtomicLong firstTakenOverRun = new AtomicLong();
    OwnershipPolicy policy = OwnershipPolicy.automatic(
        TwoRegionDemo.LEASE_TIMEOUT, TwoRegionDemo.MARGIN, Duration.ofSeconds(60));
    try (DemoRegion b = new DemoRegion(TwoRegionDemo.B, regions.b(), regions.a(), TwoRegionDemo.A, dir,
            topic, TwoRegionDemo.SHARDS, policy, (rec, ctx) -> {
              history.handled(ctx.id(), "region-b", "region-b-1", ctx.epoch());
              if (killedAt.get() != 0 && ctx.epoch() > 0) {
                firstTakenOverRun.compareAndSet(0, System.nanoTime());
              }
            });
        ChildJvm child = ChildJvm.start(ChaosConsumerMain.class, regions.a().bootstrapServers(),
            regions.b().bootstrapServers(), topic, dir.toString(), Integer.toString(hangAt));
        TandemKafkaProducer<String, byte[]> producer = PacedPublisher.producer(regions, dir.resolve("pub"))) {
      child.awaitLine("STARTED"::equals, Duration.ofSeconds(90));
      // region B starts watching only once region A's owner heartbeats have reached B's replica: a
      // child JVM slow to start on a loaded machine is not the fault this scenario injects
      await().atMost(Duration.ofSeconds(90)).until(() -> b.ownership.lease(0).heartbeatHlc() != 0
          && b.ownership.lease(2).heartbeatHlc() != 0);
      b.start();
      PacedPublisher publishing = PacedPublisher.start(producer, topic, "kill-" + SEED, 0, MESSAGES, RATE,
          SEED, history);

      // Region A's handler runs, as the child prints them, up to the one that blocks.
      Map<String, Integer> startedInA = new ConcurrentHashMap<>();
      String[] blocked = null;
      while (blocked == null) {
        String line = child.awaitLine(l -> l.startsWith("START ") || l.startsWith("IN-HANDLER "),
            Duration.ofSeconds(120));
        String[] f = line.split(" ");
        if (f[0].equals("START")) {
          history.handled(f[1], f[2], "region-a-1", Long.parseLong(f[3]));
          startedInA.put(f[1], Integer.parseInt(f[4]));
        } else {
          blocked = f;
        }
      }
      String killedId = blocked[1];
      // The parent picks the moment: once every claim region A made is in region B's replica, so
      // the bound B computes covers what A did (a claim lost with the process is not this scenario).
      await().atMost(Duration.ofSeconds(60)).until(() -> startedInA.entrySet().stream()
          .allMatch(e -> b.store.get(e.getKey(), e.getValue()).isPresent()));
      assertTrue(child.isAlive(), "the handler is still running when the kill comes");
      child.kill();
      killedAt.set(System.nanoTime());
      int fault = history.beginFault("region-a consumer SIGKILLed mid-handler");
      for (String line : child.output()) {
        assertFalse(line.startsWith("END " + killedId + " "), "the killed handler never ended in A");
      }

      publishing.await(Duration.ofSeconds(90));
      assertEquals(List.of(), List.copyOf(publishing.failures()), "every send acknowledged");
      // a check can race a handler recording an id's first run (testkit History); the next poll sees it
      await().atMost(Duration.ofSeconds(120)).ignoreException(IndexOutOfBoundsException.class)
          .until(() -> history.check(0).lost().isEmpty());
      history.endFault(fault);

      History.Report report = history.check(0);
      List<TakeoverReport> takeovers = b.takeovers();
      long bound = 0;
      for (TakeoverReport t : takeovers) {
        assertTrue(t.bound().isPresent(), "region A's broker answered, so the bound is known: " + t);
        bound += t.bound().getAsLong();
      }
      List<History.Run> killedRuns = history.runsOf(killedId);
      long takeoverMs = (firstTakenOverRun.get() - killedAt.get()) / 1_000_000;
      System.out.printf("consumer-kill: RESULT published=%d processed=%d lost=%d duplicates=%d bound=%d"
              + " detected=%d takeover_ms=%d (seed=%d killed after %d runs in A, killed id %s ran %s)%n",
          report.published(), report.processed(), report.lost().size(), report.duplicates(), bound,
          b.store.detectedDuplicates(), takeoverMs, SEED, hangAt, killedId, killedRuns);
      takeovers.forEach(t -> System.out.println("  " + t));

      assertEquals(MESSAGES, report.published());
      assertEquals(0, report.lost().size(), "lost: " + report.lost());
      assertFalse(takeovers.isEmpty(), "region B took region A's shards over");
      assertTrue(takeovers.stream().allMatch(t -> t.from().equals(TwoRegionDemo.A)), takeovers.toString());
      assertTrue(report.duplicates() <= bound,
          report.duplicates() + " duplicates exceed the bound " + bound + " reported at takeover");
      assertEquals(2, killedRuns.size(), "the killed handler ran again, once: " + killedRuns);
      assertEquals("region-a", killedRuns.get(0).region());
      assertEquals("region-b", killedRuns.get(1).region());
      assertTrue(killedRuns.get(1).epoch() > killedRuns.get(0).epoch(), "re-run under the new epoch");
      assertTrue(takeoverMs > 0, "region B ran a taken-over message after the kill");
    }
  }
}
