package dev.tandem.store;

/**
 * Told of every write the store made, after RocksDB accepted it. Replication ships
 * {@link WriteOrigin#LOCAL} writes: the argument is the FULL merged record (it only grows), which is
 * what the changelog needs, since compaction keeps the newest offset per key, not the largest record.
 *
 * <p>Threading: called on the writing thread while the id's stripe lock is held, so calls for one id
 * come in write order (a reordered pair could otherwise make compaction keep the smaller record).
 * Implementations must therefore be quick and must not block (hand the record to an async producer
 * or a queue) and must not call back into the store for the same id. Remote changes of one id
 * applied in one batch (a claim and its COMPLETED read in one poll) may arrive as one call with their
 * join: a listener sees every state the store held, not every change it read. A listener that throws does not
 * fail the write: the store logs it and counts {@code tandem.store.listener.errors}.
 */
public interface StoreListener {

  /** A record was written; {@code record} is the merged record now stored. */
  void onRecord(IdRecord record, WriteOrigin origin);

  /** A shard lease was written; {@code lease} is the merged lease now stored. */
  default void onLease(ShardLease lease, WriteOrigin origin) {}
}
