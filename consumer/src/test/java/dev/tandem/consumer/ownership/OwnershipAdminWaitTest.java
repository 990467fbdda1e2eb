package dev.tandem.consumer.ownership;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * How long the issuing client ({@link OwnershipAdmin}, {@link OwnershipResultWait}) waits for its results: on the monotonic
 * clock only. A manual clock whose wall time steps an hour either way while the client waits.
 */
class OwnershipAdminWaitTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");

  final ManualClock clock = new ManualClock(1_000_000);
  final ConcurrentLinkedQueue<Object> arriving = new ConcurrentLinkedQueue<>();
  final OwnershipRequestChannel channel = new OwnershipRequestChannel() {
    @Override
    public List<Object> poll() {
      List<Object> out = new ArrayList<>();
      for (Object o; (o = arriving.poll()) != null; ) {
        out.add(o);
      }
      return out;
    }

    @Override
    public void answer(OwnershipResult result) {
      arriving.add(result);
    }

    @Override
    public long request(OwnershipRequest request) {
      return 0;
    }

    @Override
    public void close() {}
  };
  final List<Integer> answered = new CopyOnWriteArrayList<>();

  CompletableFuture<Void> waiting(Set<Integer> shards, Duration timeout) {
    long deadline = clock.nanoTime() + timeout.toNanos();
    return CompletableFuture.runAsync(() -> OwnershipResultWait.awaitResults(channel, "r1", shards,
        deadline, clock, r -> answered.add(r.shard())));
  }

  static void stillWaiting(CompletableFuture<Void> f) {
    // bounded look: the wait must not have ended (it ends only by results or monotonic time)
    assertThrows(TimeoutException.class, () -> f.get(300, TimeUnit.MILLISECONDS));
  }

  @Test
  void aStepOfTheWallClockNeitherEndsTheWaitNorProlongsIt() throws Exception {
    CompletableFuture<Void> f = waiting(Set.of(0, 2), Duration.ofSeconds(10));
    clock.setWallMillis(clock.wallMillis() + 3_600_000); // forward an hour
    stillWaiting(f);
    clock.setWallMillis(clock.wallMillis() - 7_200_000); // back two hours
    stillWaiting(f);
    clock.advance(Duration.ofSeconds(9));
    stillWaiting(f);
    clock.advance(Duration.ofSeconds(1)); // the timeout, on the monotonic clock
    f.get(10, TimeUnit.SECONDS);
    assertEquals(List.of(), answered);
  }

  @Test
  void everyResultEndsTheWaitBeforeTheTimeout() throws Exception {
    CompletableFuture<Void> f = waiting(Set.of(0, 2), Duration.ofSeconds(10));
    OwnershipRequest q = new OwnershipRequest("r1", A, B, new java.util.TreeSet<>(Set.of(0, 2)),
        clock.wallMillis() + 10_000, "test");
    channel.answer(new OwnershipResult("other", 0, A, B, true, 1, 5, "a-1", "another request"));
    channel.answer(new OwnershipResult(q.id(), 0, A, B, true, 1, 5, "a-1", "moved"));
    await().atMost(Duration.ofSeconds(10)).until(() -> answered.equals(List.of(0)));
    assertFalse(f.isDone(), "shard 2 has no result yet");
    channel.answer(new OwnershipResult(q.id(), 0, A, B, true, 1, 5, "a-2", "a copy"));
    channel.answer(new OwnershipResult(q.id(), 2, A, B, true, 1, 5, "a-1", "moved"));
    f.get(10, TimeUnit.SECONDS);
    assertEquals(List.of(0, 2), answered, "once per shard, results of other requests ignored");
  }

  @Test
  void theOwnersWindowEndsBeforeTheClientStopsWaiting() {
    // the owner's clock starts when it reads the request, the client's when it writes it: the
    // owner's window is shorter by an allowance for that delay (a tenth, at most 1 s)
    assertEquals(Duration.ofSeconds(29), OwnershipAdmin.ownerWindow(Duration.ofSeconds(30)));
    assertEquals(Duration.ofMillis(4_500), OwnershipAdmin.ownerWindow(Duration.ofSeconds(5)));
    assertEquals(Duration.ofMillis(1), OwnershipAdmin.ownerWindow(Duration.ofMillis(1)));
  }
}
