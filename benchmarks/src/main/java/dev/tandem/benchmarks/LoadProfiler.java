package dev.tandem.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * Records into every benchmark's JSON whether the machine was quiet, i.e. how much work came from
 * OUTSIDE the run, so {@code benchmarks/ratios.py} can refuse a result taken beside other work:
 * <ul>
 *   <li>{@code outside.cpu}: during each iteration, the CPU used by processes that are not the run's
 *       own, as a share of the machine's capacity per core (0..1; {@link OutsideCpu}: the run is
 *       {@code run.sh}'s process tree - regions JVM, Redis, JMH host and forks - or, without
 *       {@code run.sh}, the JMH host's). This is the refusal figure: the run's own brokers and
 *       clients are not outside load.</li>
 *   <li>{@code load.beforeRun}: the 1-minute load average {@code run.sh} read before it started
 *       anything (environment {@code TANDEM_BENCH_LOAD_BEFORE_RUN}): the "load above 1.5 per
 *       core", read as load from outside, because before the run nothing of it existed.</li>
 *   <li>{@code load.before} (at this fork's first iteration) and {@code load.after} (after each
 *       iteration): the 1-minute load average, for information only. It includes the run's own
 *       processes (3.2-4.6 on 2 cores for the Kafka benchmarks on an idle machine), so it cannot
 *       tell a busy machine from a benchmark that runs brokers.</li>
 *   <li>{@code load.cores}: the processors the fork saw.</li>
 * </ul>
 * Policy MAX: the JSON's score of each is the highest over iterations and forks; {@code rawData}
 * holds every fork's values. JMH runs it inside each fork: {@code -prof dev.tandem.benchmarks.LoadProfiler}
 * ({@code run.sh} adds it). Where {@code /proc} does not exist (not Linux) nothing is recorded. Reading
 * {@code /proc} happens between iterations, outside the measured time.
 */
public final class LoadProfiler implements InternalProfiler {

  private static final Path LOADAVG = Path.of("/proc/loadavg");
  private final OutsideCpu outside = OutsideCpu.forThisRun();
  private double forkStart = Double.NaN;
  private OutsideCpu.Sample iterationStart;

  @Override
  public String getDescription() {
    return "CPU of processes outside the run per iteration (/proc), load average before the run and"
        + " around each iteration (/proc/loadavg)";
  }

  @Override
  public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
    if (Double.isNaN(forkStart)) {
      forkStart = load();
    }
    iterationStart = outside.sample();
  }

  @Override
  public java.util.Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams,
      IterationParams iterationParams, IterationResult result) {
    double outsideShare = OutsideCpu.perCore(iterationStart, outside.sample());
    double now = load();
    List<Result> results = new ArrayList<>();
    if (!Double.isNaN(outsideShare)) {
      results.add(new ScalarResult("outside.cpu", outsideShare, "share/core", AggregationPolicy.MAX));
    }
    double beforeRun = beforeRun();
    if (!Double.isNaN(beforeRun)) {
      results.add(new ScalarResult("load.beforeRun", beforeRun, "load", AggregationPolicy.MAX));
    }
    if (!Double.isNaN(now) && !Double.isNaN(forkStart)) {
      results.add(new ScalarResult("load.before", forkStart, "load", AggregationPolicy.MAX));
      results.add(new ScalarResult("load.after", now, "load", AggregationPolicy.MAX));
    }
    if (!results.isEmpty()) {
      results.add(new ScalarResult("load.cores", Runtime.getRuntime().availableProcessors(), "cores",
          AggregationPolicy.MAX));
    }
    return results;
  }

  /** The load average run.sh recorded before it started the run's processes; NaN if not given. */
  static double beforeRun() {
    String v = System.getenv("TANDEM_BENCH_LOAD_BEFORE_RUN");
    try {
      return v == null ? Double.NaN : Double.parseDouble(v.trim());
    } catch (NumberFormatException e) {
      return Double.NaN;
    }
  }

  static double load() {
    try {
      return Double.parseDouble(Files.readString(LOADAVG).trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return Double.NaN;
    }
  }
}
