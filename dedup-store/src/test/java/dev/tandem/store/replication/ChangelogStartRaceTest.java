package dev.tandem.store.replication;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.CompleteRequest;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two regions whose replication logs start at the same moment on changelog topics that do not exist
 * yet (KAFKA-15591: an idempotent producer's first produce request to a just-created partition fails
 * NOT_LEADER_OR_FOLLOWER while a later one is appended; the first then spins on
 * OUT_OF_ORDER_SEQUENCE_NUMBER until {@code delivery.timeout.ms}, and the lane stalls). Repeated on
 * fresh topic prefixes: in every round, every change of each region reaches the peer's store and
 * every shard's barrier passes within a bound far below the producer's delivery timeout.
 */
class ChangelogStartRaceTest {

  private static final int ROUNDS = 6;
  private static final int SHARDS = 16;
  private static final int IDS = 200;
  /** Far below the 120 s delivery.timeout.ms a stuck partition waits for; generous for load. */
  private static final Duration BOUND = Duration.ofSeconds(40);
  private static final RegionId A = RegionId.of("region-a");
  private static final RegionId B = RegionId.of("region-b");
  private static final Duration LEASE = Duration.ofMinutes(5);

  private static TwoRegions regions;

  @BeforeAll
  static void start() {
    regions = TwoRegions.start();
  }

  @AfterAll
  static void stop() {
    if (regions != null) {
      regions.close();
    }
  }

  @Test
  void bothRegionsStartingTogetherOnFreshChangelogsReplicateEveryChangeWithinTheBound(
      @TempDir Path dir) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      for (int round = 1; round <= ROUNDS; round++) {
        String prefix = "race" + round + "-" + System.nanoTime();
        CyclicBarrier together = new CyclicBarrier(2);
        final int r = round;
        Path d = dir.resolve("r" + round);
        CompletableFuture<Replica> fa = CompletableFuture.supplyAsync(
            () -> openAndWrite(together, "region-a", d.resolve("a"), prefix, "a" + r), pool);
        CompletableFuture<Replica> fb = CompletableFuture.supplyAsync(
            () -> openAndWrite(together, "region-b", d.resolve("b"), prefix, "b" + r), pool);
        Replica a = fa.get(60, TimeUnit.SECONDS);
        Replica b = fb.get(60, TimeUnit.SECONDS);
        try {
          long start = System.nanoTime();
          long deadline = start + BOUND.toNanos();
          waitAllShipped(round, a, b, deadline);
          waitAllShipped(round, b, a, deadline);
          waitPeerHas(round, a, b, "a" + round, deadline);
          waitPeerHas(round, b, a, "b" + round, deadline);
          System.out.printf("FIGURE start race round %d: every change on both sides in %d ms;"
              + " producer resets a=%.0f b=%.0f%n", round,
              TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
              resets(a), resets(b));
        } finally {
          a.close();
          b.close();
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Producer resets of every target and reason (the safety net; the leader wait avoids them). */
  private static double resets(Replica r) {
    return r.meters.find("tandem.replication.producer.reset").counters().stream()
        .mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
  }

  private static Replica openAndWrite(CyclicBarrier together, String region, Path dir,
      String prefix, String idPrefix) {
    try {
      together.await(30, TimeUnit.SECONDS);
      Replica r = Replica.open(regions, region, dir, prefix, b -> b.shards(SHARDS));
      // write at once: the first produce requests to the new partitions carry real changes
      claimAndComplete(r.store, idPrefix);
      return r;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Every change of {@code writer} is acknowledged by both regions' changelogs (its barriers). */
  private static void waitAllShipped(int round, Replica writer, Replica peer, long deadline)
      throws Exception {
    for (RegionId target : List.of(A, B)) {
      for (int shard = 0; shard < SHARDS; shard++) {
        long left = deadline - System.nanoTime();
        try {
          writer.log.barrier(shard, target).get(Math.max(1, left), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          fail("round " + round + ": the changes of " + writer.region + " in shard " + shard
              + " were not acknowledged by " + target + "'s changelog within " + BOUND
              + " of both regions starting (lane stuck; publisher " + writer.log.publisher()
              .status(target) + ", unacked by peers " + writer.log.unackedByPeers(shard) + ")");
        }
      }
    }
  }

  /** Every id {@code writer} completed is terminal in {@code peer}'s store. */
  private static void waitPeerHas(int round, Replica writer, Replica peer, String idPrefix,
      long deadline) {
    long left = Math.max(1, deadline - System.nanoTime());
    org.awaitility.Awaitility.await().atMost(Duration.ofNanos(left))
        .pollInterval(Duration.ofMillis(100))
        .untilAsserted(() -> {
          List<String> missing = new ArrayList<>();
          for (int i = 0; i < IDS; i++) {
            String id = idPrefix + "-" + i;
            if (!peer.store.isTerminal(id, Shards.forKey(id, SHARDS))) {
              missing.add(id);
            }
          }
          assertTrue(missing.isEmpty(), "round " + round + ": " + missing.size() + " of " + IDS
              + " changes of " + writer.region + " not in " + peer.region + "'s store within "
              + BOUND + ", e.g. " + missing.subList(0, Math.min(5, missing.size())));
        });
  }

  private static void claimAndComplete(IdempotencyStore store, String idPrefix) {
    for (int from = 0; from < IDS; from += 20) {
      List<ClaimRequest> claims = new ArrayList<>();
      for (int i = from; i < from + 20; i++) {
        String id = idPrefix + "-" + i;
        claims.add(new ClaimRequest(id, Shards.forKey(id, SHARDS),
            PayloadDigest.of(id.getBytes(UTF_8)), 0, LEASE));
      }
      List<ClaimResult> results = store.claimAll(claims);
      List<CompleteRequest> completes = new ArrayList<>();
      for (int i = 0; i < claims.size(); i++) {
        assertTrue(results.get(i) instanceof ClaimResult.Acquired, claims.get(i).id());
        completes.add(new CompleteRequest(claims.get(i).id(), claims.get(i).shard(), null));
      }
      store.completeAll(completes);
    }
  }
}
