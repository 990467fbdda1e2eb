package dev.tandem.benchmarks;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * Turns {@link EndToEndBenchmark}'s latency samples of one iteration into JMH secondary results
 * (milliseconds, averaged over iterations and forks, so they get JMH's error bars in the JSON):
 * {@code e2e.p50}, {@code e2e.p99}, and for the Tandem pipeline {@code follower.p50/p99} and {@code
 * replication.p50/p99}, plus the sample counts. Only for {@code EndToEndBenchmark.openLoop}; other
 * benchmarks get nothing. JMH runs it inside the fork: {@code -prof
 * dev.tandem.benchmarks.EndToEndLatencyProfiler} ({@code benchmarks/run.sh} adds it).
 *
 * <p>Why a profiler and not {@code @AuxCounters}: JMH sums {@code EVENTS} counters over iterations
 * and forks and normalises {@code OPERATIONS} counters by time; a percentile is neither.
 */
public final class EndToEndLatencyProfiler implements InternalProfiler {

  @Override
  public String getDescription() {
    return "Tandem end-to-end latency percentiles (EndToEndBenchmark.openLoop)";
  }

  @Override
  public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
    // the samples of this iteration only (the warm-up's or the previous iteration's are dropped)
    EndToEndBenchmark.E2E.clear();
    EndToEndBenchmark.FOLLOWER.clear();
    EndToEndBenchmark.REPLICATION.clear();
  }

  @Override
  public Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams,
      IterationParams iterationParams, IterationResult result) {
    List<Result> out = new ArrayList<>();
    if (!benchmarkParams.getBenchmark().endsWith("EndToEndBenchmark.openLoop")) {
      return out;
    }
    add(out, "e2e", EndToEndBenchmark.E2E.drainSorted());
    add(out, "follower", EndToEndBenchmark.FOLLOWER.drainSorted());
    add(out, "replication", EndToEndBenchmark.REPLICATION.drainSorted());
    return out;
  }

  private static void add(List<Result> out, String name, long[] sorted) {
    if (sorted.length == 0) {
      return;
    }
    out.add(new ScalarResult(name + ".p50", pct(sorted, 0.50) / 1e6, "ms", AggregationPolicy.AVG));
    out.add(new ScalarResult(name + ".p99", pct(sorted, 0.99) / 1e6, "ms", AggregationPolicy.AVG));
    out.add(new ScalarResult(name + ".samples", sorted.length, "#", AggregationPolicy.AVG));
  }

  static long pct(long[] sorted, double p) {
    return sorted[Math.max(0, Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1))];
  }
}
