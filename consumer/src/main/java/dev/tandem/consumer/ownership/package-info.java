/**
 * Shard ownership across regions: {@link dev.tandem.consumer.ownership.ShardOwnership} keeps shard
 * leases in the replicated store, heartbeats them from the owner's poll loop and takes shards over as
 * the {@link dev.tandem.consumer.ownership.OwnershipPolicy} decides (AUTOMATIC here; WITNESS and
 * MANUAL plug into the same seam), reporting the duplicate bound in a {@link
 * dev.tandem.consumer.ownership.TakeoverReport}.
 */
package dev.tandem.consumer.ownership;
