/**
 * Replication of the idempotency store across regions over Kafka ({@code
 * docs/design.md#replication}).
 *
 * <ul>
 *   <li>{@link dev.tandem.store.replication.ReplicationLog}: the SPI the consumer uses (assign /
 *       revoke shards, restore state, barriers and the unacknowledged count for the replication
 *       window W, catch-up of a region's changelog before a takeover, lag).
 *   <li>{@link dev.tandem.store.replication.KafkaReplicationLog}: the Kafka implementation; local
 *       writes go to every region's changelog through the publisher's fan-out and spool.
 *   <li>{@link dev.tandem.store.replication.ReplicatedStore}: <b>the restore gate</b>. The chosen
 *       design is a facade, not a change to the store: calls for a shard that is still restoring
 *       wait (bounded by {@code restoreWait}) and then throw {@link
 *       dev.tandem.store.replication.ShardNotReadyException}; calls for a shard not materialised here
 *       throw at once. Use the gated store for claims; the raw store does not know about restores.
 *   <li>{@link dev.tandem.store.replication.InMemoryReplicationLog}: the log in memory, for tests and
 *       simulations only (several regions on one network, delivery and link faults scripted).
 * </ul>
 */
package dev.tandem.store.replication;
