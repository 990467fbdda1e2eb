package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import java.time.Duration;
import java.util.Objects;

/**
 * What a follower knows about a shard it does not own, measured on its own monotonic clock only
 * (durations, never a comparison of two machines' wall clocks).
 *
 * @param shard the shard
 * @param lease the newest lease this replica holds (or the implicit initial lease at epoch 0)
 * @param self this region
 * @param silentFor time since this replica last saw the lease change (a heartbeat or a new epoch)
 * @param heldFor how long the follower has held a message of the shard that is not completed (zero
 *     when it holds none)
 * @param progressStalledFor time since the owner's reported position last moved
 */
public record ShardObservation(
    int shard, ShardLease lease, RegionId self, Duration silentFor, Duration heldFor,
    Duration progressStalledFor) {

  public ShardObservation {
    Objects.requireNonNull(lease, "lease");
    Objects.requireNonNull(self, "self");
    Objects.requireNonNull(silentFor, "silentFor");
    Objects.requireNonNull(heldFor, "heldFor");
    Objects.requireNonNull(progressStalledFor, "progressStalledFor");
  }
}
