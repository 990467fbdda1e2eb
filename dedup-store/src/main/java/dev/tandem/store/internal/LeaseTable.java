package dev.tandem.store.internal;

import dev.tandem.store.ShardLease;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The shard leases this store holds, one per shard, in memory. Invariant: it equals what RocksDB
 * holds — a lease is {@link #accepted} only after RocksDB accepted its write, and {@link #drop}ped
 * with its shard. Reads need no lock; writes are decided by {@link #join} under the store's lease
 * lock (so two writers of one shard cannot both think their join is new).
 */
public final class LeaseTable {

  private final Map<Integer, ShardLease> leases = new ConcurrentHashMap<>();

  /** Loads the leases read from RocksDB at open. */
  public void load(Collection<ShardLease> stored) {
    for (ShardLease l : stored) {
      leases.put(l.shard(), l);
    }
  }

  public Optional<ShardLease> get(int shard) {
    return Optional.ofNullable(leases.get(shard));
  }

  /** Every lease, by shard. */
  public List<ShardLease> all() {
    List<ShardLease> all = new ArrayList<>(leases.values());
    all.sort((a, b) -> Integer.compare(a.shard(), b.shard()));
    return all;
  }

  /**
   * The lease of {@code lease.shard()} after merging {@code lease}: the last of {@code staged} (joins
   * of the same operation, not written yet) for that shard, else the table's, joined with {@code
   * lease}; {@link Join#changed()} says whether it differs from that current lease (then it is
   * written). Observing the lease's HLC stamp is the caller's.
   */
  public Join join(ShardLease lease, List<ShardLease> staged) {
    Objects.requireNonNull(lease, "lease");
    ShardLease cur = leases.get(lease.shard());
    for (int i = staged.size() - 1; i >= 0; i--) {
      if (staged.get(i).shard() == lease.shard()) {
        cur = staged.get(i);
        break;
      }
    }
    ShardLease merged = cur == null ? lease : cur.merge(lease);
    return new Join(merged, !merged.equals(cur));
  }

  /** A join: the merged lease and whether it differs from the current one (then it is written). */
  public record Join(ShardLease merged, boolean changed) {}

  /** RocksDB accepted {@code lease}: the table joins it. */
  public void accepted(ShardLease lease) {
    leases.merge(lease.shard(), lease, ShardLease::merge);
  }

  /** The shard was dropped from RocksDB. */
  public void drop(int shard) {
    leases.remove(shard);
  }
}
