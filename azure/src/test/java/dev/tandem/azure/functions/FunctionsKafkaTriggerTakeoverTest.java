package dev.tandem.azure.functions;

import static dev.tandem.azure.functions.RegionFunctionApp.A;
import static dev.tandem.azure.functions.RegionFunctionApp.B;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemIds;
import dev.tandem.store.Phase;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Kafka-triggered function in two regions (real RocksDB stores replicated over two real Kafka
 * clusters, AUTOMATIC ownership, heartbeat timers) while region A's app is down: region B's copies of
 * A's shards are followers' copies, asked to retry later until B takes A's shards over. B's trigger
 * is the Kafka extension's ({@link KafkaTriggerModel}): without a retry policy it commits past the
 * first failed invocation (extension defaults) or past {@code maxRetries} immediate re-invocations
 * ({@code commitOnFailure: false}), and that copy is lost — A's copy of the same message waits on A's
 * down partition, and when A comes back it follows B, which never completes it, and its trigger
 * commits past it too. With a retry policy that outlasts the takeover the copy is kept, runs once in
 * B after it, and A's copy is skipped as completed.
 */
@TandemClusters
class FunctionsKafkaTriggerTakeoverTest {

  static final int SHARDS = 4;
  static final Duration L = Duration.ofSeconds(6);
  static final Duration MARGIN = Duration.ofSeconds(3);
  static final Duration TICK = Duration.ofSeconds(1);

  static TwoRegions regions;
  @TempDir Path dir;
  final List<RegionFunctionApp> apps = new ArrayList<>();
  final List<KafkaTriggerModel> triggers = new ArrayList<>();
  final History history = new History();

  @AfterEach
  void close() throws InterruptedException {
    for (KafkaTriggerModel t : triggers) {
      t.close();
    }
    for (RegionFunctionApp app : apps) {
      app.close();
    }
  }

  RegionFunctionApp app(RegionId region, String prefix) {
    return app(region, prefix, dir);
  }

  RegionFunctionApp app(RegionId region, String prefix, Path directory) {
    RegionFunctionApp app = new RegionFunctionApp(regions.a().bootstrapServers(),
        regions.b().bootstrapServers(), region, directory, prefix, SHARDS, L, MARGIN,
        Duration.ofSeconds(120), TICK, recording(region));
    apps.add(app);
    return app;
  }

  MessageHandler recording(RegionId region) {
    return ctx -> history.handled(ctx.id(), region.name(), "fn-" + region.name(), ctx.epoch());
  }

  KafkaTriggerModel trigger(String name, RegionFunctionApp app, KafkaTriggerModel.Commit commit,
      int maxRetries, KafkaTriggerModel.Policy policy) {
    KafkaTriggerModel t = new KafkaTriggerModel(name, app.functions, recording(app.region), commit,
        maxRetries, policy);
    triggers.add(t);
    return t;
  }

  /** Ids of shards region A owns at first (even shards). */
  static List<String> idsOwnedByA(int n) {
    List<String> ids = new ArrayList<>();
    while (ids.size() < n) {
      String id = TandemIds.newId();
      if (Shards.forKey(id, SHARDS) % 2 == 0) {
        ids.add(id);
      }
    }
    return ids;
  }

  /** The copies on region A's partition, waiting while A's app is down. */
  final List<KafkaTriggerModel.Record> aPartition = new ArrayList<>();

  /** Publishes {@code id}: B's trigger gets B's copy (A's copy waits on A's down partition). */
  void publish(String id, KafkaTriggerModel bTrigger) {
    byte[] payload = ("order " + id).getBytes(StandardCharsets.UTF_8);
    Envelope e = Envelope.forPayload(id, payload, Shards.forKey(id, SHARDS),
        System.currentTimeMillis());
    Map<String, String> headers = new HashMap<>();
    EnvelopeCodec.write(e, headers::put);
    history.published(id);
    KafkaTriggerModel.Record copy = new KafkaTriggerModel.Record(id, Map.copyOf(headers), payload);
    aPartition.add(copy);
    bTrigger.deliver(copy);
  }

  @Test
  void aFollowersCopyHeldThroughATakeoverIsLostWhenTheTriggerCommitsPastItAndKeptWithARetryPolicy()
      throws Exception {
    RegionFunctionApp a = app(A, "fn-kafka-retry");
    RegionFunctionApp b = app(B, "fn-kafka-retry");
    for (RegionFunctionApp app : List.of(a, b)) {
      assertTrue(app.log.awaitRestored(Duration.ofSeconds(60)), app.region + " restored");
      app.start();
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> IntStream.of(0, 1).allMatch(i ->
        List.of(a, b).get(i).ticks.stream().anyMatch(t -> !t.report().renewed().isEmpty())));

    // three functions in B on the same kind of copies: the extension's defaults without a retry
    // policy; commitOnFailure=false without a policy (maxRetries = 5, the default); and a policy
    // retrying indefinitely every second on an extension that commits after every run
    KafkaTriggerModel defaults = trigger("defaults", b, KafkaTriggerModel.Commit.ALWAYS, 5,
        KafkaTriggerModel.Policy.NONE);
    KafkaTriggerModel inPlace = trigger("commitOnFailure-false", b,
        KafkaTriggerModel.Commit.ON_SUCCESS, 5, KafkaTriggerModel.Policy.NONE);
    KafkaTriggerModel withPolicy = trigger("retry-forever", b, KafkaTriggerModel.Commit.ALWAYS, 5,
        new KafkaTriggerModel.Policy(-1, Duration.ofSeconds(1)));

    int fault = history.beginFault("region-a app down");
    a.goDown();
    List<String> lostWithDefaults = idsOwnedByA(2);
    List<String> lostInPlace = idsOwnedByA(2);
    List<String> kept = idsOwnedByA(2);
    lostWithDefaults.forEach(id -> publish(id, defaults));
    lostInPlace.forEach(id -> publish(id, inPlace));
    kept.forEach(id -> publish(id, withPolicy));

    // B takes A's shards over; the copies the retry policy kept run then. The takeover is reported
    // when B's heartbeat tick returns, which can be after the kept copies already ran (they run as
    // soon as the lease is B's, inside that tick), so wait for both rather than read the ticks early.
    await().atMost(Duration.ofSeconds(120)).until(() -> withPolicy.committed.containsAll(kept)
        && b.ticks.stream().anyMatch(t -> !t.report().takeovers().isEmpty()));
    history.endFault(fault);
    List<TakeoverReport> reports = b.ticks.stream()
        .flatMap(t -> t.report().takeovers().stream()).toList();
    assertFalse(reports.isEmpty(), "B took A's shards over");
    assertTrue(reports.stream().allMatch(r -> r.from().equals(A)), reports.toString());

    // without a policy the trigger committed past each held copy before the takeover
    assertEquals(lostWithDefaults, defaults.dropped);
    assertEquals(lostInPlace, inPlace.dropped);
    for (String id : lostWithDefaults) {
      assertEquals(1, defaults.attemptsOf(id), "one invocation, then the commit: " + id);
    }
    for (String id : lostInPlace) {
      assertEquals(6, inPlace.failedInvocationsOf(id), "1 + maxRetries invocations: " + id);
    }
    // ... and nothing brings them back: B's trigger has moved on, A's copy would follow B
    Set<String> dropped = new HashSet<>(lostWithDefaults);
    dropped.addAll(lostInPlace);
    for (String id : dropped) {
      int shard = Shards.forKey(id, SHARDS);
      assertFalse(b.store.get(id, shard).map(r -> r.phase() == Phase.COMPLETED).orElse(false),
          "never completed: " + id);
    }
    History.Report report = history.check(0);
    assertEquals(dropped, report.lost(), "exactly the copies committed past are lost: " + report);

    // with the policy: the first copy held (failed attempts) until the takeover — the partition's
    // next record waits behind it — then each runs once, in B, under the new epoch
    assertTrue(withPolicy.attemptsOf(kept.get(0)) >= 2, "held before the takeover");
    for (String id : kept) {
      assertEquals(List.of("region-b"),
          history.runsOf(id).stream().map(History.Run::region).toList());
      assertEquals(1L, history.runsOf(id).get(0).epoch());
      assertEquals(0, withPolicy.failedInvocationsOf(id), "the invocation never failed: " + id);
    }
    assertEquals(List.of(), withPolicy.dropped);
    assertEquals(0, report.duplicates(), report.toString());
    assertEquals(List.of(), b.tickErrors);

    // A's app comes back (a new instance on an empty disk: restored from the changelogs) as a
    // follower of B, and its trigger (no retry policy) delivers A's copies: the kept ids are
    // COMPLETED there already; the lost ones wait for a completion B never makes, and are committed
    // past again — the old owner skips them too
    a.close();
    apps.remove(a);
    RegionFunctionApp back = app(A, "fn-kafka-retry", dir.resolve("a-back"));
    assertTrue(back.log.awaitRestored(Duration.ofSeconds(60)), "A restored");
    back.start();
    await().atMost(Duration.ofSeconds(60)).until(() -> reports.stream()
        .allMatch(r -> back.ownership.lease(r.shard()).owner().equals(B)));
    KafkaTriggerModel aTrigger = trigger("a-back", back, KafkaTriggerModel.Commit.ALWAYS, 5,
        KafkaTriggerModel.Policy.NONE);
    aPartition.forEach(aTrigger::deliver);
    await().atMost(Duration.ofSeconds(60)).until(() ->
        aTrigger.committed.size() + aTrigger.dropped.size() == aPartition.size());
    assertEquals(Set.copyOf(kept), Set.copyOf(aTrigger.committed), "kept: completed in B, skipped");
    assertEquals(dropped, Set.copyOf(aTrigger.dropped), "lost: A follows B and skips them too");
    assertEquals(dropped, history.check(0).lost());
    assertEquals(0, history.check(0).duplicates());
    System.out.printf("kafka trigger takeover: %d copies committed past without a retry policy "
        + "(lost), %d kept by the policy (attempts %s), takeover of %d shards%n", dropped.size(),
        kept.size(), kept.stream().map(withPolicy::attemptsOf).toList(), reports.size());
  }
}
