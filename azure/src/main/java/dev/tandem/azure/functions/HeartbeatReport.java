package dev.tandem.azure.functions;

import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * What one {@link TandemFunctions#heartbeat()} tick did: the shards whose lease it renewed, the
 * shards it follows, the takeovers it made (each with its duplicate bound), and — when it renewed
 * nothing although this region owns shards — why.
 *
 * @param region this region
 * @param renewed shards this region owns whose lease got a heartbeat in this tick
 * @param followed shards owned by another region, observed in this tick
 * @param takeovers shards this tick took over from a silent (or stuck) owner, with their bounds
 * @param notReady shards whose local replica is still restoring (neither renewed nor observed)
 * @param silentReason null when this region's own changelog answered (or it owns nothing);
 *     otherwise why no heartbeat was written: the follower region will take these shards over
 * @param took how long the tick ran
 */
public record HeartbeatReport(
    RegionId region, Set<Integer> renewed, Set<Integer> followed, List<TakeoverReport> takeovers,
    Set<Integer> notReady, String silentReason, Duration took) {

  public HeartbeatReport {
    Objects.requireNonNull(region, "region");
    renewed = Set.copyOf(renewed);
    followed = Set.copyOf(followed);
    takeovers = List.copyOf(takeovers);
    notReady = Set.copyOf(notReady);
    Objects.requireNonNull(took, "took");
  }

  /** Whether this region stayed silent (owns shards but wrote no heartbeat). */
  public boolean silent() {
    return silentReason != null;
  }

  @Override
  public String toString() {
    return "Tandem heartbeat of " + region + ": renewed " + renewed + ", following " + followed
        + (takeovers.isEmpty() ? "" : ", took over " + takeovers)
        + (notReady.isEmpty() ? "" : ", restoring " + notReady)
        + (silentReason == null ? "" : ", SILENT: " + silentReason) + " (" + took.toMillis() + " ms)";
  }
}
