package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The skipped successes change nothing: a circuit fed through {@link SuccessRecorder} and one fed
 * every call directly agree on state and on every count after each call of the same random sequence
 * (fast successes, slow successes, errors), while the recorder really skips most fast successes.
 */
class SuccessRecorderTest {

  private static final Duration SLOW = Duration.ofMillis(100);

  private static CircuitBreaker circuit(String name, CircuitBreakerConfig.SlidingWindowType type) {
    return CircuitBreaker.of(name, CircuitBreakerConfig.custom()
        .slidingWindow(20, 5, type)
        .failureRateThreshold(50)
        .slowCallRateThreshold(50)
        .slowCallDurationThreshold(SLOW)
        .waitDurationInOpenState(Duration.ofMinutes(10)) // no timed transition during the test
        .build());
  }

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 4, 5})
  void aCircuitFedThroughTheRecorderMatchesOneFedEveryCall(long seed) {
    CircuitBreaker viaRecorder = circuit("recorder", CircuitBreakerConfig.SlidingWindowType.COUNT_BASED);
    CircuitBreaker direct = circuit("direct", CircuitBreakerConfig.SlidingWindowType.COUNT_BASED);
    AtomicInteger recorded = new AtomicInteger();
    viaRecorder.getEventPublisher().onSuccess(e -> recorded.incrementAndGet());
    SuccessRecorder recorder = new SuccessRecorder(viaRecorder);
    SplittableRandom random = new SplittableRandom(seed);
    int successes = 0;
    int opened = 0;
    for (int step = 0; step < 5_000; step++) {
      if (viaRecorder.getState() == CircuitBreaker.State.OPEN) {
        // reopen the way a replayed probe would: both circuits take the same path
        viaRecorder.transitionToClosedState();
        direct.transitionToClosedState();
      }
      int kind = random.nextInt(1000);
      // long runs of fast successes (the steady state), with errors and slow calls now and then
      if (kind < 985) {
        long nanos = TimeUnit.MILLISECONDS.toNanos(random.nextInt(1, 50));
        recorder.recordSuccess(nanos);
        direct.onSuccess(nanos, TimeUnit.NANOSECONDS);
        successes++;
      } else if (kind < 993) {
        long nanos = SLOW.toNanos() + TimeUnit.MILLISECONDS.toNanos(random.nextInt(1, 50));
        recorder.recordSuccess(nanos);
        direct.onSuccess(nanos, TimeUnit.NANOSECONDS);
        successes++;
      } else {
        // a lone error, or now and then an outage: a burst of errors that opens both circuits
        int errors = kind < 998 ? 1 : 12;
        IllegalStateException error = new IllegalStateException("broker gone");
        for (int e = 0; e < errors; e++) {
          viaRecorder.onError(1_000, TimeUnit.NANOSECONDS, error);
          direct.onError(1_000, TimeUnit.NANOSECONDS, error);
        }
        opened += viaRecorder.getState() == CircuitBreaker.State.OPEN ? 1 : 0;
      }
      String at = "seed " + seed + " step " + step;
      assertEquals(direct.getState(), viaRecorder.getState(), at);
      CircuitBreaker.Metrics d = direct.getMetrics();
      CircuitBreaker.Metrics r = viaRecorder.getMetrics();
      assertEquals(d.getNumberOfBufferedCalls(), r.getNumberOfBufferedCalls(), at);
      assertEquals(d.getNumberOfSuccessfulCalls(), r.getNumberOfSuccessfulCalls(), at);
      assertEquals(d.getNumberOfFailedCalls(), r.getNumberOfFailedCalls(), at);
      assertEquals(d.getNumberOfSlowCalls(), r.getNumberOfSlowCalls(), at);
      assertEquals(d.getFailureRate(), r.getFailureRate(), at);
      assertEquals(d.getSlowCallRate(), r.getSlowCallRate(), at);
    }
    assertTrue(opened > 0, "the sequence should open the circuits at least once");
    assertTrue(recorded.get() < successes / 2,
        "the recorder should skip most fast successes: recorded " + recorded + " of " + successes);
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 50})
  void aTimeBasedWindowGetsEverySuccess(int calls) {
    CircuitBreaker c = circuit("time", CircuitBreakerConfig.SlidingWindowType.TIME_BASED);
    AtomicInteger recorded = new AtomicInteger();
    c.getEventPublisher().onSuccess(e -> recorded.incrementAndGet());
    SuccessRecorder recorder = new SuccessRecorder(c);
    for (int i = 0; i < calls; i++) {
      recorder.recordSuccess(TimeUnit.MILLISECONDS.toNanos(1));
    }
    assertEquals(calls, recorded.get());
  }
}
