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

  /** A handler starts (on the processing thread). */
  public void handlerStarted() {
    long now = clock.nanoTime();
    handlerStartedNanos = now;
    progressNanos = now;
    handlerRunning = true;
  }

  /** The handler started last returned or threw. */
  public void handlerEnded() {
    handlerRunning = false;
    progressNanos = clock.nanoTime();
  }

  /** Busy (a handler within handlerTimeout) or turning (progress within handlerTimeout). */
  public boolean alive(long nowNanos) {
    if (handlerRunning) {
      return nowNanos - handlerStartedNanos < handlerTimeoutNanos;
    }
    return nowNanos - progressNanos < handlerTimeoutNanos;
  }

  /** How long the running handler has run, or null when none runs. */
  public Duration handlerRunningFor(long nowNanos) {
    return handlerRunning ? Duration.ofNanos(nowNanos - handlerStartedNanos) : null;
  }
}
