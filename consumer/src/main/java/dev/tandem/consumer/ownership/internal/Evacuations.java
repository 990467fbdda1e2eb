package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The evacuation mark of a lease (not API): {@link ShardOwnership#EVACUATED_FROM_ATTRIBUTE} names the
 * region an operator evacuated a shard from; the new owner's renewals keep it and automatic
 * failback honours it until a return writes a lease without it.
 */
public final class Evacuations {

  private Evacuations() {}

  /** {@code lease} marked as evacuated from {@code from} (unchanged if {@code from} is null). */
  public static ShardLease mark(ShardLease lease, RegionId from) {
    if (from == null) {
      return lease;
    }
    SortedMap<String, String> a = new TreeMap<>(lease.attributes());
    a.put(ShardOwnership.EVACUATED_FROM_ATTRIBUTE, from.name());
    return new ShardLease(lease.shard(), lease.epoch(), lease.owner(), lease.heartbeatHlc(),
        lease.position(), lease.window(), lease.unacked(), lease.peerReachable(), a);
  }

  /** The region {@code lease}'s shard was evacuated from, empty if not (or returned since). */
  public static Optional<RegionId> from(ShardLease lease) {
    String from = lease.attributes().get(ShardOwnership.EVACUATED_FROM_ATTRIBUTE);
    return from == null ? Optional.empty() : Optional.of(RegionId.of(from));
  }
}
