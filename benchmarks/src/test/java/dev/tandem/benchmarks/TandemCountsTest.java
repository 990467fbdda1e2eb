package dev.tandem.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.Result;

/**
 * The per-message counts of the Tandem pipeline read from the regions' meters
 * ({@link EndToEndBenchmark#tandemCounts}, {@link EndToEndLatencyProfiler#perMessage}) when a meter
 * leaves the registry between two readings. That is what JMH does in the last measured iteration:
 * its generated code runs the trial teardown (which closes the regions; a closing store removes its
 * meters from the registry) inside that iteration, before the profiler's after-reading. The quiet
 * run of 2026-12-05T0818 showed it as negative {@code count.store.claims/completes} and
 * {@code count.remote.applied} in the last iteration of every fork.
 */
class TandemCountsTest {

  private final MeterRegistry region = new SimpleMeterRegistry();

  @BeforeEach
  void watch() {
    EndToEndBenchmark.resetCounts();
    EndToEndBenchmark.countMeters(region);
  }

  @AfterEach
  void forget() {
    EndToEndBenchmark.resetCounts();
  }

  private Counter claims() {
    return region.counter("tandem.store.claims", "region", "region-a", "outcome", "acquired");
  }

  private Counter completes() {
    return region.counter("tandem.store.completes", "region", "region-a");
  }

  /** One "iteration" of {@code n} messages: each claimed and completed once. */
  private static void handle(Counter claims, Counter completes, int n) {
    claims.increment(n);
    completes.increment(n);
    EndToEndBenchmark.HANDLED.addAndGet(n);
  }

  private static Map<String, Double> perMessage(Map<String, Double> before, Map<String, Double> after) {
    List<Result> out = new ArrayList<>();
    EndToEndLatencyProfiler.perMessage(out, before, after);
    return out.stream().collect(Collectors.toMap(Result::getLabel, Result::getScore));
  }

  @Test
  void aStoreClosedAtTheEndOfTheLastIterationStillCountsItsWork() {
    Counter claims = claims();
    Counter completes = completes();
    handle(claims, completes, 1_000); // the earlier iterations
    Map<String, Double> before = EndToEndBenchmark.tandemCounts();
    handle(claims, completes, 500); // the last iteration
    region.remove(claims); // the trial teardown: the region's store closes, its meters leave
    region.remove(completes);
    Map<String, Double> got = perMessage(before, EndToEndBenchmark.tandemCounts());
    assertEquals(1.0, got.get("count.store.claims"), 1e-12, "claims per message " + got);
    assertEquals(1.0, got.get("count.store.completes"), 1e-12, "completes per message " + got);
  }

  @Test
  void aMeterRegisteredAgainCountsOnTopOfTheOneItReplaced() {
    Counter claims = claims();
    Counter completes = completes();
    handle(claims, completes, 1_000);
    Map<String, Double> before = EndToEndBenchmark.tandemCounts();
    handle(claims, completes, 200);
    region.remove(claims); // a store closed and opened again in the same registry: new meters at 0
    region.remove(completes);
    handle(claims(), completes(), 300);
    Map<String, Double> got = perMessage(before, EndToEndBenchmark.tandemCounts());
    assertEquals(1.0, got.get("count.store.claims"), 1e-12, "claims per message " + got);
    assertEquals(1.0, got.get("count.store.completes"), 1e-12, "completes per message " + got);
  }
}
