package dev.tandem.consumer.ownership;

import java.util.Optional;

/**
 * The MANUAL policy: a follower never takes a shard over on its own, however long the owner is
 * silent. Only an operator moves a shard ({@link ShardOwnership#move}), or the owner hands it over
 * ({@link ShardOwnership#handOver}). Use it where two regions processing the same shard during a
 * partition is worse than a stopped shard.
 */
final class ManualPolicy implements OwnershipPolicy {

  static final ManualPolicy INSTANCE = new ManualPolicy();

  private ManualPolicy() {}

  @Override
  public Optional<TakeoverDecision> shouldTakeOver(ShardObservation observation) {
    return Optional.empty();
  }

  @Override
  public String name() {
    return "MANUAL";
  }
}
