package dev.tandem.store;

import static dev.tandem.store.Stores.A;
import static dev.tandem.store.Stores.LEASE;
import static dev.tandem.store.Stores.digest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemClock;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Claims are atomic per id, and per-id locking does not serialise unrelated ids. */
class ConcurrentClaimTest {

  private static final int HOT_IDS = 16;

  static final int THREADS = 16;
  static final int ROUNDS = 1000;

  @TempDir Path dir;

  @Test
  void manyThreadsClaimingOneIdGetExactlyOneAcquiredPerRound() throws Exception {
    PayloadDigest d = digest("same payload");
    AtomicIntegerArray acquired = new AtomicIntegerArray(ROUNDS);
    AtomicIntegerArray answered = new AtomicIntegerArray(ROUNDS);
    CyclicBarrier barrier = new CyclicBarrier(THREADS);
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try (IdempotencyStore store = RocksIdempotencyStore.builder().region(A).instance("a1")
        .directory(dir).clock(TandemClock.system()).build()) {
      List<Future<?>> workers = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        final int thread = t;
        workers.add(pool.submit(() -> {
          for (int round = 0; round < ROUNDS; round++) {
            barrier.await(30, TimeUnit.SECONDS); // all threads race on the same fresh id
            String id = "round-" + round;
            // half the threads go through the batch path, which must be just as atomic
            ClaimResult r = thread % 2 == 0
                ? store.claim(id, round % 4, d, 0, LEASE)
                : store.claimAll(List.of(new ClaimRequest(id, round % 4, d, 0, LEASE))).get(0);
            if (r instanceof ClaimResult.Acquired) {
              acquired.incrementAndGet(round);
            } else {
              assertInstanceOf(ClaimResult.InProgress.class, r);
            }
            answered.incrementAndGet(round);
          }
          return null;
        }));
      }
      for (Future<?> w : workers) {
        w.get(120, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    for (int round = 0; round < ROUNDS; round++) {
      assertEquals(THREADS, answered.get(round), "answers in round " + round);
      assertEquals(1, acquired.get(round), "Acquired in round " + round);
    }
  }

  @Test
  void listenersSeeEachIdsRecordsInWriteOrderSoTheLastOneToldIsTheLargest() throws Exception {
    // what replication relies on: compaction keeps the last record shipped per key, so for each id
    // the records told to a listener must only grow, even with many threads writing the same ids
    java.util.Map<String, List<IdRecord>> told = new java.util.concurrent.ConcurrentHashMap<>();
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try (IdempotencyStore store = RocksIdempotencyStore.builder().region(A).instance("a1")
        .directory(dir).maxAttempts(1_000_000).build()) {
      store.addListener((r, o) -> told.computeIfAbsent(r.id(),
          k -> java.util.Collections.synchronizedList(new ArrayList<>())).add(r));
      // 16 hot ids: an id goes inert once completed or in conflict, and with only 4 an unlucky
      // interleaving left too few writes for the check to mean anything
      for (int i = 0; i < HOT_IDS; i++) { // release and renew need a record: claim the ids first
        store.claim("hot-" + i, 0, digest("p"), 0, java.time.Duration.ofMillis(1));
      }
      List<Future<?>> workers = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        final int thread = t;
        workers.add(pool.submit(() -> {
          java.util.Random random = new java.util.Random(thread);
          for (int i = 0; i < 300; i++) {
            String id = "hot-" + random.nextInt(HOT_IDS);
            switch (random.nextInt(3)) {
              case 0 -> store.claim(id, 0, digest(random.nextInt(50) == 0 ? "x" : "p"), 0,
                  java.time.Duration.ofMillis(1));
              case 1 -> store.release(id, 0);
              default -> {
                if (random.nextInt(500) == 0) {
                  store.complete(id, 0, null);
                } else {
                  store.renew(id, 0, LEASE);
                }
              }
            }
          }
          return null;
        }));
      }
      for (Future<?> w : workers) {
        w.get(120, TimeUnit.SECONDS);
      }
      int total = 0;
      for (List<IdRecord> seq : told.values()) {
        for (int i = 1; i < seq.size(); i++) {
          IdRecord prev = seq.get(i - 1);
          IdRecord next = seq.get(i);
          assertEquals(next, prev.merge(next), "record " + i + " of " + next.id() + " is smaller");
        }
        total += seq.size();
        IdRecord last = seq.get(seq.size() - 1);
        assertEquals(store.get(last.id(), 0).orElseThrow(), last);
      }
      assertTrue(total > 100, "writes told: " + total);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aBlockedIdDoesNotBlockAnUnrelatedId() throws Exception {
    String slow = "slow-id";
    String fast = "fast-id";
    assertNotEquals(StripedLocks.stripe(new RecordKey(0, slow)),
        StripedLocks.stripe(new RecordKey(0, fast)));
    CountDownLatch insideSlowWrite = new CountDownLatch(1);
    CountDownLatch letGo = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try (IdempotencyStore store = RocksIdempotencyStore.builder().region(A).instance("a1")
        .directory(dir).build()) {
      // a listener runs under the id's lock: holding it there keeps "slow" locked mid-write
      store.addListener((record, origin) -> {
        if (record.id().equals(slow)) {
          insideSlowWrite.countDown();
          try {
            letGo.await(30, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
      });
      Future<ClaimResult> slowClaim =
          pool.submit(() -> store.claim(slow, 0, digest("s"), 0, LEASE));
      assertTrue(insideSlowWrite.await(30, TimeUnit.SECONDS));
      Future<ClaimResult> sameIdClaim =
          pool.submit(() -> store.claim(slow, 0, digest("s"), 0, LEASE));
      // an unrelated id is claimed and completed while "slow" is held
      ClaimResult fastResult = CompletableFuture
          .supplyAsync(() -> store.claim(fast, 0, digest("f"), 0, LEASE))
          .get(10, TimeUnit.SECONDS);
      assertInstanceOf(ClaimResult.Acquired.class, fastResult);
      assertEquals(Phase.COMPLETED, store.complete(fast, 0, null).phase());
      assertFalse(slowClaim.isDone(), "the slow write is still held");
      assertFalse(sameIdClaim.isDone(), "a claim of the same id waits for the held one");
      letGo.countDown();
      assertInstanceOf(ClaimResult.Acquired.class, slowClaim.get(10, TimeUnit.SECONDS));
      assertInstanceOf(ClaimResult.InProgress.class, sameIdClaim.get(10, TimeUnit.SECONDS));
    } finally {
      letGo.countDown();
      pool.shutdownNow();
    }
  }
}
