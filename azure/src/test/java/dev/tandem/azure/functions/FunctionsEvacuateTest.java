package dev.tandem.azure.functions;

import static dev.tandem.azure.functions.RegionFunctionApp.A;
import static dev.tandem.azure.functions.RegionFunctionApp.B;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.OwnershipAdmin;
import dev.tandem.consumer.ownership.ShardMoveResult;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemIds;
import dev.tandem.testkit.History;
import dev.tandem.testkit.junit.TandemClusters;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Issue 21 for Azure Functions: {@code tandem evacuate}/{@code return} (here {@link OwnershipAdmin},
 * as the CLI calls it) reach a function app: its heartbeat timer acts on the request (planned
 * handover: the shard's invocations in flight on this host drain, the peer acknowledges every
 * change, epoch + 1) while both regions' triggers deliver a steady stream — every shard moves, no
 * message runs twice, none is lost.
 */
@TandemClusters
class FunctionsEvacuateTest extends TwoRegionFunctions {

  static final String PREFIX = "fn-evacuate";

  RegionFunctionApp app(RegionId region) {
    MessageHandler h = ctx -> {
      history.handled(ctx.id(), region.name(), "fn-" + region.name(), ctx.epoch());
      Thread.sleep(2); // the function's work, so that a handover finds invocations in flight
    };
    return app(region, PREFIX, NEVER_STUCK, null, null, h);
  }

  Map<String, Object> adminConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put(TandemRegionConfig.REGIONS_CONFIG, A.name() + "," + B.name());
    c.put(TandemRegionConfig.REGION_PREFIX + A.name() + ".bootstrap.servers",
        regions.a().bootstrapServers());
    c.put(TandemRegionConfig.REGION_PREFIX + B.name() + ".bootstrap.servers",
        regions.b().bootstrapServers());
    c.put(TandemRegionConfig.SHARDS_CONFIG, SHARDS);
    c.put(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG, PREFIX);
    c.put(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG, 3_000L);
    return c;
  }

  @Test
  void evacuateAndReturnRegionADuringASteadyStreamWithoutDuplicatesOrLoss() throws Exception {
    RegionFunctionApp a = app(A);
    RegionFunctionApp b = app(B);
    startAndAwaitHeartbeats(a, b);
    Set<Integer> homeA = Set.of(0, 2); // a owns the even shards at first
    int total = 300;
    List<String> ids = new CopyOnWriteArrayList<>();
    try (OwnershipAdmin admin = OwnershipAdmin.create(adminConfig(), dir.resolve("admin"))) {
      CompletableFuture<Void> feed = CompletableFuture.runAsync(() -> {
        try {
          for (int i = 0; i < total; i++) {
            String id = TandemIds.newId();
            ids.add(id);
            publishToBoth(id, a, b);
            if (i % 10 == 9) {
              Thread.sleep(20); // a steady stream, not one burst
            }
          }
        } catch (InterruptedException e) {
          throw new CompletionException(e);
        }
      });
      await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 60);

      long t0 = System.nanoTime();
      List<ShardMoveResult> evacuated = admin.evacuate(A, Duration.ofSeconds(20), false);
      long evacuateMillis = (System.nanoTime() - t0) / 1_000_000;
      System.out.println("functions: evacuate A: " + evacuated);
      assertEquals(homeA, shardsOf(evacuated), evacuated.toString());
      for (ShardMoveResult r : evacuated) {
        assertEquals(ShardMoveResult.Outcome.MOVED, r.outcome(), r.toString());
        assertEquals(B, r.to(), r.toString());
        assertEquals(1, r.newEpoch(), r.toString());
      }
      await().atMost(Duration.ofSeconds(20)).until(() -> admin.leases().stream()
          .allMatch(l -> l.owner().equals(B)));
      int atEvacuation = history.distinctHandled();
      await().atMost(Duration.ofSeconds(60))
          .until(() -> history.distinctHandled() >= Math.min(total, atEvacuation + 60));

      long t1 = System.nanoTime();
      List<ShardMoveResult> returned = admin.returnTo(A, Duration.ofSeconds(20));
      long returnMillis = (System.nanoTime() - t1) / 1_000_000;
      System.out.println("functions: return A: " + returned);
      assertEquals(homeA, shardsOf(returned), returned.toString());
      for (ShardMoveResult r : returned) {
        assertEquals(ShardMoveResult.Outcome.MOVED, r.outcome(), r.toString());
        assertEquals(A, r.to(), r.toString());
        assertEquals(2, r.newEpoch(), r.toString());
      }

      feed.get(60, TimeUnit.SECONDS);
      // both regions' triggers settle every copy: the owner's runs, the follower's waits for it
      await().atMost(Duration.ofSeconds(90))
          .until(() -> a.settled.containsAll(ids) && b.settled.containsAll(ids));
      History.Report report = history.check(0);
      System.out.printf("functions evacuate: messages=%d duplicates=%d lost=%d evacuate(%d shards)"
              + "=%d ms return=%d ms %s%n", total, report.duplicates(), report.lost().size(),
          homeA.size(), evacuateMillis, returnMillis, report);
      assertEquals(Set.of(), report.lost(), report.toString());
      assertEquals(0, report.duplicates(), "each id handled once across both regions: " + report);
      for (RegionFunctionApp app : List.of(a, b)) {
        assertEquals(List.of(), app.tickErrors);
        assertEquals(List.of(), app.ownership.reports(), app.region + ": no takeover, only handovers");
      }
      assertEquals(homeA.size() * 1.0,
          a.counter("tandem.ownership.requests", "acted"), "A's timer acted on the evacuation");
    }
  }

  private static Set<Integer> shardsOf(List<ShardMoveResult> results) {
    Set<Integer> s = new TreeSet<>();
    results.forEach(r -> s.add(r.shard()));
    return s;
  }
}
