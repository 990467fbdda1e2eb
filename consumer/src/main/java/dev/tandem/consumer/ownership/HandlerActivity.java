package dev.tandem.consumer.ownership;

import dev.tandem.core.TandemClock;
import java.time.Duration;
import java.util.Objects;

/**
 * Whether an owner's processing is alive — busy or turning, as opposed to stuck — for an owner whose
 * leases are renewed from another thread while it processes (the Kafka poll loop's background
 * renewer, {@link OwnerLiveness#renewWhileBusy}):
 *
 * <ul>
 *   <li><b>Busy</b>: a handler runs and started less than {@code handlerTimeout} ago.
 *   <li><b>Turning</b>: no handler runs and the loop made progress (turned, or a handler started or
 *       returned) less than {@code handlerTimeout} ago.
 *   <li><b>Waiting</b>: no handler runs and the processing is in a wait bounded by itself (a batch's
 *       claims becoming durable in the own changelog, at most its timeout) that began less than that
 *       bound plus {@code handlerTimeout} ago. Such a wait is progress, not a stuck handler: it ends
 *       by itself within its bound, and a broker that does not answer meanwhile is the brokers'
 *       evidence's to judge, not this.
 *   <li><b>Stuck</b> otherwise: a handler has not returned for {@code handlerTimeout}, or the loop has
 *       not moved for that long outside a handler.
 * </ul>
 *
 * <p>Written by the processing thread, read by the renewer: every field is volatile; a decision
 * tolerates a stale read of one round.
 */
public final class HandlerActivity {

  private final TandemClock clock;
  private final Duration handlerTimeout;
  private final long handlerTimeoutNanos;
  private volatile long progressNanos;
  private volatile boolean handlerRunning;
  private volatile long handlerStartedNanos;
  /** The bound of the wait in progress (0: none): added to handlerTimeout until it ends. */
  private volatile long waitBoundNanos;

  /**
   * Activity measured on {@code clock}: stuck after {@code handlerTimeout} without a return or a turn.
   */
  public HandlerActivity(TandemClock clock, Duration handlerTimeout) {
    this.clock = Objects.requireNonNull(clock, "clock");
    Objects.requireNonNull(handlerTimeout, "handlerTimeout");
    if (handlerTimeout.isZero() || handlerTimeout.isNegative()) {
      throw new IllegalArgumentException("handlerTimeout must be > 0, got " + handlerTimeout);
    }
    this.handlerTimeout = handlerTimeout;
    this.handlerTimeoutNanos = handlerTimeout.toNanos();
    this.progressNanos = clock.nanoTime();
  }

  /** How long a handler may run (or the loop stand still) before the processing counts as stuck. */
  public Duration handlerTimeout() {
    return handlerTimeout;
  }

  /** The processing loop turned. */
  public void loopTurned() {
    progressNanos = clock.nanoTime();
  }

  /**
   * The processing enters a wait that ends by itself within {@code bound} (e.g. a batch waiting for
   * its claims to be durable before its first handler): alive meanwhile for {@code bound} plus
   * handlerTimeout from now. Ended by {@link #waitEnded} or the next handler's start.
   */
  public void waitStarted(Duration bound) {
    Objects.requireNonNull(bound, "bound");
    if (bound.isNegative()) {
      throw new IllegalArgumentException("bound must be >= 0, got " + bound);
    }
    progressNanos = clock.nanoTime();
    waitBoundNanos = bound.toNanos();
  }

  /** The wait begun by {@link #waitStarted} is over (progress): handlerTimeout applies again. */
  public void waitEnded() {
    waitBoundNanos = 0;
    progressNanos = clock.nanoTime();
  }

  /** A handler starts (on the processing thread); a wait in progress is over. */
  public void handlerStarted() {
    long now = clock.nanoTime();
    waitBoundNanos = 0;
    handlerStartedNanos = now;
    progressNanos = now;
    handlerRunning = true;
  }

  /** The handler started last returned or threw. */
  public void handlerEnded() {
    handlerRunning = false;
    progressNanos = clock.nanoTime();
  }

  /**
   * Busy (a handler within handlerTimeout), turning (progress within handlerTimeout) or waiting (a
   * bounded wait within its bound plus handlerTimeout).
   */
  public boolean alive(long nowNanos) {
    if (handlerRunning) {
      return nowNanos - handlerStartedNanos < handlerTimeoutNanos;
    }
    return nowNanos - progressNanos < handlerTimeoutNanos + waitBoundNanos;
  }

  /** How long the running handler has run, or null when none runs. */
  public Duration handlerRunningFor(long nowNanos) {
    return handlerRunning ? Duration.ofNanos(nowNanos - handlerStartedNanos) : null;
  }
}
