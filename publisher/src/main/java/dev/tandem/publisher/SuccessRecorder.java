package dev.tandem.publisher;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import java.util.concurrent.TimeUnit;

/**
 * Records acknowledged direct copies in a region's circuit breaker without paying for the ones that
 * cannot change it.
 *
 * <p>Each {@code CircuitBreaker.onSuccess} builds a Resilience4j success event (events are on,
 * because the publisher listens for state transitions: a {@code ZonedDateTime.now()} and three
 * objects) and takes the window's lock, once per copy on the producer's network thread; that cost
 * more than the rest of an acknowledgement. So while the circuit is closed and its count-based window
 * holds nothing but fast successes, a further fast success is not recorded: it would only replace a
 * fast success by a fast success, and every count and rate the circuit decides by (failure rate,
 * slow-call rate, buffered calls) stays the same. Skipping it is the same as recording it at the
 * instant the window was read, so an error recorded concurrently meets the window it would have met.
 * A time-based window ages instead, so there every success is recorded.
 */
final class SuccessRecorder {

  private final CircuitBreaker circuit;
  /** The count-based window's size, or 0 when the window is time-based (record every success). */
  private final int countWindow;
  /** Resilience4j counts a call as slow when it took longer than this. */
  private final long slowCallNanos;

  SuccessRecorder(CircuitBreaker circuit) {
    this.circuit = circuit;
    CircuitBreakerConfig config = circuit.getCircuitBreakerConfig();
    this.countWindow = config.getSlidingWindowType() == CircuitBreakerConfig.SlidingWindowType.COUNT_BASED
        ? config.getSlidingWindowSize()
        : 0;
    this.slowCallNanos = config.getSlowCallDurationThreshold().toNanos();
  }

  /** Records one successful call that took {@code elapsedNanos}, unless it cannot change the circuit. */
  void recordSuccess(long elapsedNanos) {
    if (countWindow > 0
        && elapsedNanos <= slowCallNanos
        && circuit.getState() == CircuitBreaker.State.CLOSED) {
      CircuitBreaker.Metrics window = circuit.getMetrics();
      if (window.getNumberOfSuccessfulCalls() == countWindow && window.getNumberOfSlowCalls() == 0) {
        return;
      }
    }
    circuit.onSuccess(elapsedNanos, TimeUnit.NANOSECONDS);
  }
}
