package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.ReplicationLag;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.Gauge;

/**
 * The gauges a region's ownership shows besides those of its parts (not API): the cross-region
 * duplicates the store detected, and the replication lag from each peer as this consumer sees it.
 */
public final class OwnershipGauges {

  private OwnershipGauges() {}

  /** Registers the gauges of {@code ctx}'s region. */
  public static void register(OwnershipContext ctx) {
    String region = ctx.self().name();
    Gauge.builder(ConsumerMeterNames.DETECTED_DUPLICATES, ctx.store(),
            IdempotencyStore::detectedDuplicates)
        .tag("region", region).description("cross-region duplicates detected by the store")
        .register(ctx.registry());
    for (RegionId peer : ctx.regions()) {
      if (!peer.equals(ctx.self())) {
        Gauge.builder(ConsumerMeterNames.REPLICATION_LAG_SEEN, ctx.replication(),
                r -> lagSeconds(r, peer))
            .tag("region", region).tag("origin", peer.name()).baseUnit("seconds")
            .description("replication lag from the peer as seen by this consumer")
            .register(ctx.registry());
      }
    }
  }

  private static double lagSeconds(ReplicationLog r, RegionId peer) {
    try {
      ReplicationLag lag = r.lag(peer);
      return lag.time().map(d -> d.toNanos() / 1e9).orElse(Double.NaN);
    } catch (RuntimeException e) {
      return Double.NaN;
    }
  }
}
