package dev.tandem.consumer.ownership;

import java.time.Duration;
import java.util.Optional;

/**
 * The seam where a takeover policy plugs in (DESIGN.md "Processing once across regions"). {@link
 * ShardOwnership} asks it, for every shard this region follows, whether to take the shard over now;
 * the processing code never knows which policy runs. {@code AUTOMATIC} is {@link #automatic}; the
 * {@code WITNESS} and {@code MANUAL} policies implement this interface too.
 */
public interface OwnershipPolicy {

  /**
   * Whether this region should take {@code observation.shard()} over now, and on what basis (the
   * reason goes into the {@link TakeoverReport}); empty to keep following.
   */
  Optional<TakeoverDecision> shouldTakeOver(ShardObservation observation);

  /**
   * Whether this region, holding {@code lease} as its owner, may process the shard now. The default
   * (AUTOMATIC) says yes: availability first, an owner keeps processing even when the peer is
   * unreachable. A witness-based policy answers from its witness lease.
   */
  default boolean mayProcess(int shard, long epoch) {
    return true;
  }

  /** The policy's name for logs and metric tags. */
  String name();

  /**
   * AUTOMATIC: take over when no heartbeat arrived for {@code leaseTimeout + margin}, or when the owner
   * heartbeats without progress for {@code stuckAfter} while this follower holds a message it never
   * sees completed.
   */
  static OwnershipPolicy automatic(Duration leaseTimeout, Duration margin, Duration stuckAfter) {
    return new AutomaticPolicy(leaseTimeout, margin, stuckAfter);
  }

  /**
   * MANUAL: never takes over on its own, whatever the silence; shards move only by an operator's
   * {@link ShardOwnership#move} or the owner's planned {@link ShardOwnership#handOver}.
   */
  static OwnershipPolicy manual() {
    return ManualPolicy.INSTANCE;
  }
}
