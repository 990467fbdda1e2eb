package dev.tandem.store;

import dev.tandem.core.TandemClock;
import dev.tandem.store.internal.TtlBuckets;
import java.lang.ref.WeakReference;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Tells every store operation whether a TTL bucket may have expired, so that it runs {@link
 * TtlMaintenance#maintain} (which drops the bucket and clears the caches) before it answers. Asked
 * before every operation, the cache-hit check included, so it must cost far less than that check
 * (issue 20: a wall-clock read is about 20 ns, as much as the whole check's budget).
 *
 * <p>Two ways, chosen by the clock:
 *
 * <ul>
 *   <li><b>The system clock</b> (production): no clock read per operation. A waker (one daemon
 *       thread shared by the stores of the JVM) sleeps until the oldest bucket's expiry, at most
 *       {@value #MAX_SLEEP_MILLIS} ms at a time, and on waking publishes the wall time it read
 *       ({@code passed}). An operation compares the oldest bucket's expiry (a volatile read of
 *       {@link TtlBuckets#nextExpiryAt}) with {@code passed} and with the expiry the waker is armed
 *       for ({@code armedFor}; a write that created an older bucket lowers the expiry below it, and
 *       the operation then re-arms the waker): two more volatile reads of fields written about once
 *       a second. Trade-off: a bucket is dropped when the first operation after the waker's wake-up
 *       runs, not at the operation of its exact expiry millisecond: the waker's lateness (the
 *       scheduler's, milliseconds; after a step of the wall clock, up to {@value #MAX_SLEEP_MILLIS}
 *       ms) is added to a record's life, which is already between the TTL and the TTL plus a bucket
 *       width ({@link TtlBuckets}). The cache never outlives the bucket: both go in the same {@code
 *       maintain}, and until then RocksDB holds the record the cache answers with.
 *   <li><b>Any other clock</b> (a test's {@code ManualClock}, which no timer can follow): the clock
 *       is read by every operation, exactly as before; expiry is judged at the operation's
 *       millisecond.
 * </ul>
 */
final class ExpiryWatch {

  /** The waker re-reads the wall clock at least this often (its sleep runs on the monotonic clock). */
  static final long MAX_SLEEP_MILLIS = 1_000;

  /** Runs a task after a delay; the shared waker thread in production, a hand-driven one in tests. */
  interface Scheduler {
    Future<?> schedule(Runnable task, long delayMillis);
  }

  /** The JVM's waker: one daemon thread, ended when no store has a wake-up pending for 10 s. */
  static final Scheduler SHARED = new Scheduler() {
    @Override
    public Future<?> schedule(Runnable task, long delayMillis) {
      return Shared.EXECUTOR.schedule(task, delayMillis, TimeUnit.MILLISECONDS);
    }
  };

  private static final class Shared {
    static final ScheduledThreadPoolExecutor EXECUTOR = make();

    private static ScheduledThreadPoolExecutor make() {
      ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1, r -> {
        Thread t = new Thread(r, "tandem-store-ttl-waker");
        t.setDaemon(true);
        return t;
      });
      e.setRemoveOnCancelPolicy(true); // a closed store's wake-up does not stay queued
      e.setKeepAliveTime(10, TimeUnit.SECONDS);
      e.allowCoreThreadTimeOut(true);
      return e;
    }
  }

  private final TtlBuckets ttl;
  private final TandemClock clock;
  /** Null: the clock is read by every operation. */
  private final Scheduler scheduler;
  /** The wall clock at the waker's (or a re-arm's) last reading. */
  private volatile long passed = Long.MIN_VALUE;
  /** The expiry the waker is armed for: it wakes at it, or before. */
  private volatile long armedFor = Long.MAX_VALUE;
  private Future<?> pending; // guarded by this
  private boolean closed; // guarded by this

  ExpiryWatch(TtlBuckets ttl, TandemClock clock, Scheduler scheduler) {
    this.ttl = ttl;
    this.clock = clock;
    this.scheduler = scheduler;
  }

  /** The way chosen by the clock (class comment); {@code scheduler} is used with the system clock. */
  static ExpiryWatch of(TtlBuckets ttl, TandemClock clock, Scheduler scheduler) {
    return new ExpiryWatch(ttl, clock, clock == TandemClock.system() ? scheduler : null);
  }

  /** Whether the waker is used (else the clock is read per operation). */
  boolean wakerDriven() {
    return scheduler != null;
  }

  /**
   * The per-operation question, cheap: may a bucket have expired, or has an older bucket appeared
   * that the waker is not armed for? A yes is answered by {@link #dueNow}.
   */
  boolean mayBeDue() {
    if (scheduler == null) {
      return ttl.due(clock.wallMillis());
    }
    long next = ttl.nextExpiryAt();
    return next <= passed || next < armedFor;
  }

  /** After {@link #mayBeDue}: true if the clock says a bucket has expired, else re-arms the waker. */
  boolean dueNow() {
    long now = clock.wallMillis();
    if (ttl.due(now)) {
      return true;
    }
    rearm(now);
    return false;
  }

  /** The oldest bucket changed (a drop, the open) or an older one appeared: wake for its expiry. */
  synchronized void rearm(long now) {
    if (scheduler == null || closed) {
      return;
    }
    long next = ttl.nextExpiryAt();
    passed = now;
    armedFor = next;
    schedule(next, now);
  }

  /** Under this: replaces the pending wake-up (at most one per store). */
  private void schedule(long next, long now) {
    if (pending != null) {
      pending.cancel(false);
      pending = null;
    }
    if (next != Long.MAX_VALUE) {
      long delay = Math.min(Math.max(next - now, 0), MAX_SLEEP_MILLIS);
      pending = scheduler.schedule(new Wake(this), delay);
    }
  }

  /**
   * The queued wake-up holds its watch weakly: a store dropped without {@code close()} does not keep
   * a wake-up chain (and its watch) alive in the shared waker for the rest of the JVM's life.
   */
  private static final class Wake implements Runnable {
    private final WeakReference<ExpiryWatch> watch;

    Wake(ExpiryWatch watch) {
      this.watch = new WeakReference<>(watch);
    }

    @Override
    public void run() {
      ExpiryWatch w = watch.get();
      if (w != null) {
        w.wake();
      }
    }
  }

  /** The waker's task: publish the time; sleep on if the expiry is still ahead. */
  void wake() {
    long now = clock.wallMillis();
    synchronized (this) {
      if (closed) {
        return;
      }
      passed = now;
      long next = ttl.nextExpiryAt();
      if (now < next) {
        schedule(next, now);
      } else {
        pending = null; // due: the next operation maintains, and maintain re-arms
      }
    }
  }

  /** The store closes: no more wake-ups. */
  synchronized void close() {
    closed = true;
    if (pending != null) {
      pending.cancel(false);
      pending = null;
    }
  }
}
