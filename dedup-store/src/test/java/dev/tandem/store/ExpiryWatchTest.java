package dev.tandem.store;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import dev.tandem.core.TandemClock;
import dev.tandem.store.internal.TtlBuckets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The per-operation TTL question without a clock read (issue 20): with the waker, an operation
 * reads no clock; a bucket is due once the waker has seen its expiry pass; a new, older bucket
 * re-arms the waker; a step back of the wall clock does not leave every operation on the slow path.
 */
class ExpiryWatchTest {

  static final long START = 1_764_000_000_000L;

  /** A ManualClock that counts its wall-clock reads. */
  static final class CountingClock implements TandemClock {
    final ManualClock clock = new ManualClock(START);
    final AtomicLong wallReads = new AtomicLong();

    @Override
    public long wallMillis() {
      wallReads.incrementAndGet();
      return clock.wallMillis();
    }

    @Override
    public long nanoTime() {
      return clock.nanoTime();
    }
  }

  /** A scheduler run by hand: records the tasks and their delays. */
  static final class HandScheduler implements ExpiryWatch.Scheduler {
    final List<Runnable> tasks = new ArrayList<>();
    final List<Long> delays = new ArrayList<>();
    final List<CompletableFuture<Void>> futures = new ArrayList<>();

    @Override
    public synchronized Future<?> schedule(Runnable task, long delayMillis) {
      tasks.add(task);
      delays.add(delayMillis);
      CompletableFuture<Void> f = new CompletableFuture<>();
      futures.add(f);
      return f;
    }

    /** Runs the wake-ups not cancelled, as the waker thread would. */
    void runPending() {
      List<Runnable> due = new ArrayList<>();
      synchronized (this) {
        for (int i = 0; i < tasks.size(); i++) {
          if (!futures.get(i).isCancelled() && !futures.get(i).isDone()) {
            futures.get(i).complete(null);
            due.add(tasks.get(i));
          }
        }
      }
      due.forEach(Runnable::run);
    }

    synchronized long pending() {
      return futures.stream().filter(f -> !f.isDone()).count();
    }

    synchronized long lastDelay() {
      return delays.get(delays.size() - 1);
    }
  }

  final TtlBuckets ttl = new TtlBuckets(Duration.ofDays(7).toMillis(), Duration.ofDays(1).toMillis());
  final CountingClock clock = new CountingClock();
  final HandScheduler waker = new HandScheduler();
  final ExpiryWatch watch = new ExpiryWatch(ttl, clock, waker);

  /** A write made the bucket of now and the watch re-armed for its expiry; answers now. */
  private long armedForABucketOfNow() {
    long now = clock.wallMillis();
    ttl.created(ttl.startOf(now));
    watch.rearm(now);
    return now;
  }

  @Test
  void anOperationReadsNoClockAndABucketIsDueOnceTheWakerSawItsExpiry() {
    watch.rearm(clock.wallMillis()); // the open: no bucket yet
    assertEquals(0, waker.pending(), "no bucket, no wake-up");
    assertFalse(watch.mayBeDue());

    long start = ttl.startOf(clock.wallMillis());
    ttl.created(start); // a write made the first bucket
    assertTrue(watch.mayBeDue(), "an expiry the waker is not armed for");
    assertFalse(watch.dueNow(), "not expired: re-arms instead");
    assertEquals(1, waker.pending());
    assertEquals(ExpiryWatch.MAX_SLEEP_MILLIS, waker.lastDelay(), "sleeps at most a second");

    long reads = clock.wallReads.get();
    for (int i = 0; i < 1_000; i++) {
      assertFalse(watch.mayBeDue());
    }
    assertEquals(reads, clock.wallReads.get(), "the per-operation question reads no clock");

    clock.clock.advance(Duration.ofDays(8)); // past the bucket's expiry (start + 1 d + 7 d)
    assertFalse(watch.mayBeDue(), "not yet seen by the waker: the documented lateness");
    waker.runPending();
    assertTrue(watch.mayBeDue(), "the waker saw the expiry pass");
    assertTrue(watch.dueNow());
    assertEquals(0, waker.pending(), "due: maintain re-arms, not the waker");
  }

  @Test
  void aNewOlderBucketReArmsTheWakerForItsEarlierExpiry() {
    long now = armedForABucketOfNow();
    assertFalse(watch.mayBeDue());
    // a remote record written long ago goes to an older bucket: an earlier expiry
    ttl.created(ttl.startOf(now - Duration.ofDays(7).toMillis()));
    assertTrue(watch.mayBeDue());
    assertFalse(watch.dueNow());
    assertFalse(watch.mayBeDue(), "armed for the earlier expiry");
    assertEquals(1, waker.pending(), "the former wake-up was cancelled");
  }

  @Test
  void aStepBackOfTheWallClockDoesNotKeepOperationsOnTheSlowPath() {
    long now = armedForABucketOfNow();
    clock.clock.advance(Duration.ofDays(9));
    waker.runPending();
    assertTrue(watch.mayBeDue());
    clock.clock.setWallMillis(now); // stepped back before the expiry
    assertFalse(watch.dueNow());
    assertFalse(watch.mayBeDue(), "the re-arm published the new reading");
  }

  @Test
  void aClosedWatchWakesNoMore() {
    ttl.created(ttl.startOf(clock.wallMillis()));
    watch.rearm(clock.wallMillis());
    assertEquals(1, waker.pending());
    watch.close();
    assertEquals(0, waker.pending(), "the wake-up was cancelled");
    watch.wake(); // a wake-up already running
    watch.rearm(clock.wallMillis());
    assertEquals(0, waker.pending());
  }

  @Test
  void anyClockButTheSystemOneIsReadPerOperation() {
    ExpiryWatch manual = ExpiryWatch.of(ttl, clock, waker);
    assertFalse(manual.wakerDriven());
    ttl.created(ttl.startOf(clock.wallMillis()));
    long reads = clock.wallReads.get();
    assertFalse(manual.mayBeDue());
    assertEquals(reads + 1, clock.wallReads.get());
    clock.clock.advance(Duration.ofDays(8));
    assertTrue(manual.mayBeDue(), "judged at the operation's millisecond");
    assertTrue(ExpiryWatch.of(ttl, TandemClock.system(), waker).wakerDriven());
  }

  @Test
  void theSharedWakerWakesOnTheSystemClock() {
    TtlBuckets shortTtl = new TtlBuckets(70, 10);
    ExpiryWatch real = ExpiryWatch.of(shortTtl, TandemClock.system(), ExpiryWatch.SHARED);
    try {
      long now = System.currentTimeMillis();
      shortTtl.created(shortTtl.startOf(now)); // expires within 80 ms
      real.rearm(now);
      await().atMost(Duration.ofSeconds(10)).until(real::mayBeDue);
      assertTrue(real.dueNow());
    } finally {
      real.close();
    }
  }

  @Test
  void aWatchDroppedWithoutCloseEndsItsWakeUpChain() {
    HandScheduler hand = new HandScheduler();
    ExpiryWatch dropped = new ExpiryWatch(ttl, clock, hand);
    ttl.created(ttl.startOf(clock.wallMillis()));
    dropped.rearm(clock.wallMillis());
    java.lang.ref.WeakReference<ExpiryWatch> ref = new java.lang.ref.WeakReference<>(dropped);
    dropped = null; // the store that owned it became unreachable without close()
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      System.gc();
      return ref.get() == null;
    });
    assertEquals(1, hand.pending());
    hand.runPending(); // the queued wake-up finds no watch: no next wake-up
    assertEquals(0, hand.pending());
  }
}
