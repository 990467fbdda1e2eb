package dev.tandem.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * Records the machine's load (the 1-minute average of {@code /proc/loadavg}) into every benchmark's
 * JSON, so a result can be refused when the machine was not quiet: {@code load.before} is the load
 * when this fork started its first iteration (warm-up included: before the fork's own work weighed
 * in much), {@code load.after} the load at the end of each measured iteration (the last one is the
 * fork's end), {@code load.cores} the processors the fork saw. Policy MAX: the JSON's score of each is
 * the highest over iterations and forks; {@code rawData} holds every fork's values.
 * {@code benchmarks/ratios.py} refuses to write tables from results whose load exceeded 1.5 per core.
 * JMH runs it inside each fork: {@code -prof dev.tandem.benchmarks.LoadProfiler} ({@code run.sh} adds it).
 * Where {@code /proc/loadavg} does not exist (not Linux) nothing is recorded.
 */
public final class LoadProfiler implements InternalProfiler {

  private static final Path LOADAVG = Path.of("/proc/loadavg");
  private double forkStart = Double.NaN;

  @Override
  public String getDescription() {
    return "1-minute load average before the fork and after each measured iteration (/proc/loadavg)";
  }

  @Override
  public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
    if (Double.isNaN(forkStart)) {
      forkStart = load();
    }
  }

  @Override
  public java.util.Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams,
      IterationParams iterationParams, IterationResult result) {
    double now = load();
    if (Double.isNaN(now) || Double.isNaN(forkStart)) {
      return List.of();
    }
    return List.of(
        new ScalarResult("load.before", forkStart, "load", AggregationPolicy.MAX),
        new ScalarResult("load.after", now, "load", AggregationPolicy.MAX),
        new ScalarResult("load.cores", Runtime.getRuntime().availableProcessors(), "cores",
            AggregationPolicy.MAX));
  }

  static double load() {
    try {
      return Double.parseDouble(Files.readString(LOADAVG).trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return Double.NaN;
    }
  }
}
