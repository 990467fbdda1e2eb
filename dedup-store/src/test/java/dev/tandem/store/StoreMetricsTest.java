package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static dev.tandem.store.Stores.A;
import static dev.tandem.store.Stores.B;
import static dev.tandem.store.Stores.LEASE;
import static dev.tandem.store.Stores.START;
import static dev.tandem.store.Stores.digest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every path is counted, tagged with the region; meters go away on close. */
class StoreMetricsTest {

  @TempDir Path dirA;
  @TempDir Path dirB;
  final ManualClock clock = new ManualClock(START);
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  double claims(String outcome) {
    return registry.get(StoreMetrics.CLAIMS).tag("region", "region-a").tag("outcome", outcome)
        .counter().count();
  }

  double count(String name) {
    return registry.get(name).tag("region", "region-a").counter().count();
  }

  @Test
  void claimsByOutcomeAndTheOtherPathsAreCounted() {
    IdempotencyStore a = Stores.builder(dirA, A, "a1", clock).meterRegistry(registry)
        .maxAttempts(1).build();
    try (IdempotencyStore b = Stores.open(dirB, B, "b1", clock)) {
      a.claim("m1", 0, digest("p"), 0, LEASE); // acquired
      a.claim("m1", 0, digest("p"), 0, LEASE); // in progress
      a.claim("m1", 0, digest("q"), 0, LEASE); // conflict
      a.claim("m2", 0, digest("p"), 0, LEASE);
      a.complete("m2", 0, null);
      a.claim("m2", 0, digest("p"), 0, LEASE); // already completed
      a.claim("m3", 0, digest("p"), 0, LEASE);
      a.release("m3", 0); // maxAttempts 1: dead-lettered
      a.claim("m3", 0, digest("p"), 0, LEASE); // dead lettered
      a.redrive("m3", 0);
      a.claim("m4", 0, digest("p"), 0, LEASE);
      b.claim("m4", 0, digest("p"), 0, LEASE);
      a.complete("m4", 0, null);
      ReplicaStore.of(a).applyRemote(b.complete("m4", 0, null)); // detected duplicate
    }
    assertEquals(4, claims("acquired"));
    assertEquals(1, claims("in_progress"));
    assertEquals(1, claims("conflict"));
    assertEquals(1, claims("already_completed"));
    assertEquals(1, claims("dead_lettered"));
    assertEquals(1, count(StoreMetrics.CONFLICTS));
    assertEquals(2, count(StoreMetrics.COMPLETES));
    assertEquals(1, count(StoreMetrics.DEAD_LETTERS));
    assertEquals(0, count(StoreMetrics.RELEASES));
    assertEquals(1, count(StoreMetrics.REDRIVES));
    assertEquals(1, registry.get(StoreMetrics.DETECTED_DUPLICATES).tag("region", "region-a")
        .gauge().value());
    assertEquals(1, registry.get(StoreMetrics.REMOTE_APPLIED).tag("outcome", "changed")
        .counter().count());
    assertEquals(8, registry.get(StoreMetrics.CLAIM_LATENCY).timer().count());
    assertTrue(registry.get(StoreMetrics.SIZE).gauge().value() >= 4);
    a.close();
    assertTrue(registry.find(StoreMetrics.CLAIMS).meters().isEmpty(), "meters removed on close");
    assertTrue(registry.find(StoreMetrics.SIZE).meters().isEmpty());
  }
}
