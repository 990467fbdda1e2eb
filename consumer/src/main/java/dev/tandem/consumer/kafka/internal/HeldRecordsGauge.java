package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * The {@code tandem.consumer.follower.held} gauge: one per registry, region and topic, reporting the
 * sum of what the running poll loops of that topic hold. Micrometer keeps one meter per name and
 * tags, and a second registration returns the first meter: a gauge bound to one loop's count would
 * report only the first loop of the topic made in the registry (a region object makes several), and
 * that loop's last count after it stopped. So each loop adds its count as a source when it is built
 * (the gauge exists from then, as before) and removes it when it stops or is closed.
 */
public final class HeldRecordsGauge {

  /** The sources of one gauge (held strongly by the gauge: it lives as long as the registry's). */
  private static final class Sources {
    final Set<LongSupplier> running = ConcurrentHashMap.newKeySet();

    double sum() {
      long n = 0;
      for (LongSupplier s : running) {
        n += s.getAsLong();
      }
      return n;
    }
  }

  /** Per registry (weakly: a registry dropped by the application goes), per region and topic. */
  private static final Map<MeterRegistry, Map<String, Sources>> GAUGES = new WeakHashMap<>();

  private final Sources sources;
  private final LongSupplier source;

  private HeldRecordsGauge(Sources sources, LongSupplier source) {
    this.sources = sources;
    this.source = source;
  }

  /**
   * Adds {@code held} (one loop's count) to the gauge of {@code region} and {@code topic} in {@code
   * meters}, registering the gauge with the first loop; {@link #remove()} when the loop stops.
   */
  public static HeldRecordsGauge add(MeterRegistry meters, RegionId region, String topic,
      LongSupplier held) {
    Sources s;
    synchronized (GAUGES) {
      s = GAUGES.computeIfAbsent(meters, k -> new HashMap<>())
          .computeIfAbsent(region.name() + '\u0000' + topic, k -> {
            Sources made = new Sources();
            Gauge.builder(ConsumerMeterNames.FOLLOWER_HELD, made, Sources::sum)
                .tag("region", region.name()).tag("topic", topic)
                .description("records a follower holds until the owner's completion replicates")
                .strongReference(true)
                .register(meters);
            return made;
          });
    }
    s.running.add(held);
    return new HeldRecordsGauge(s, held);
  }

  /** The loop stopped: its count no longer adds to the gauge. Idempotent. */
  public void remove() {
    sources.running.remove(source);
  }
}
