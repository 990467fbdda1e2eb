package dev.tandem.benchmarks;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Statistic;
import io.micrometer.core.instrument.Timer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Totals of counters and timers over <em>every meter ever registered</em> in the watched registries,
 * including meters removed since: monotonic totals that survive a meter leaving its registry or being
 * registered again (a new object starting at 0, counted on top of the old one).
 *
 * <p>Why not {@code registry.find(name)}: a closing {@code RocksStore} removes its meters from the
 * registry, and JMH runs the trial teardown (which closes the regions) inside the last measured
 * iteration, before the profilers read; a reading through the registry then lost the store's whole
 * count and the iteration's difference came out negative (the quiet run of 2026-12-05T0818:
 * {@code count.store.claims} -2.4 per message in the last iteration of every fork). A removed meter
 * keeps its count, so holding on to it is enough. Meters are kept by identity: a re-registered meter
 * has the same {@link Meter.Id} (and so equals the old one) but counts from 0.
 */
final class MeterTotals {

  private final Set<Meter> meters = Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
  private final Set<MeterRegistry> watched = Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));

  /** Keeps every meter {@code registry} holds now and every meter registered in it from now on. */
  void watch(MeterRegistry registry) {
    if (!watched.add(registry)) {
      return;
    }
    registry.config().onMeterAdded(meters::add);
    meters.addAll(registry.getMeters());
  }

  /** True when no registry is watched (the raw pipelines). */
  boolean isEmpty() {
    return watched.isEmpty();
  }

  /** Forgets every registry and meter (tests). The listeners stay on their registries, unread. */
  void clear() {
    watched.clear();
    meters.clear();
  }

  /**
   * The sum of the {@link Statistic#COUNT} measurements of every kept meter named {@code name} whose
   * tags include {@code tags} (key, value, key, value, ...).
   */
  double count(String name, String... tags) {
    double n = 0;
    for (Meter m : matching(name, tags)) {
      for (io.micrometer.core.instrument.Measurement ms : m.measure()) {
        if (ms.getStatistic() == Statistic.COUNT) {
          n += ms.getValue();
        }
      }
    }
    return n;
  }

  /** {count, total nanoseconds} summed over every kept timer named {@code name}. */
  double[] timer(String name) {
    double count = 0;
    double nanos = 0;
    for (Meter m : matching(name)) {
      if (m instanceof Timer t) {
        count += t.count();
        nanos += t.totalTime(TimeUnit.NANOSECONDS);
      }
    }
    return new double[] {count, nanos};
  }

  private List<Meter> matching(String name, String... tags) {
    if (tags.length % 2 != 0) {
      throw new IllegalArgumentException("tags come in key, value pairs: " + List.of(tags));
    }
    List<Meter> snapshot;
    synchronized (meters) {
      snapshot = new ArrayList<>(meters);
    }
    List<Meter> out = new ArrayList<>();
    for (Meter m : snapshot) {
      Meter.Id id = m.getId();
      if (!id.getName().equals(name)) {
        continue;
      }
      boolean all = true;
      for (int i = 0; i < tags.length && all; i += 2) {
        all = tags[i + 1].equals(id.getTag(tags[i]));
      }
      if (all) {
        out.add(m);
      }
    }
    return out;
  }
}
