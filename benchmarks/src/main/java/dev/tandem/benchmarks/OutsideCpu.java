package dev.tandem.benchmarks;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The CPU that processes <em>outside</em> a benchmark run used, read from Linux's {@code /proc}: the
 * figure that says whether the machine was quiet. The 1-minute load average cannot say it for a
 * broker benchmark: the run's own regions JVM, JMH host and fork push it to 3.2-4.6 on 2 cores on an
 * otherwise idle machine (quiet run of 2026-12-05), so a rule on the load average refuses every row
 * that runs Kafka.
 *
 * <p>The run is a process tree: every descendant of a root process, the root included. The root is
 * {@code run.sh}'s shell when it exports {@code TANDEM_BENCH_RUN_PID} (so the regions JVM, Redis, the
 * JMH host and all its forks are the run), else the JMH host JVM (this fork's parent: the fork and any
 * regions JVM the fork started itself). Every other user-space process is outside. A sample sums, per
 * outside process, {@code utime + stime + cutime + cstime} (fields 14-17 of {@code /proc/<pid>/stat},
 * clock ticks); {@code cutime/cstime} carry the CPU of children that exited and were reaped, so a
 * short-lived outside process (a compiler, a test fork) is still counted, by its parent. Kernel
 * threads (kthreadd, pid 2, and its children) are left out: they do work for whoever makes network or
 * disk traffic, the run included, and belong to neither side. The machine's capacity over a window is
 * the change of all CPU time in {@code /proc/stat}'s {@code cpu} line (every column up to steal, idle
 * included, the same clock ticks), so the result is a unit-free share: {@link #perCore} = outside CPU /
 * machine capacity, i.e. outside CPU-seconds per core per second (0 = nothing else ran, 1 = every core
 * was busy with other work).
 *
 * <p>Conservative where it errs: an outside process that exits inside the window adds its whole CPU
 * (not only the window's part) to its parent's {@code cutime}; a process started inside the window
 * counts from zero. Processes whose {@code stat} cannot be read (gone, or hidden by {@code hidepid})
 * count as nothing. Where {@code /proc} does not exist (not Linux) {@link #sample} returns null.
 */
public final class OutsideCpu {

  /** One reading: the outside processes' CPU ticks by pid, and the machine's total CPU ticks. */
  public record Sample(Map<Integer, Long> outsideTicks, long totalTicks) {}

  private final Path proc;
  private final int root;

  /**
   * @param proc the proc file system's root ({@code /proc}; a fixture directory in tests)
   * @param root the pid whose process tree is the benchmark run
   */
  public OutsideCpu(Path proc, int root) {
    this.proc = proc;
    this.root = root;
  }

  /** The run's root as described in the class Javadoc: {@code TANDEM_BENCH_RUN_PID}, else this JVM's parent, else this JVM. */
  public static OutsideCpu forThisRun() {
    String env = System.getenv("TANDEM_BENCH_RUN_PID");
    int root;
    if (env != null && env.matches("\\d+")) {
      root = Integer.parseInt(env);
    } else {
      ProcessHandle self = ProcessHandle.current();
      root = (int) self.parent().map(ProcessHandle::pid).orElse(self.pid()).longValue();
    }
    return new OutsideCpu(Path.of("/proc"), root);
  }

  /** Reads /proc now; null when it cannot be read (not Linux). */
  public Sample sample() {
    long total;
    try {
      total = totalTicks(Files.readString(proc.resolve("stat")));
    } catch (IOException | RuntimeException e) {
      return null;
    }
    Map<Integer, long[]> stats = new HashMap<>(); // pid -> {ppid, ticks}
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(proc, "[0-9]*")) {
      for (Path dir : dirs) {
        String name = dir.getFileName().toString();
        if (!name.chars().allMatch(Character::isDigit)) {
          continue;
        }
        try {
          long[] parsed = parseStat(Files.readString(dir.resolve("stat")));
          if (parsed != null) {
            stats.put(Integer.parseInt(name), parsed);
          }
        } catch (IOException | RuntimeException gone) {
          // the process exited between the listing and the read, or is hidden: counts as nothing
        }
      }
    } catch (IOException e) {
      return null;
    }
    Set<Integer> excluded = descendants(stats, root);
    excluded.addAll(descendants(stats, 2)); // kthreadd and the kernel threads
    Map<Integer, Long> outside = new HashMap<>();
    for (Map.Entry<Integer, long[]> e : stats.entrySet()) {
      if (!excluded.contains(e.getKey()) && e.getKey() != 0) {
        outside.put(e.getKey(), e.getValue()[1]);
      }
    }
    return new Sample(outside, total);
  }

  /**
   * Outside CPU between two samples as a share of the machine's capacity (per core, 0..1; NaN when
   * either sample is missing or no time passed). A process in {@code after} only counts from zero.
   */
  public static double perCore(Sample before, Sample after) {
    if (before == null || after == null || after.totalTicks() <= before.totalTicks()) {
      return Double.NaN;
    }
    long outside = 0;
    for (Map.Entry<Integer, Long> e : after.outsideTicks().entrySet()) {
      long was = before.outsideTicks().getOrDefault(e.getKey(), 0L);
      // a pid reused by a new process can read lower than before: count the new one from zero
      outside += e.getValue() >= was ? e.getValue() - was : e.getValue();
    }
    return Math.min(1.0, (double) outside / (after.totalTicks() - before.totalTicks()));
  }

  /** The sum of the first eight columns (user..steal) of /proc/stat's aggregate "cpu" line. */
  static long totalTicks(String procStat) {
    for (String line : procStat.split("\n")) {
      if (line.startsWith("cpu ")) {
        String[] f = line.trim().split("\\s+");
        long sum = 0;
        for (int i = 1; i <= Math.min(8, f.length - 1); i++) { // guest columns are inside user already
          sum += Long.parseLong(f[i]);
        }
        return sum;
      }
    }
    throw new IllegalArgumentException("no aggregate cpu line in /proc/stat");
  }

  /**
   * {ppid, utime+stime+cutime+cstime} of one /proc/[pid]/stat line, or null if malformed. The command
   * name (field 2) is in parentheses and may hold spaces or ')' itself: fields are counted after the
   * LAST ')'.
   */
  static long[] parseStat(String stat) {
    int close = stat.lastIndexOf(')');
    if (close < 0) {
      return null;
    }
    String[] f = stat.substring(close + 1).trim().split("\\s+");
    // f[0] = field 3 (state), f[1] = field 4 (ppid), f[11..14] = fields 14..17
    if (f.length < 15) {
      return null;
    }
    long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]) + Long.parseLong(f[13]) + Long.parseLong(f[14]);
    return new long[] {Long.parseLong(f[1]), ticks};
  }

  private static Set<Integer> descendants(Map<Integer, long[]> stats, int root) {
    Map<Integer, Set<Integer>> children = new HashMap<>();
    for (Map.Entry<Integer, long[]> e : stats.entrySet()) {
      children.computeIfAbsent((int) e.getValue()[0], k -> new HashSet<>()).add(e.getKey());
    }
    Set<Integer> tree = new HashSet<>();
    Deque<Integer> todo = new ArrayDeque<>();
    todo.add(root);
    while (!todo.isEmpty()) {
      int pid = todo.pop();
      if (tree.add(pid)) {
        todo.addAll(children.getOrDefault(pid, Set.of()));
      }
    }
    return tree;
  }
}
