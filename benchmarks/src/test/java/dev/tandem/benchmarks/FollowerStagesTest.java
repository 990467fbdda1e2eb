package dev.tandem.benchmarks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import dev.tandem.core.RegionId;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.IdempotencyStore;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openjdk.jmh.results.Result;

/** The follower's stage split: per-message arithmetic, the trace of the hooks, the reported figures. */
class FollowerStagesTest {

  private static final long MS = 1_000_000L;

  @AfterEach
  void reset() {
    FollowerStages.reset();
  }

  @Test
  void theStagesOfAMessageAddUpToItsFollowerLatency() {
    // follower polls at 100, owner at 103, claim 104, handler 110, completed 111, applied at 118
    long[] s = FollowerStages.stages(100 * MS, 103 * MS, 104 * MS, 110 * MS, 111 * MS, 118 * MS);
    assertArrayEquals(new long[] {3 * MS, 1 * MS, 6 * MS, 1 * MS, 7 * MS}, s);
    assertEquals(18 * MS, java.util.Arrays.stream(s).sum()); // = applied - follower poll
    // the owner polled first: the lead is negative, the sum still the follower's latency
    long[] early = FollowerStages.stages(105 * MS, 101 * MS, 102 * MS, 104 * MS, 104 * MS, 109 * MS);
    assertEquals(-4 * MS, early[0]);
    assertEquals(4 * MS, java.util.Arrays.stream(early).sum());
  }

  @Test
  void aCopyPolledAfterTheCompletionAppliedOrAMissingPointIsNotSplit() {
    assertNull(FollowerStages.stages(120 * MS, 103 * MS, 104 * MS, 110 * MS, 111 * MS, 118 * MS));
    assertNull(FollowerStages.stages(0, 103 * MS, 104 * MS, 110 * MS, 111 * MS, 118 * MS));
    assertNull(FollowerStages.stages(100 * MS, 103 * MS, 0, 110 * MS, 111 * MS, 118 * MS));
  }

  @Test
  void theHooksInAnyOrderGiveTheFollowersSplitAndIgnoreTheOwnersOwnView() {
    // region 1 follows, region 0 owns; the follower's poll stamp comes first
    FollowerStages.polled(1, "m1", 100 * MS);
    FollowerStages.polled(0, "m1", 102 * MS);
    FollowerStages.polled(0, "m1", 150 * MS); // a re-poll keeps the first stamp
    FollowerStages.claimWritten(0, "m1", 103 * MS);
    FollowerStages.claimWritten(1, "m1", 140 * MS); // a later claimant is not the owner
    FollowerStages.handlerStarted("m1", 105 * MS);
    FollowerStages.completedWritten("m1", 106 * MS);
    FollowerStages.applied(0, "m1", 107 * MS); // the owner's own view: no split
    assertEquals(0, FollowerStages.drain().length);
    FollowerStages.applied(1, "m1", 112 * MS);
    long[][] got = FollowerStages.drain();
    assertEquals(1, got.length);
    assertArrayEquals(new long[] {2 * MS, 1 * MS, 2 * MS, 1 * MS, 6 * MS}, got[0]);
    FollowerStages.applied(1, "m1", 130 * MS); // a second apply of the same id adds nothing
    assertEquals(0, FollowerStages.drain().length);
  }

  @Test
  void aRealStoreTellsTheBenchmarksListenerTheOwnersClaimAndCompletedInPathOrder(@TempDir Path dir)
      throws Exception {
    // the hooks the benchmark relies on, with a real store: claimAll's LOCAL CLAIMED and complete's
    // LOCAL COMPLETED reach EndToEndBenchmark's listener, which stamps them for the split
    FollowerStages.enabled = true;
    try (IdempotencyStore store = IdempotencyStore.builder().region(RegionId.of("region-a"))
        .instance("split-test").directory(dir).build()) {
      store.addListener(new EndToEndBenchmark.StoreStamps(0));
      long followerPoll = System.nanoTime();
      FollowerStages.polled(1, "m3", followerPoll);
      FollowerStages.polled(0, "m3", System.nanoTime());
      store.claimAll(List.of(new ClaimRequest("m3", 0, StoreBenchmark.DIGEST, 0, StoreBenchmark.LEASE)));
      FollowerStages.handlerStarted("m3", System.nanoTime());
      store.complete("m3", 0, null);
      assertEquals(0, FollowerStages.drain().length); // not applied in the follower yet
      long applied = System.nanoTime();
      FollowerStages.applied(1, "m3", applied); // the follower's apply (a REMOTE write there)
      long[][] got = FollowerStages.drain();
      assertEquals(1, got.length, "the claim and the completion were stamped through the listener");
      for (int s = 1; s < FollowerStages.STAGES.size(); s++) {
        assertTrue(got[0][s] >= 0, FollowerStages.STAGES.get(s) + " runs forward: " + got[0][s]);
      }
      assertEquals(applied - followerPoll, java.util.Arrays.stream(got[0]).sum());
    } finally {
      EndToEndBenchmark.COMPLETED_AT.remove("m3");
    }
  }

  @Test
  void aCompletionAppliedBeforeTheFollowersPollAddsNoSplit() {
    FollowerStages.polled(0, "m2", 100 * MS);
    FollowerStages.claimWritten(0, "m2", 101 * MS);
    FollowerStages.handlerStarted("m2", 102 * MS);
    FollowerStages.completedWritten("m2", 102 * MS);
    FollowerStages.applied(1, "m2", 105 * MS);
    assertEquals(0, FollowerStages.drain().length);
  }

  @Test
  void percentilesPerStageAndTailMeansThatAddUpToTheTailLatency() {
    // 100 held copies: 98 with replication the long stage (10 ms), two slow ones whose barrier is 40
    long[][] splits = new long[100][];
    for (int i = 0; i < 98; i++) {
      splits[i] = new long[] {1 * MS, 1 * MS, 2 * MS, 0, 10 * MS}; // sum 14
    }
    splits[98] = new long[] {1 * MS, 1 * MS, 40 * MS, 0, 10 * MS}; // sum 52
    splits[99] = new long[] {3 * MS, 1 * MS, 50 * MS, 0, 8 * MS}; // sum 62
    List<Result> out = new ArrayList<>();
    FollowerStages.results(out, splits, 52 * MS); // the follower p99 over all samples: 52 ms
    Map<String, Double> r = out.stream().collect(Collectors.toMap(Result::getLabel, Result::getScore));
    assertEquals(10.0, r.get("split.replication.p50"), 1e-9);
    assertEquals(2.0, r.get("split.barrier.p50"), 1e-9);
    assertEquals(40.0, r.get("split.barrier.p99"), 1e-9);
    assertEquals(14.0, r.get("split.follower.p50"), 1e-9);
    assertEquals(52.0, r.get("split.follower.p99"), 1e-9);
    // the tail: the two copies at or above 52 ms, where the barrier is the stage behind the p99
    assertEquals(2.0, r.get("split.tail.samples"));
    assertEquals(100.0, r.get("split.samples"));
    assertEquals(45.0, r.get("split.barrier.tail"), 1e-9);
    assertEquals(9.0, r.get("split.replication.tail"), 1e-9);
    double stagesTail = FollowerStages.STAGES.stream().mapToDouble(s -> r.get("split." + s + ".tail")).sum();
    assertEquals(r.get("split.follower.tail"), stagesTail, 1e-9);
    assertEquals(57.0, r.get("split.follower.tail"), 1e-9);
  }

  @Test
  void aTailAboveEverySplitCopyFallsBackToTheSplitsOwnP99AndNoSamplesGiveNothing() {
    long[][] splits = {{0, 0, 1 * MS, 0, 1 * MS}, {0, 0, 1 * MS, 0, 9 * MS}};
    List<Result> out = new ArrayList<>();
    FollowerStages.results(out, splits, Long.MAX_VALUE);
    Map<String, Double> r = out.stream().collect(Collectors.toMap(Result::getLabel, Result::getScore));
    assertEquals(1.0, r.get("split.tail.samples"));
    assertEquals(10.0, r.get("split.follower.tail"), 1e-9);
    List<Result> none = new ArrayList<>();
    FollowerStages.results(none, new long[0][], 0);
    assertTrue(none.isEmpty());
  }
}
