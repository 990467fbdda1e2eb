package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.List;

/**
 * What every part of one region's shard ownership shares (not API): this region, every region
 * sorted (the initial owner of shard {@code s} is {@code regions[s % n]}), the replicated store that
 * holds the leases and its replication log, the takeover policy, the monotonic clock, the meter
 * registry and the bound of each changelog catch-up.
 */
public record OwnershipContext(RegionId self, List<RegionId> regions, IdempotencyStore store,
    ReplicationLog replication, OwnershipPolicy policy, TandemClock clock, MeterRegistry registry,
    Duration catchUpTimeout) {

  /**
   * A context; {@code regions} is sorted and de-duplicated here.
   *
   * @throws IllegalArgumentException when {@code regions} does not include {@code self}
   */
  public OwnershipContext {
    regions = regions.stream().sorted().distinct().toList();
    if (!regions.contains(self)) {
      throw new IllegalArgumentException("regions " + regions + " must include this region " + self);
    }
  }
}
