package dev.tandem.consumer.kafka.internal;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Objects;
import org.apache.kafka.clients.consumer.Consumer;

/**
 * What every part of the poll loop shares: the Kafka consumer (used by the loop thread only — Kafka
 * consumers are not thread-safe, so every part that touches it runs on that thread), this region,
 * the clock and the meter registry.
 */
public record LoopContext(Consumer<byte[], byte[]> consumer, RegionId region, TandemClock clock,
    MeterRegistry meters) {

  public LoopContext {
    Objects.requireNonNull(consumer, "consumer");
    Objects.requireNonNull(region, "region");
    Objects.requireNonNull(clock, "clock");
    Objects.requireNonNull(meters, "meters");
  }

  static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }
}
