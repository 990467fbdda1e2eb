/**
 * The machinery of the idempotency store: <b>not API</b>. Types here are public only because
 * {@code dev.tandem.store} (the RocksDB store) uses them; they may change in any release. Users start
 * at {@link dev.tandem.store.IdempotencyStore}; replication at {@link
 * dev.tandem.store.spi.ReplicaStore}.
 *
 * <ul>
 *   <li>{@link dev.tandem.store.internal.ClaimRules}: the claim / complete / release / dead-letter /
 *       re-drive / renew transitions over {@link dev.tandem.store.IdRecord}, pure (no RocksDB, no
 *       locks): what to write and what to answer.
 *   <li>{@link dev.tandem.store.internal.TtlBuckets}: which TTL bucket a record goes to, which buckets
 *       have expired, and when the next one does.
 *   <li>{@link dev.tandem.store.internal.LeaseTable}: the shard leases in memory, merged only after
 *       RocksDB accepted them.
 *   <li>{@link dev.tandem.store.internal.DetectedCounts}: detected cross-region duplicates per (TTL
 *       bucket, shard), as persisted.
 *   <li>{@link dev.tandem.store.internal.StoreListeners}: the listeners, each isolated from the
 *       others' failures.
 *   <li>{@link dev.tandem.store.internal.EngineOptions}: the RocksDB options of the store's database
 *       and TTL buckets (option objects only; the benchmarks reuse them).
 * </ul>
 *
 * <p>The pieces that touch RocksDB handles (the engine, the write batch, the record caches, the lock
 * order) stay package-private in {@code dev.tandem.store}, next to the key encoding they use.
 */
package dev.tandem.store.internal;
