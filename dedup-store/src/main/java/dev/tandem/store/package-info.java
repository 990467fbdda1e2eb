/**
 * The local idempotency store: one {@link dev.tandem.store.IdRecord} per (shard, id) and one
 * {@link dev.tandem.store.ShardLease} per shard, each an element of a join-semilattice, so replicas
 * that saw the same updates agree whatever the order ({@code
 * docs/design.md#the-record-and-its-merge}).
 *
 * <p>Start at {@link dev.tandem.store.IdempotencyStore} (the user's API: the operations and their
 * rules) and {@link dev.tandem.store.RocksIdempotencyStore#builder()} (configuration). Replication
 * ({@code dev.tandem.store.replication}) ships what a {@link dev.tandem.store.StoreListener} is told
 * of local writes, encoded by {@link dev.tandem.store.RecordCodec}, and applies other regions'
 * changes through the replica SPI, {@link dev.tandem.store.spi.ReplicaStore#applyRemoteBatch}. Meter
 * names: {@link dev.tandem.store.StoreMeterNames}.
 *
 * <p>Not API: {@code dev.tandem.store.internal} (the pure parts of the store: claim rules, TTL
 * buckets, lease table, ...) and the package-private classes here (RocksDB engine, write batch,
 * locks, caches).
 */
package dev.tandem.store;
