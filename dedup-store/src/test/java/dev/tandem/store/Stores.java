package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/** Test helpers: stores on a temp directory with a manual clock. */
final class Stores {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static final long START = 1_764_000_000_000L; // 2025-11-24, a fixed wall clock
  static final Duration LEASE = Duration.ofSeconds(30);

  private Stores() {}

  static RocksIdempotencyStore.Builder builder(Path dir, RegionId region, String instance,
      ManualClock clock) {
    return RocksIdempotencyStore.builder()
        .region(region)
        .instance(instance)
        .directory(dir)
        .clock(clock)
        .meterRegistry(new SimpleMeterRegistry());
  }

  static IdempotencyStore open(Path dir, RegionId region, String instance, ManualClock clock) {
    return builder(dir, region, instance, clock).build();
  }

  static PayloadDigest digest(String payload) {
    return PayloadDigest.of(payload.getBytes(StandardCharsets.UTF_8));
  }
}
