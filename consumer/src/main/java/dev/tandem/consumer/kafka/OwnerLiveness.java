package dev.tandem.consumer.kafka;

import dev.tandem.core.TandemClock;
import java.time.Duration;
import java.util.Objects;

/**
 * Whether an owner's poll loop is alive — busy or turning, as opposed to stuck — and whether its own
 * region's broker answered recently: the two conditions under which the background lease renewer of
 * {@link TandemKafkaConsumer} may renew the shard leases (and report the owner alive to a witness
 * policy) while the loop itself cannot, because it runs a batch.
 *
 * <ul>
 *   <li><b>Busy</b>: a handler runs and started less than {@code handlerTimeout} ago.
 *   <li><b>Turning</b>: no handler runs and the loop made progress (turned, or a handler started or
 *       returned) less than {@code handlerTimeout} ago.
 *   <li><b>Stuck</b> otherwise: a handler has not returned for {@code handlerTimeout}, or the loop has
 *       not moved for that long outside a handler.
 *   <li><b>Broker answered</b>: the newest evidence that the own region's broker answered (a fetch
 *       that returned records, a successful probe, the own changelog acknowledging a heartbeat) is
 *       newer than the last failed probe and at most {@code brokerBound} old.
 * </ul>
 *
 * <p>Written by the poll loop (and by changelog acknowledgement callbacks), read by the renewer:
 * every field is volatile; the decision tolerates a stale read of one round.
 */
final class OwnerLiveness {

  private final TandemClock clock;
  private final long handlerTimeoutNanos;
  private final long brokerBoundNanos;

  private volatile long progressNanos;
  private volatile boolean handlerRunning;
  private volatile long handlerStartedNanos;
  private volatile boolean answeredOnce;
  private volatile long answeredNanos;
  private volatile boolean failedOnce;
  private volatile long failedNanos;

  OwnerLiveness(TandemClock clock, Duration handlerTimeout, Duration brokerBound) {
    this.clock = Objects.requireNonNull(clock, "clock");
    this.handlerTimeoutNanos = handlerTimeout.toNanos();
    this.brokerBoundNanos = brokerBound.toNanos();
    this.progressNanos = clock.nanoTime();
  }

  /** The poll loop turned. */
  void loopTurned() {
    progressNanos = clock.nanoTime();
  }

  /** A handler starts (on the loop thread). */
  void handlerStarted() {
    long now = clock.nanoTime();
    handlerStartedNanos = now;
    progressNanos = now;
    handlerRunning = true;
  }

  /** The handler started last returned or threw. */
  void handlerEnded() {
    handlerRunning = false;
    progressNanos = clock.nanoTime();
  }

  /** The own broker answered a request sent at {@code sentAtNanos} (a fetch, a probe, a write). */
  void brokerAnswered(long sentAtNanos) {
    synchronized (this) {
      if (!answeredOnce || sentAtNanos - answeredNanos > 0) {
        answeredNanos = sentAtNanos;
        answeredOnce = true;
      }
    }
  }

  /** A probe of the own broker failed now: no earlier evidence counts any more. */
  void brokerSilent() {
    failedNanos = clock.nanoTime();
    failedOnce = true;
  }

  /** Busy (a handler within handlerTimeout) or turning (progress within handlerTimeout). */
  boolean alive(long now) {
    if (handlerRunning) {
      return now - handlerStartedNanos < handlerTimeoutNanos;
    }
    return now - progressNanos < handlerTimeoutNanos;
  }

  /** How long the running handler has run, or null when none runs. */
  Duration handlerRunningFor(long now) {
    return handlerRunning ? Duration.ofNanos(now - handlerStartedNanos) : null;
  }

  /** The own broker answered within brokerBound, and no probe failed since. */
  boolean brokerAnsweredRecently(long now) {
    if (!answeredOnce) {
      return false;
    }
    long at = answeredNanos;
    if (failedOnce && failedNanos - at >= 0) {
      return false;
    }
    return now - at <= brokerBoundNanos;
  }

  /** Whether the renewer may renew now: alive and the own broker answered. */
  boolean mayRenew(long now) {
    return alive(now) && brokerAnsweredRecently(now);
  }
}
