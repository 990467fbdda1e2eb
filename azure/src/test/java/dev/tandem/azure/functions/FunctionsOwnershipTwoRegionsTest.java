package dev.tandem.azure.functions;

import static dev.tandem.azure.functions.RegionFunctionApp.A;
import static dev.tandem.azure.functions.RegionFunctionApp.B;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.consumer.RegionHealth;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemIds;
import dev.tandem.testkit.History;
import dev.tandem.testkit.junit.TandemClusters;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The same function app in two regions, each with its RocksDB store replicated over its region's
 * real Kafka cluster (two KRaft clusters in this JVM), shard ownership through {@link
 * TandemFunctions#heartbeat()} driven by a timer thread standing in for the Functions timer, and a
 * trigger that redelivers on {@link TandemFunctions.RetryLaterException}. Every message is delivered
 * to both regions, as a publisher writing to both regions' queues does.
 */
@TandemClusters(shared = false)
class FunctionsOwnershipTwoRegionsTest extends TwoRegionFunctions {

  RegionFunctionApp app(RegionId region, String prefix, MessageHandler handler) {
    return app(region, prefix, NEVER_STUCK, handler);
  }

  RegionFunctionApp app(RegionId region, String prefix, Duration stuckAfter,
      MessageHandler handler) {
    return app(region, prefix, stuckAfter, null, null, handler);
  }

  @Test
  void bothRegionsTickingEachMessageRunsOnceInItsShardOwnerAndNothingIsTakenOver() {
    RegionFunctionApp a = app(A, "fn-own-steady", recording(A));
    RegionFunctionApp b = app(B, "fn-own-steady", recording(B));
    startAndAwaitHeartbeats(a, b);

    List<String> ids = new ArrayList<>(idsOwnedBy(A, 8));
    ids.addAll(idsOwnedBy(B, 8));
    for (String id : ids) {
      publishToBoth(id, a, b);
    }
    // both regions' triggers settle every copy: the owner's runs, the follower's waits for it
    await().atMost(Duration.ofSeconds(90))
        .until(() -> a.settled.containsAll(ids) && b.settled.containsAll(ids));

    History.Report report = history.check(0);
    assertEquals(Set.of(), report.lost(), report.toString());
    assertEquals(ids.size(), report.processed());
    assertEquals(0, report.duplicates(), "each id handled once across both regions: " + report);
    for (String id : ids) {
      RegionId owner = Shards.forKey(id, SHARDS) % 2 == 0 ? A : B;
      assertEquals(owner.name(), history.runsOf(id).get(0).region(), "ran in its shard's owner");
      assertEquals(0L, history.runsOf(id).get(0).epoch());
    }
    assertEquals(Map.of("region-a", 8, "region-b", 8), report.runsByRegion());
    for (RegionFunctionApp app : List.of(a, b)) {
      assertEquals(List.of(), app.tickErrors);
      assertEquals(List.of(), takeovers(app), app.region + " took nothing over");
      assertEquals(0.0, app.counter("tandem.functions.takeovers", null));
      assertEquals(List.of(), app.ownership.reports());
      assertTrue(app.counter("tandem.functions.heartbeats", "renewed") >= 2, app.region + " renewed");
      assertEquals(0.0, app.counter("tandem.functions.heartbeats", "silent"));
      assertTrue(app.ticks.stream().noneMatch(t -> t.report().silent()));
      assertEquals(List.of(), app.deadLetters);
    }
    // the timer's age is exported (a live timer: well below L)
    double age = a.meters.get("tandem.functions.heartbeat.tick.age").gauge().value();
    assertTrue(age >= 0 && age < L.toSeconds(), "tick age " + age);
  }

  @Test
  void aRegionWhoseAppStopsIsTakenOverByTheOtherRegionsTimerWhichProcessesWhatItNeverCompleted()
      throws Exception {
    CountDownLatch hung = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicBoolean hangNext = new AtomicBoolean();
    MessageHandler aHandler = ctx -> {
      history.handled(ctx.id(), A.name(), "fn-region-a", ctx.epoch());
      if (hangNext.compareAndSet(true, false)) {
        hung.countDown();
        release.await(); // A's app hangs in the function: the id stays CLAIMED, never COMPLETED
      }
    };
    RegionFunctionApp a = app(A, "fn-own-down", aHandler);
    RegionFunctionApp b = app(B, "fn-own-down", recording(B));
    startAndAwaitHeartbeats(a, b);
    try {
      // steady state first
      List<String> first = new ArrayList<>(idsOwnedBy(A, 4));
      first.addAll(idsOwnedBy(B, 4));
      first.forEach(id -> publishToBoth(id, a, b));
      await().atMost(Duration.ofSeconds(90))
          .until(() -> a.settled.containsAll(first) && b.settled.containsAll(first));
      assertEquals(0, history.check(0).duplicates());

      // A's app hangs in the first function of the next batch, then stops ticking: it is down
      hangNext.set(true);
      List<String> second = new ArrayList<>(idsOwnedBy(A, 4));
      second.addAll(idsOwnedBy(B, 4));
      second.forEach(id -> publishToBoth(id, a, b));
      assertTrue(hung.await(60, TimeUnit.SECONDS), "A ran a function of the second batch");
      int fault = history.beginFault("region-a app down");
      a.goDown();
      long downAt = System.nanoTime();

      // B's timer notices the silence, takes A's shards over, and B's function runs A's messages
      await().atMost(Duration.ofSeconds(120)).until(() -> b.settled.containsAll(second));
      history.endFault(fault);

      List<RegionFunctionApp.Tick> withTakeovers = b.ticks.stream()
          .filter(t -> !t.report().takeovers().isEmpty()).toList();
      List<TakeoverReport> reports = takeovers(b);
      Set<Integer> aShards = IntStream.range(0, SHARDS).filter(s -> s % 2 == 0).boxed()
          .collect(Collectors.toSet());
      assertEquals(aShards, reports.stream().map(TakeoverReport::shard).collect(Collectors.toSet()),
          "B took over exactly A's shards: " + reports);
      assertEquals(aShards.size(), reports.size());
      for (TakeoverReport r : reports) {
        assertEquals(A, r.from());
        assertEquals(B, r.to());
        assertEquals(1L, r.newEpoch());
        assertTrue(r.bound().isPresent(), "A's broker answers, so the bound is known: " + r);
      }
      assertEquals((double) aShards.size(), b.counter("tandem.functions.takeovers", null));

      // takeover time: not before L + margin of silence, about L + margin + one timer period after
      long firstTakeover = withTakeovers.get(0).atNanos();
      Duration takeoverAfter = Duration.ofNanos(firstTakeover - downAt);
      Duration silence = L.plus(MARGIN);
      assertTrue(takeoverAfter.compareTo(silence.minus(TICK.multipliedBy(2))) >= 0,
          "no takeover while A heartbeated: " + takeoverAfter);
      assertTrue(takeoverAfter.compareTo(silence.plus(TICK).plusSeconds(20)) <= 0,
          "takeover within L + margin + one tick (+ catch-ups): " + takeoverAfter);

      // no message lost; every duplicate within the bound reported at takeover
      History.Report report = history.check(0);
      long bound = reports.stream().mapToLong(r -> r.bound().getAsLong()).sum();
      assertEquals(Set.of(), report.lost(), report.toString());
      assertEquals(first.size() + second.size(), report.processed());
      assertTrue(report.duplicates() <= bound, report + " within the bound " + bound);
      assertEquals(0, report.duplicatesOutsideFaults(), report.toString());
      String hungId = second.stream().filter(id -> history.runsOf(id).size() == 2).findFirst()
          .orElseThrow(() -> new AssertionError("the hung id ran again in B: " + report));
      assertEquals(List.of("region-a", "region-b"),
          history.runsOf(hungId).stream().map(History.Run::region).toList());
      assertEquals(1L, history.runsOf(hungId).get(1).epoch(), "B ran it under the new epoch");
      assertEquals(1, report.duplicates(), "only the id A hung in ran twice: " + report);
      for (String id : second) {
        if (Shards.forKey(id, SHARDS) % 2 == 0 && !id.equals(hungId)) {
          assertEquals(List.of("region-b"),
              history.runsOf(id).stream().map(History.Run::region).toList(),
              "A never ran it; B did, after the takeover");
        }
      }
      // B now renews every shard's lease
      await().atMost(Duration.ofSeconds(30)).until(() -> b.ticks.stream()
          .anyMatch(t -> t.report().renewed().equals(Set.of(0, 1, 2, 3))));
      assertEquals(List.of(), b.tickErrors);
      assertEquals(List.of(), b.deadLetters);
      System.out.printf("functions takeover: %d messages, %d duplicates, bound %d, takeover %d ms "
          + "after A went down (L + margin = %d ms, timer %d ms)%n", report.published(),
          report.duplicates(), bound, takeoverAfter.toMillis(), silence.toMillis(), TICK.toMillis());
    } finally {
      release.countDown();
      a.joinInvoker(Duration.ofSeconds(30));
    }
  }

  @Test
  void aRegionWhoseBrokerIsDownStaysSilentItsShardsAreTakenOverAndItFollowsWhenItComesBack()
      throws Exception {
    RegionFunctionApp a = app(A, "fn-own-outage", recording(A));
    RegionFunctionApp b = app(B, "fn-own-outage", recording(B));
    startAndAwaitHeartbeats(a, b);
    List<String> first = new ArrayList<>(idsOwnedBy(A, 4));
    first.addAll(idsOwnedBy(B, 4));
    first.forEach(id -> publishToBoth(id, a, b));
    await().atMost(Duration.ofSeconds(90))
        .until(() -> a.settled.containsAll(first) && b.settled.containsAll(first));
    // the Functions health endpoint's view (issue 21: the region's health(), same rules as Spring's)
    await().atMost(Duration.ofSeconds(30))
        .until(() -> a.functions.health().status() == RegionHealth.Status.UP);
    RegionHealth upBefore = a.functions.health();
    assertEquals(2, upBefore.shardsOwned(), upBefore.details().toString());
    assertEquals(200, TandemFunctions.httpStatus(upBefore));
    assertEquals("UP", new ObjectMapper().readTree(TandemFunctions.json(upBefore))
        .get("status").asText());

    // region A's broker goes down; A's app keeps running and ticking
    int fault = history.beginFault("region-a broker down");
    long downAt;
    List<String> second = new ArrayList<>(idsOwnedBy(A, 4));
    second.addAll(idsOwnedBy(B, 4));
    List<String> third = new ArrayList<>(idsOwnedBy(A, 4));
    third.addAll(idsOwnedBy(B, 4));
    try {
      regions.a().stopBroker();
      downAt = System.nanoTime();
      // A's health endpoint answers 503 (its own changelog lane stops writing); B's, whose broker
      // answers, is never DOWN for the peer's outage (at most DEGRADED)
      await().atMost(Duration.ofSeconds(30))
          .until(() -> a.functions.health().status() == RegionHealth.Status.DOWN);
      RegionHealth down = a.functions.health();
      assertEquals(503, TandemFunctions.httpStatus(down));
      assertTrue(down.reasons().get(0).contains("own Kafka broker"), down.reasons().toString());
      assertTrue(b.functions.health().status() != RegionHealth.Status.DOWN,
          b.functions.health().reasons().toString());
      // A may still run its shards' messages until its last renewal is revalidateAfter old (its
      // completions reach B through B's changelog); after that it stops, and B takes over
      second.forEach(id -> publishToBoth(id, a, b));
      await().atMost(Duration.ofSeconds(90)).until(() -> takeovers(b).size() == 2);
      third.forEach(id -> publishToBoth(id, a, b));

      // B's function settles every message of both batches
      await().atMost(Duration.ofSeconds(120))
          .until(() -> b.settled.containsAll(second) && b.settled.containsAll(third));
      // A's timer kept running but wrote no heartbeat: its own changelog did not answer
      await().atMost(Duration.ofSeconds(30)).until(() -> a.ticks.stream()
          .anyMatch(t -> t.startNanos() > downAt && t.report().silent()));
    } finally {
      regions.a().startBroker();
    }
    assertTrue(a.ticks.stream().filter(t -> t.startNanos() > downAt)
        .allMatch(t -> t.report().renewed().isEmpty()),
        "no heartbeat from A while its broker was down");
    assertTrue(a.counter("tandem.functions.heartbeats", "silent") > 0);

    List<TakeoverReport> reports = takeovers(b);
    assertEquals(Set.of(0, 2), reports.stream().map(TakeoverReport::shard)
        .collect(Collectors.toSet()), reports.toString());
    for (TakeoverReport r : reports) {
      assertEquals(A, r.from());
      assertTrue(r.bound().isPresent(), r.toString());
      // A's changelog could not be read: A's window W is part of the bound
      assertTrue(r.windowAdded() > 0, "W added when the owner's changelog is unreadable: " + r);
    }

    for (String id : third) {
      if (Shards.forKey(id, SHARDS) % 2 == 0) {
        assertEquals(List.of("region-b"),
            history.runsOf(id).stream().map(History.Run::region).toList(),
            "A's shard's message published after the takeover ran in B");
        assertEquals(1L, history.runsOf(id).get(0).epoch());
      }
    }

    // A comes back: it re-reads the changelogs, follows B, and settles its own copies
    await().atMost(Duration.ofSeconds(120))
        .until(() -> a.settled.containsAll(second) && a.settled.containsAll(third));
    history.endFault(fault);
    await().atMost(Duration.ofSeconds(60)).until(() -> a.ticks.stream().anyMatch(t ->
        !t.report().silent() && t.report().followed().equals(Set.of(0, 1, 2, 3))));
    assertEquals(B, a.ownership.lease(0).owner());
    assertEquals(B, a.ownership.lease(2).owner());
    assertEquals(List.of(), takeovers(a), "A took nothing back");
    await().atMost(Duration.ofSeconds(60))
        .until(() -> a.functions.health().status() == RegionHealth.Status.UP);
    assertEquals(0, a.functions.health().shardsOwned(), "A follows B: it owns nothing now");

    History.Report report = history.check(0);
    long bound = reports.stream().mapToLong(r -> r.bound().getAsLong()).sum();
    assertEquals(Set.of(), report.lost(), report.toString());
    assertEquals(first.size() + second.size() + third.size(), report.processed());
    assertTrue(report.duplicates() <= bound, report + " within the bound " + bound);
    assertEquals(0, report.duplicatesOutsideFaults(), report.toString());
    for (RegionFunctionApp app : List.of(a, b)) {
      assertEquals(List.of(), app.tickErrors);
      assertEquals(List.of(), app.deadLetters);
    }
    System.out.printf("functions broker outage: %d messages, %d duplicates, bound %d (W added: "
        + "A's changelog unreadable)%n", report.published(), report.duplicates(), bound);
  }

  @Test
  void anOwnerThatHeartbeatsButNeverCompletesWhatTheFollowerHoldsIsTakenOverForThatShardOnly() {
    // 3 ticks without progress: B holds copies of shard 0 only, so no other shard can qualify
    Duration stuckAfter = Duration.ofSeconds(3);
    RegionFunctionApp a = app(A, "fn-own-stuck", stuckAfter, recording(A));
    RegionFunctionApp b = app(B, "fn-own-stuck", stuckAfter, recording(B));
    startAndAwaitHeartbeats(a, b);

    // two messages of A's shard 0 whose copies A's trigger never gets (lost on A's side): only B has
    // them, holds them, and A keeps heartbeating without progress on shard 0
    List<String> lost = new ArrayList<>();
    while (lost.size() < 2) {
      String id = TandemIds.newId();
      if (Shards.forKey(id, SHARDS) == 0) {
        lost.add(id);
      }
    }
    lost.forEach(id -> publishToBoth(id, b));
    await().atMost(Duration.ofSeconds(90)).until(() -> b.settled.containsAll(lost));

    List<TakeoverReport> reports = takeovers(b);
    assertEquals(1, reports.size(), "only the shard whose copies B held: " + reports);
    TakeoverReport r = reports.get(0);
    assertEquals(0, r.shard());
    assertEquals(A, r.from());
    assertTrue(r.reason().contains("without progress"), r.reason());
    assertTrue(r.bound().isPresent(), r.toString());
    for (String id : lost) {
      assertEquals(List.of("region-b"),
          history.runsOf(id).stream().map(History.Run::region).toList());
      assertEquals(1L, history.runsOf(id).get(0).epoch());
    }
    // A, alive, reads the new lease and follows shard 0; it keeps renewing shard 2
    await().atMost(Duration.ofSeconds(60)).until(() -> a.ticks.stream().anyMatch(t ->
        t.report().renewed().equals(Set.of(2)) && t.report().followed().contains(0)));
    assertEquals(A, b.ownership.lease(2).owner(), "shard 2 (nothing held) stays with A");
    assertEquals(0, history.check(0).duplicates());
    for (RegionFunctionApp app : List.of(a, b)) {
      assertEquals(List.of(), app.tickErrors);
    }
  }
}
