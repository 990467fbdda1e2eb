/**
 * The local idempotency store: one {@link dev.tandem.store.IdRecord} per (shard, id) and one
 * {@link dev.tandem.store.ShardLease} per shard, each an element of a join-semilattice, so replicas
 * that saw the same updates agree whatever the order ({@code
 * docs/design.md#the-record-and-its-merge}).
 *
 * <p>Start at {@link dev.tandem.store.IdempotencyStore} (the operations and their rules) and
 * {@link dev.tandem.store.RocksIdempotencyStore#builder()} (configuration). Replication
 * ({@code dev.tandem.store.replication}) ships what a {@link dev.tandem.store.StoreListener} is told
 * of local writes, encoded by {@link dev.tandem.store.RecordCodec}, and applies other regions'
 * changes with {@link dev.tandem.store.IdempotencyStore#applyRemoteBatch}.
 */
package dev.tandem.store;
