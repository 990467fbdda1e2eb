package dev.tandem.benchmarks;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * The follower's added latency of {@link EndToEndBenchmark}'s Tandem pipeline, split per message into
 * the stages of the owner's path, so that the stage behind its p99 can be named (issue 20: the goal
 * "follower p99 ≤ replication p99 + 10 ms"). Every point is a {@code System.nanoTime()} stamp taken
 * in the benchmark's JVM (the producer, both regions' consumers and stores run there; only the
 * brokers run in the regions JVM, and nothing is stamped there), through hooks the benchmark already
 * has, so the library runs unchanged:
 *
 * <ol>
 *   <li>{@code poll[r]}: the copy returned by region r's poll ({@link EndToEndBenchmark.ReceiveStamp},
 *       a consumer interceptor: Kafka calls it inside {@code poll}, before the Tandem loop sees the
 *       records), in both regions;
 *   <li>{@code claimed}: the owner's CLAIMED record written in its store (a {@code StoreListener},
 *       told after RocksDB accepted the write, on the writing thread: the poll's {@code claimAll});
 *   <li>{@code handler}: the owner's handler starts (the benchmark's handler);
 *   <li>{@code completed}: the owner's COMPLETED written in its store (the store listener; the
 *       complete follows the handler on the loop thread);
 *   <li>{@code applied}: that COMPLETED applied in the follower's store (the store listener, origin
 *       REMOTE).
 * </ol>
 *
 * <p>The stages ({@link #STAGES}), whose sum is exactly the follower's added latency of the message,
 * {@code applied − poll[follower]}:
 *
 * <ul>
 *   <li>{@code lead}: {@code poll[owner] − poll[follower]}, signed: how much later the owner's loop
 *       got the message than the follower's (its previous turn — the claims wait, handlers,
 *       completes, the held copies' release, the offset commit — or a fetch that came later);
 *       negative when the owner polled it first;
 *   <li>{@code claim}: owner poll → its claim written (the turn's routing of the poll's partitions,
 *       envelope checks and {@code claimAll});
 *   <li>{@code barrier}: claim written → handler start (the wait until the poll's claims are in the
 *       own changelog, plus the handlers and completes of the poll's earlier records);
 *   <li>{@code complete}: handler start → COMPLETED written (the benchmark's handler only stamps);
 *   <li>{@code replication}: COMPLETED written → applied in the follower's store (changelog send,
 *       brokers, the follower's changelog reader and apply).
 * </ul>
 *
 * <p>Only the copies the follower held (polled before the completion applied: the ones with an added
 * latency above 0) are split; a copy whose completion was there first adds nothing, and its
 * follower sample is 0. Percentiles of the stages do not add up (the p99 of a sum is not the sum of
 * p99s), so the split also reports, per stage, its mean over the <b>tail</b>: the held copies whose
 * added latency is at or above the iteration's follower p99 (over all samples, the figure of the
 * goal). Those means do add up to the tail's mean latency, and the largest is the stage behind the
 * p99.
 */
final class FollowerStages {

  /** Stage names, in path order (secondary results {@code split.<stage>.p50/p99/tail}). */
  static final List<String> STAGES = List.of("lead", "claim", "barrier", "complete", "replication");

  private static final int CLAIMED = 2;
  private static final int HANDLER = 3;
  private static final int COMPLETED = 4;

  /** On only for {@code EndToEndBenchmark.openLoop} with the Tandem pipeline (the profiler's method). */
  static volatile boolean enabled;

  /** The points of one message seen so far (0 = not yet). */
  static final class Trace {
    /** poll[0], poll[1], claimed, handler, completed. */
    final AtomicLongArray at = new AtomicLongArray(5);
    /** Region index of the first claim written (the owner), -1 until then. */
    final AtomicInteger owner = new AtomicInteger(-1);
  }

  private static final Map<String, Trace> TRACES = new ConcurrentHashMap<>();
  private static final List<long[]> SPLITS = new ArrayList<>();

  private FollowerStages() {}

  private static void first(String id, int point, long now) {
    TRACES.computeIfAbsent(id, k -> new Trace()).at.compareAndSet(point, 0, now);
  }

  /** Region {@code region}'s poll returned the copy of {@code id}. */
  static void polled(int region, String id, long now) {
    first(id, region, now);
  }

  /** Region {@code region} wrote a claim of {@code id} (the first claimant is the owner). */
  static void claimWritten(int region, String id, long now) {
    Trace t = TRACES.computeIfAbsent(id, k -> new Trace());
    t.owner.compareAndSet(-1, region);
    t.at.compareAndSet(CLAIMED, 0, now);
  }

  /** The owner's handler of {@code id} started. */
  static void handlerStarted(String id, long now) {
    first(id, HANDLER, now);
  }

  /** The owner wrote its COMPLETED of {@code id}. */
  static void completedWritten(String id, long now) {
    first(id, COMPLETED, now);
  }

  /**
   * A remote COMPLETED of {@code id} was applied in region {@code region}'s store: if that region is
   * the follower and had polled its copy, the message's stages are kept; the trace ends either way.
   */
  static void applied(int region, String id, long now) {
    Trace t = TRACES.get(id);
    if (t == null) {
      return;
    }
    int owner = t.owner.get();
    if (owner < 0 || owner == region) {
      return; // not the follower's view (or no claim seen)
    }
    TRACES.remove(id);
    long[] s = stages(t.at.get(region), t.at.get(owner), t.at.get(CLAIMED), t.at.get(HANDLER),
        t.at.get(COMPLETED), now);
    if (s != null) {
      synchronized (SPLITS) {
        SPLITS.add(s);
      }
    }
  }

  /**
   * The stages of one message ({@link #STAGES} order), in nanoseconds; null when a point is missing
   * (0) or the follower's copy was polled only after the completion applied (nothing held).
   */
  static long[] stages(long followerPoll, long ownerPoll, long claimed, long handler, long completed,
      long applied) {
    if (followerPoll == 0 || ownerPoll == 0 || claimed == 0 || handler == 0 || completed == 0
        || applied - followerPoll < 0) {
      return null;
    }
    return new long[] {ownerPoll - followerPoll, claimed - ownerPoll, handler - claimed,
        completed - handler, applied - completed};
  }

  /** The split messages since the last drain (or {@link #clear}), and forgets them. */
  static long[][] drain() {
    synchronized (SPLITS) {
      long[][] out = SPLITS.toArray(new long[0][]);
      SPLITS.clear();
      return out;
    }
  }

  /** Forgets the split messages (an iteration's start) — the traces in flight stay. */
  static void clear() {
    synchronized (SPLITS) {
      SPLITS.clear();
    }
  }

  /** Forgets everything (the trial's end). */
  static void reset() {
    enabled = false;
    TRACES.clear();
    clear();
  }

  /**
   * Secondary results of one iteration's split messages, milliseconds: per stage and for their sum
   * ({@code follower}, the held copies' added latency) {@code split.<name>.p50} and {@code .p99},
   * and {@code split.<name>.tail}, the mean over the messages whose sum is at least {@code tailFrom}
   * (the iteration's follower p99 over all samples; when no split message reaches it, the split's
   * own p99); {@code split.samples} and {@code split.tail.samples}. Nothing without samples.
   */
  static void results(List<Result> out, long[][] splits, long tailFrom) {
    int n = splits.length;
    if (n == 0) {
      return;
    }
    int k = STAGES.size();
    long[] sums = new long[n];
    for (int i = 0; i < n; i++) {
      for (int s = 0; s < k; s++) {
        sums[i] += splits[i][s];
      }
    }
    long[] sortedSums = sums.clone();
    Arrays.sort(sortedSums);
    long from = tailFrom;
    if (sortedSums[n - 1] < from) {
      from = EndToEndLatencyProfiler.pct(sortedSums, 0.99);
    }
    double[] tail = new double[k + 1];
    int tailCount = 0;
    for (int i = 0; i < n; i++) {
      if (sums[i] >= from) {
        tailCount++;
        for (int s = 0; s < k; s++) {
          tail[s] += splits[i][s];
        }
        tail[k] += sums[i];
      }
    }
    for (int s = 0; s <= k; s++) {
      long[] v = new long[n];
      for (int i = 0; i < n; i++) {
        v[i] = s < k ? splits[i][s] : sums[i];
      }
      Arrays.sort(v);
      String name = "split." + (s < k ? STAGES.get(s) : "follower");
      ms(out, name + ".p50", EndToEndLatencyProfiler.pct(v, 0.50));
      ms(out, name + ".p99", EndToEndLatencyProfiler.pct(v, 0.99));
      ms(out, name + ".tail", tail[s] / tailCount);
    }
    out.add(new ScalarResult("split.samples", n, "#", AggregationPolicy.AVG));
    out.add(new ScalarResult("split.tail.samples", tailCount, "#", AggregationPolicy.AVG));
  }

  private static void ms(List<Result> out, String name, double nanos) {
    out.add(new ScalarResult(name, nanos / 1e6, "ms", AggregationPolicy.AVG));
  }
}
