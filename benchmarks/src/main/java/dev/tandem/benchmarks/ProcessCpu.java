package dev.tandem.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The CPU of the two sides of an end-to-end benchmark, read from Linux's {@code /proc}: the
 * <em>brokers</em> (the regions JVM, {@code dev.tandem.testkit.RegionsMain}: both regions' Kafka
 * brokers) and the <em>clients</em> (this JMH fork: producers, consumers, Tandem's stores and
 * changelogs, the handler). On this rig both share the machine's cores, so when the cores are
 * saturated a pipeline's throughput is bounded by 1 / (its total CPU per message): the ratio of two
 * pipelines' totals bounds their throughput ratio ({@code ratios.py} prints it as the ceiling).
 *
 * <p>A sample is {@code utime + stime} (fields 14-15 of {@code /proc/<pid>/stat}, clock ticks) of the
 * regions JVM and of {@code /proc/self}; {@code cutime/cstime} are left out (neither JVM reaps
 * children during a run). Both are part of the run's process tree: {@link OutsideCpu} does not count
 * them as outside load, and nothing here changes that. The regions JVM is found by
 * {@value #ENV_PID} ({@code run.sh} exports the pid of the one it starts), else as this fork's own
 * child running {@code RegionsMain} (a fork run without {@code run.sh} starts its own); unknown, the
 * broker side is not recorded. Ticks become seconds by {@value #ENV_HZ} ({@code run.sh} exports
 * {@code getconf CLK_TCK}), else 100, Linux's USER_HZ on every common architecture.
 */
final class ProcessCpu {

  /** Environment variable: the pid of the regions JVM that {@code run.sh} started. */
  static final String ENV_PID = "TANDEM_BENCH_REGIONS_PID";
  /** Environment variable: clock ticks per second of {@code /proc/<pid>/stat}. */
  static final String ENV_HZ = "TANDEM_BENCH_CLK_TCK";

  /** CPU ticks of the brokers (-1: unknown) and of the clients (-1: unknown), and when (nanoTime). */
  record Sample(long brokerTicks, long clientTicks, long nanos) {}

  private final Path proc;
  private final long brokersPid;

  /**
   * @param proc the proc file system's root ({@code /proc}; a fixture directory in tests)
   * @param brokersPid the regions JVM's pid, or -1 when unknown
   */
  ProcessCpu(Path proc, long brokersPid) {
    this.proc = proc;
    this.brokersPid = brokersPid;
  }

  /** The regions JVM as described in the class Javadoc (env, else this fork's RegionsMain child). */
  static ProcessCpu forThisFork() {
    return new ProcessCpu(Path.of("/proc"), regionsPid(System.getenv(ENV_PID)));
  }

  static long regionsPid(String env) {
    if (env != null && env.trim().matches("\\d+")) {
      return Long.parseLong(env.trim());
    }
    return ProcessHandle.current().children()
        .filter(p -> p.info().commandLine().map(c -> c.contains("RegionsMain")).orElse(false))
        .mapToLong(ProcessHandle::pid).findFirst().orElse(-1);
  }

  static double hz(String env) {
    try {
      double hz = env == null ? 100 : Double.parseDouble(env.trim());
      return hz > 0 ? hz : 100;
    } catch (NumberFormatException e) {
      return 100;
    }
  }

  /** Reads both processes now (a side that cannot be read is -1). */
  Sample sample() {
    long brokers = brokersPid < 0 ? -1 : ticks(proc.resolve(Long.toString(brokersPid)).resolve("stat"));
    return new Sample(brokers, ticks(proc.resolve("self").resolve("stat")), System.nanoTime());
  }

  private static long ticks(Path stat) {
    try {
      return parseTicks(Files.readString(stat));
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** {@code utime + stime} of one {@code /proc/<pid>/stat} line (fields counted after the last ')'). */
  static long parseTicks(String stat) {
    int close = stat.lastIndexOf(')');
    String[] f = stat.substring(close + 1).trim().split("\\s+");
    // f[0] = field 3 (state), f[11] = field 14 (utime), f[12] = field 15 (stime)
    if (close < 0 || f.length < 13) {
      throw new IllegalArgumentException("not a /proc/<pid>/stat line: " + stat);
    }
    return Long.parseLong(f[11]) + Long.parseLong(f[12]);
  }

  /**
   * The CPU of one window per message: {@code cpu.brokers.us.per.msg}, {@code cpu.clients.us.per.msg}
   * and {@code cpu.total.us.per.msg} (microseconds of CPU per message done in the window), and
   * {@code cpu.cores.used} (both sides' CPU-seconds per second of the window: how many of the cores
   * the run kept busy; near the core count the pipeline is CPU-bound). A side not read in both
   * samples is left out, and the total and cores with it; nothing without messages or time.
   */
  static Map<String, Double> perMessage(Sample before, Sample after, double messages, double hz) {
    Map<String, Double> out = new LinkedHashMap<>();
    if (before == null || after == null || messages <= 0 || after.nanos() <= before.nanos()) {
      return out;
    }
    double brokers = seconds(before.brokerTicks(), after.brokerTicks(), hz);
    double clients = seconds(before.clientTicks(), after.clientTicks(), hz);
    if (!Double.isNaN(brokers)) {
      out.put("cpu.brokers.us.per.msg", brokers * 1e6 / messages);
    }
    if (!Double.isNaN(clients)) {
      out.put("cpu.clients.us.per.msg", clients * 1e6 / messages);
    }
    if (!Double.isNaN(brokers) && !Double.isNaN(clients)) {
      out.put("cpu.total.us.per.msg", (brokers + clients) * 1e6 / messages);
      out.put("cpu.cores.used", (brokers + clients) / ((after.nanos() - before.nanos()) / 1e9));
    }
    return out;
  }

  private static double seconds(long before, long after, double hz) {
    return before < 0 || after < before ? Double.NaN : (after - before) / hz;
  }
}
