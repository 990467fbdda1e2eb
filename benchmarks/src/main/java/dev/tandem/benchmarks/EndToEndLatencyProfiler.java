package dev.tandem.benchmarks;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
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
 * replication.p50/p99}, plus the sample counts, and the follower's stage split {@code split.*}
 * ({@link FollowerStages#results}) (those for {@code EndToEndBenchmark.openLoop} only);
 * for both methods and every pipeline, the counts and CPU per message of the iteration's window
 * ({@link #window}). Other benchmarks get nothing. JMH runs it inside the fork: {@code -prof
 * dev.tandem.benchmarks.EndToEndLatencyProfiler} ({@code benchmarks/run.sh} adds it).
 *
 * <p>Why a profiler and not {@code @AuxCounters}: JMH sums {@code EVENTS} counters over iterations
 * and forks and normalises {@code OPERATIONS} counters by time; a percentile is neither.
 */
public final class EndToEndLatencyProfiler implements InternalProfiler {

  @Override
  public String getDescription() {
    return "Tandem end-to-end latency percentiles (EndToEndBenchmark.openLoop), work and CPU per message"
        + " (both methods, every pipeline)";
  }

  /** Clock ticks per second of {@code /proc/<pid>/stat} ({@link ProcessCpu}). */
  private static final double HZ = ProcessCpu.hz(System.getenv(ProcessCpu.ENV_HZ));

  @Override
  public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
    EndToEndBenchmark.windowStart = null;
    EndToEndBenchmark.windowEnd = null;
    // the samples of this iteration only (the warm-up's or the previous iteration's are dropped)
    EndToEndBenchmark.E2E.clear();
    EndToEndBenchmark.FOLLOWER.clear();
    EndToEndBenchmark.REPLICATION.clear();
    FollowerStages.clear();
  }

  @Override
  public Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams,
      IterationParams iterationParams, IterationResult result) {
    List<Result> out = new ArrayList<>();
    if (benchmarkParams.getBenchmark().contains("EndToEndBenchmark.")) {
      window(out, EndToEndBenchmark.windowStart, EndToEndBenchmark.windowEnd, HZ);
    }
    if (!benchmarkParams.getBenchmark().endsWith("EndToEndBenchmark.openLoop")) {
      return out;
    }
    add(out, "e2e", EndToEndBenchmark.E2E.drainSorted());
    long[] follower = EndToEndBenchmark.FOLLOWER.drainSorted();
    add(out, "follower", follower);
    add(out, "replication", EndToEndBenchmark.REPLICATION.drainSorted());
    // the stage split of the held copies; its tail: at or above the follower p99 just reported
    FollowerStages.results(out, FollowerStages.drain(),
        follower.length == 0 ? Long.MAX_VALUE : pct(follower, 0.99));
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

  /**
   * The figures of one iteration's window (its setup to its teardown, see {@link
   * EndToEndBenchmark.Window}): the Tandem pipeline's counts per message ({@link #perMessage}) and,
   * for every pipeline, the CPU per message done of the brokers and of the clients ({@link
   * ProcessCpu#perMessage}: {@code cpu.brokers.us.per.msg}, {@code cpu.clients.us.per.msg}, {@code
   * cpu.total.us.per.msg}, {@code cpu.cores.used}). Nothing when the window is incomplete.
   */
  static void window(List<Result> out, EndToEndBenchmark.Window start, EndToEndBenchmark.Window end,
      double hz) {
    if (start == null || end == null) {
      return;
    }
    perMessage(out, start.counts(), end.counts());
    ProcessCpu.perMessage(start.cpu(), end.cpu(), end.done() - start.done(), hz).forEach((name, v) ->
        out.add(new ScalarResult(name, v, name.endsWith(".per.msg") ? "us/msg" : "cores",
            AggregationPolicy.AVG)));
  }

  /**
   * The Tandem pipeline's work per message handled in this iteration (both regions; counts, which
   * the machine's load does not move): {@code count.changelog.records} local changes shipped to the
   * changelog (claim and COMPLETED: 2 by design; leases and heartbeats not counted), {@code
   * count.publisher.copies} their copies sent to the regions (every publisher in the regions'
   * registries, i.e. the changelog's: 4 by design, each change to both regions), {@code
   * count.remote.applied} remote changelog records applied to a store, {@code
   * count.store.claims/completes},
   * {@code count.follower.acks} (1 by design), {@code count.follower.held} (share of follower copies
   * that waited for the owner's completion) and {@code count.follower.hold.ms} (their mean hold), and
   * per poll of the Tandem consumers: {@code count.polls} (non-empty polls per message), {@code
   * count.records.per.poll}, {@code count.partitions.per.poll} (each owned partition batch waits once
   * for its claims in the own changelog; each followed one is held), {@code count.commits} (offset
   * commits per message).
   */
  static void perMessage(List<Result> out, Map<String, Double> before, Map<String, Double> after) {
    if (before.isEmpty() || after.isEmpty()) {
      return;
    }
    java.util.function.ToDoubleFunction<String> d = k -> after.getOrDefault(k, 0.0) - before.getOrDefault(k, 0.0);
    double messages = d.applyAsDouble("handled");
    if (messages <= 0) {
      return;
    }
    double polls = d.applyAsDouble("polls");
    double holds = d.applyAsDouble("follower.holds");
    count(out, "changelog.records", d.applyAsDouble("changelog.sent") / messages);
    count(out, "remote.applied", d.applyAsDouble("remote.applied") / messages);
    count(out, "store.claims", d.applyAsDouble("store.claims") / messages);
    count(out, "store.completes", d.applyAsDouble("store.completes") / messages);
    count(out, "publisher.copies", d.applyAsDouble("publisher.sent") / messages);
    count(out, "follower.acks", d.applyAsDouble("follower.acks") / messages);
    count(out, "follower.held", holds / messages);
    if (holds > 0) {
      count(out, "follower.hold.ms", d.applyAsDouble("follower.hold.nanos") / holds / 1e6);
    }
    count(out, "polls", polls / messages);
    count(out, "commits", d.applyAsDouble("commits") / messages);
    if (polls > 0) {
      count(out, "records.per.poll", d.applyAsDouble("polled.records") / polls);
      count(out, "partitions.per.poll", d.applyAsDouble("partition.batches") / polls);
    }
  }

  private static void count(List<Result> out, String name, double value) {
    out.add(new ScalarResult("count." + name, value, "#", AggregationPolicy.AVG));
  }

  static long pct(long[] sorted, double p) {
    return sorted[Math.max(0, Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1))];
  }
}
