package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.Objects;

/**
 * What a planned handover ({@link ShardOwnership#handOver}) did. When {@link #moved()} the owner had
 * stopped claiming, its in-flight work had finished and the peer had acknowledged every change of the
 * shard before the lease moved, so the new owner sees every completion: no duplicate is expected.
 * When not moved, the shard stays with the old owner at the old epoch, which processes it again.
 *
 * @param shard the shard
 * @param from the owner that handed over (this region)
 * @param to the region the lease was to move to
 * @param moved whether the lease moved
 * @param newEpoch the epoch written when moved; the unchanged epoch otherwise
 * @param leaseAcknowledged whether {@code to}'s changelog acknowledged the new lease within the
 *     timeout (the peer starts processing once it reads it; false only delays the peer)
 * @param detail why it did not move, or a summary when it did
 * @param took from the call to its return
 */
public record HandoverReport(
    int shard, RegionId from, RegionId to, boolean moved, long newEpoch, boolean leaseAcknowledged,
    String detail, Duration took) {

  public HandoverReport {
    Objects.requireNonNull(from, "from");
    Objects.requireNonNull(to, "to");
    Objects.requireNonNull(detail, "detail");
    Objects.requireNonNull(took, "took");
  }
}
