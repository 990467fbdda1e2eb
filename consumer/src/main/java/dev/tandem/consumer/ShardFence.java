package dev.tandem.consumer;

/**
 * Tells {@link OnceProcessor} whether this instance still owns a shard under an epoch. Checked before
 * claiming and again just before a handler runs, so an owner that has seen a higher epoch for its
 * shard (a takeover) stops processing it at once. The shard-ownership code supplies it; without
 * shard leases every shard is always held (epoch 0).
 */
@FunctionalInterface
public interface ShardFence {

  /** A fence that never closes: for single-region use or transports without shard leases. */
  ShardFence OPEN = (shard, epoch) -> true;

  /** Whether this instance may process {@code shard} under {@code epoch} now. */
  boolean holds(int shard, long epoch);
}
