package dev.tandem.store.spi;

import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.WriteOrigin;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * The replica SPI of the idempotency store: the calls only replication ({@code
 * dev.tandem.store.replication}) makes — merging other replicas' records and leases (told to
 * listeners as {@link WriteOrigin#REMOTE}), the changelog checkpoints stored with them, and dropping
 * a revoked shard. Kept apart from {@link IdempotencyStore}, the user's API, so a user is not offered
 * calls that bypass the claim rules. Every store {@link IdempotencyStore#builder()} builds implements
 * it; replication obtains it with {@link #of}.
 *
 * <p>Every write here is a lattice join, as on the user's side: applying a change twice, or out of
 * order, leaves the same record.
 */
public interface ReplicaStore extends IdempotencyStore {

  /**
   * The replica view of {@code store}.
   *
   * @throws IllegalArgumentException if the store does not implement the replica SPI (replication
   *     needs the store {@link IdempotencyStore#builder()} built, or a gated store over it)
   */
  static ReplicaStore of(IdempotencyStore store) {
    if (store instanceof ReplicaStore replica) {
      return replica;
    }
    throw new IllegalArgumentException(
        "replication needs a store implementing " + ReplicaStore.class.getName()
            + " (the store IdempotencyStore.builder() builds); got " + store.getClass().getName());
  }

  /**
   * Merges a record received from the changelog (another replica's change) and stores the join if it
   * differs. Observes the remote HLC stamp. Records whose head was written longer ago than the TTL are
   * already expired and are not stored.
   *
   * @return the merged record (as stored, or as it would be if expired)
   */
  IdRecord applyRemote(IdRecord remote);

  /**
   * Merges a batch of remote records and leases and stores the changed joins together with the
   * changelog {@code checkpoints} (e.g. {@code "changelog-topic/3" -> next offset}) in ONE RocksDB
   * WriteBatch, so a crash never separates data from its offsets.
   */
  void applyRemoteBatch(
      List<IdRecord> records, List<ShardLease> leases, Map<String, Long> checkpoints);

  /** {@link #applyRemoteBatch(List, List, Map)} without leases. */
  default void applyRemoteBatch(List<IdRecord> records, Map<String, Long> checkpoints) {
    applyRemoteBatch(records, List.of(), checkpoints);
  }

  /** Every checkpoint stored by {@link #applyRemoteBatch}. */
  Map<String, Long> checkpoints();

  /**
   * A lease received from the changelog; merged like {@link IdempotencyStore#mergeLease}, told as
   * REMOTE.
   */
  ShardLease applyRemoteLease(ShardLease lease);

  /**
   * Forgets a shard on revoke: its records (a RocksDB range delete in every bucket) and its lease, and
   * the given changelog checkpoints, in one WriteBatch.
   */
  void dropShard(int shard, Collection<String> checkpointKeys);

  /** {@link #dropShard(int, Collection)} without checkpoints. */
  default void dropShard(int shard) {
    dropShard(shard, List.of());
  }
}
