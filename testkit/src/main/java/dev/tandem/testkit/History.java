package dev.tandem.testkit;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A thread-safe recorder of what happened in a run — ids published, handler runs (region, instance,
 * epoch) and fault windows — and the checker over it: lost ids, extra handler runs (duplicates), and
 * which fault window each duplicate run falls in. Times are this JVM's {@link System#nanoTime()}.
 *
 * <p>A duplicate is every handler run of an id after its first; it "falls in" a fault window when the
 * id's first run or the duplicate run happened while the window was open (or within {@code grace} after
 * it closed — a takeover acts on what the fault left behind).
 */
public final class History {

  /** One handler run. */
  public record Run(String id, String region, String instance, long epoch, long atNanos) {}

  /** A named fault window: [startNanos, endNanos]; end is {@code Long.MAX_VALUE} while open. */
  public record FaultWindow(String name, long startNanos, long endNanos) {
    boolean covers(long t, long graceNanos) {
      return t >= startNanos && (endNanos == Long.MAX_VALUE || t <= endNanos + graceNanos);
    }
  }

  /** What the checker found. */
  public record Report(
      int published,
      int processed,
      Set<String> lost,
      int duplicates,
      Map<String, Integer> duplicatesByWindow,
      int duplicatesOutsideFaults,
      Map<String, Integer> runsByRegion) {

    @Override
    public String toString() {
      return "published=" + published + " processed=" + processed + " lost=" + lost.size()
          + " duplicates=" + duplicates + " byWindow=" + duplicatesByWindow
          + " outsideFaults=" + duplicatesOutsideFaults + " runsByRegion=" + runsByRegion;
    }
  }

  private final Set<String> published = ConcurrentHashMap.newKeySet();
  private final Map<String, List<Run>> runs = new ConcurrentHashMap<>();
  private final List<FaultWindow> windows = new CopyOnWriteArrayList<>();

  /** Records that {@code id} was published (acknowledged to the caller). */
  public void published(String id) {
    published.add(id);
  }

  /** Records a handler run. Call it from inside the handler. */
  public void handled(String id, String region, String instance, long epoch) {
    runs.computeIfAbsent(id, k -> new CopyOnWriteArrayList<>())
        .add(new Run(id, region, instance, epoch, System.nanoTime()));
  }

  /** Opens a fault window now; returns its index for {@link #endFault(int)}. */
  public synchronized int beginFault(String name) {
    windows.add(new FaultWindow(name, System.nanoTime(), Long.MAX_VALUE));
    return windows.size() - 1;
  }

  /** Closes the fault window opened as {@code index}. */
  public synchronized void endFault(int index) {
    FaultWindow w = windows.get(index);
    windows.set(index, new FaultWindow(w.name(), w.startNanos(), System.nanoTime()));
  }

  /** Number of distinct ids handled at least once. */
  public int distinctHandled() {
    return runs.size();
  }

  /** Handler runs of {@code id}, in order. */
  public List<Run> runsOf(String id) {
    return List.copyOf(runs.getOrDefault(id, List.of()));
  }

  /** Handler runs that started at or after {@code nanos} ({@link System#nanoTime()}), any id. */
  public List<Run> runsAfter(long nanos) {
    List<Run> out = new ArrayList<>();
    for (List<Run> rs : runs.values()) {
      for (Run r : rs) {
        if (r.atNanos() - nanos >= 0) {
          out.add(r);
        }
      }
    }
    out.sort((x, y) -> Long.compare(x.atNanos(), y.atNanos()));
    return out;
  }

  /** The fault windows, in the order they were opened. */
  public List<FaultWindow> windows() {
    return List.copyOf(windows);
  }

  /** Total handler runs. */
  public int totalRuns() {
    return runs.values().stream().mapToInt(List::size).sum();
  }

  /**
   * Every duplicate run — each run of an id after its first, by time — sorted by time. A run that
   * started at {@code t} is a duplicate caused around {@code t}: a soak attributes it to the round
   * that was running then (its first run may lie in an earlier round).
   */
  public List<Run> duplicateRuns() {
    List<Run> out = new ArrayList<>();
    for (List<Run> rs : runs.values()) {
      if (rs.size() < 2) {
        continue;
      }
      List<Run> sorted = new ArrayList<>(rs);
      sorted.sort((x, y) -> Long.compare(x.atNanos(), y.atNanos()));
      out.addAll(sorted.subList(1, sorted.size()));
    }
    out.sort((x, y) -> Long.compare(x.atNanos(), y.atNanos()));
    return out;
  }

  /**
   * Ids whose handler ran in more than one region: the cross-region duplicates a store detects once
   * each, when the completers from both regions meet (runs inside one region are not detected).
   */
  public Set<String> crossRegionIds() {
    Set<String> out = new java.util.TreeSet<>();
    runs.forEach((id, rs) -> {
      if (rs.stream().map(Run::region).distinct().count() > 1) {
        out.add(id);
      }
    });
    return out;
  }

  /** Checks the history with a grace of {@code graceNanos} after each window closes. */
  public Report check(long graceNanos) {
    // a run list is created just before its first run is added: an empty one is not a run yet
    Map<String, List<Run>> done = new LinkedHashMap<>();
    runs.forEach((id, rs) -> {
      if (!rs.isEmpty()) {
        done.put(id, List.copyOf(rs));
      }
    });
    Set<String> lost = new java.util.TreeSet<>(published);
    lost.removeAll(done.keySet());
    Map<String, Integer> byWindow = new LinkedHashMap<>();
    for (FaultWindow w : windows) {
      byWindow.put(w.name(), 0);
    }
    Map<String, Integer> byRegion = new java.util.TreeMap<>();
    int duplicates = 0;
    int outside = 0;
    for (List<Run> rs : done.values()) {
      List<Run> sorted = new ArrayList<>(rs);
      sorted.sort((x, y) -> Long.compare(x.atNanos(), y.atNanos()));
      for (Run r : sorted) {
        byRegion.merge(r.region(), 1, Integer::sum);
      }
      Run first = sorted.get(0);
      for (Run dup : sorted.subList(1, sorted.size())) {
        duplicates++;
        FaultWindow hit = null;
        for (FaultWindow w : windows) {
          if (w.covers(first.atNanos(), graceNanos) || w.covers(dup.atNanos(), graceNanos)) {
            hit = w;
            break;
          }
        }
        if (hit == null) {
          outside++;
        } else {
          byWindow.merge(hit.name(), 1, Integer::sum);
        }
      }
    }
    return new Report(
        published.size(),
        done.size(),
        Collections.unmodifiableSet(lost),
        duplicates,
        Collections.unmodifiableMap(byWindow),
        outside,
        Collections.unmodifiableMap(byRegion));
  }
}
