/**
 * Shard ownership across regions: {@link dev.tandem.consumer.ownership.ShardOwnership} keeps shard
 * leases in the replicated store, heartbeats them from the owner's poll loop and takes shards over as
 * the {@link dev.tandem.consumer.ownership.OwnershipPolicy} decides (AUTOMATIC here; WITNESS and
 * MANUAL plug into the same seam), reporting the duplicate bound in a {@link
 * dev.tandem.consumer.ownership.TakeoverReport}. {@link dev.tandem.consumer.ownership.OwnerLiveness}
 * is the one protocol that decides when an owner may renew (every {@link
 * dev.tandem.consumer.ownership.BrokerProbe} answered, revalidation after a silence, {@code
 * ownerAlive}, failback; busy vs stuck through {@link
 * dev.tandem.consumer.ownership.HandlerActivity}), driven by the Kafka poll loop and by a function
 * app's heartbeat timer alike. {@link dev.tandem.consumer.ownership.OwnershipTicker} is the round of
 * the runtimes without a Tandem poll loop (Spring listener containers, Azure Functions): renewal,
 * observation and remote evacuate/return requests in one place.
 * The calls only a poll loop or a ticker makes are behind {@link
 * dev.tandem.consumer.ownership.OwnershipPollLoop} ({@code ShardOwnership.pollLoop()}); the
 * machinery of {@code ShardOwnership} — lease view, replication window, renewal, takeover and its
 * bound, handover, manual move, failback — is in {@code ownership.internal}, which is not API.
 */
package dev.tandem.consumer.ownership;
