package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * How far this replica trails {@code origin}, from {@code origin}'s heartbeats in the changelog.
 * Time lag = applied-at − sent-at of the newest heartbeat (two machines' wall clocks: a metric, never
 * a correctness input). It does not grow while the system is idle, because heartbeats keep flowing;
 * it does not shrink while {@code origin} is silent either: {@link #sinceLastHeartbeat} grows then.
 *
 * @param origin the region whose heartbeats were measured
 * @param timeLag applied-at − sent-at of the newest heartbeat applied (max over shards); null if none
 *     was seen yet
 * @param recordsBehind changelog records this replica has not read yet (end offset − position, summed
 *     over its partitions; the changelog mixes origins, so this counts every origin's records)
 * @param sinceLastHeartbeat monotonic time since the newest heartbeat of {@code origin} was applied;
 *     null if none was seen yet
 * @param heartbeats heartbeats of {@code origin} applied since this log opened
 */
public record ReplicationLag(
    RegionId origin,
    Duration timeLag,
    long recordsBehind,
    Duration sinceLastHeartbeat,
    long heartbeats) {

  public ReplicationLag {
    Objects.requireNonNull(origin, "origin");
  }

  /** Whether at least one heartbeat of {@code origin} was applied. */
  public boolean known() {
    return timeLag != null;
  }

  /** {@link #timeLag}, empty if unknown. */
  public Optional<Duration> time() {
    return Optional.ofNullable(timeLag);
  }
}
