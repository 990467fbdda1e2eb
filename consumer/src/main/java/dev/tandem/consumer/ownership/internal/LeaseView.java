package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import io.micrometer.core.instrument.Gauge;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The lease view (not API): which region owns each shard as this replica sees it — the newest
 * {@link ShardLease} in the store, or the implicit initial lease {@code regions[shard % n]} at epoch
 * 0, which both regions agree on without talking (no record exists until the first heartbeat). Each
 * read refreshes the per-shard gauges {@code tandem.consumer.lease.epoch} and {@code
 * tandem.consumer.shard.owned}, so a dashboard shows ownership as this region last read it.
 */
public final class LeaseView {

  private final OwnershipContext ctx;
  private final Map<Integer, AtomicLong> epochs = new ConcurrentHashMap<>();
  private final Map<Integer, AtomicLong> owned = new ConcurrentHashMap<>();

  public LeaseView(OwnershipContext ctx) {
    this.ctx = ctx;
  }

  /** The owner of {@code shard} before any takeover: {@code sorted(regions)[shard % n]}. */
  public RegionId initialOwner(int shard) {
    return ctx.regions().get(shard % ctx.regions().size());
  }

  /** The newest lease of {@code shard} this replica holds, or the implicit initial lease. */
  public ShardLease lease(int shard) {
    ShardLease l = ctx.store().lease(shard)
        .orElseGet(() -> ShardLease.of(shard, 0, initialOwner(shard), 0));
    epochGauge(shard).set(l.epoch());
    ownedGauge(shard).set(l.owner().equals(ctx.self()) ? 1 : 0);
    return l;
  }

  /** Whether {@code shard}'s lease names this region (whatever the policy and the gates say). */
  public boolean leaseNamesSelf(int shard) {
    return lease(shard).owner().equals(ctx.self());
  }

  /** Records the epoch this region just wrote for {@code shard}. */
  public void wrote(ShardLease written) {
    epochGauge(written.shard()).set(written.epoch());
  }

  /**
   * {@code tandem.consumer.shard.owned{region,shard}}: 1 while the newest lease this replica read
   * names this region, else 0 — a dashboard's ownership per shard over time (both regions' series
   * side by side show every move).
   */
  private AtomicLong ownedGauge(int shard) {
    return owned.computeIfAbsent(shard, s -> {
      AtomicLong v = new AtomicLong();
      Gauge.builder(ConsumerMeterNames.SHARD_OWNED, v, AtomicLong::get)
          .tag("region", ctx.self().name()).tag("shard", Integer.toString(s))
          .description("1 while the shard's lease names this region, as seen here")
          .register(ctx.registry());
      return v;
    });
  }

  private AtomicLong epochGauge(int shard) {
    return epochs.computeIfAbsent(shard, s -> {
      AtomicLong v = new AtomicLong();
      Gauge.builder(ConsumerMeterNames.LEASE_EPOCH, v, AtomicLong::get)
          .tag("region", ctx.self().name()).tag("shard", Integer.toString(s))
          .tag("policy", ctx.policy().name()).description("shard lease epoch as seen here")
          .register(ctx.registry());
      return v;
    });
  }
}
