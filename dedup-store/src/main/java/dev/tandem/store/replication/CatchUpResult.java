package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The outcome of {@link ReplicationLog#catchUp}: whether {@code region}'s changelog was read to the end
 * offsets captured at the start, how many records were applied, and if not, why.
 *
 * @param region the region whose changelog was read
 * @param shards the shards asked for
 * @param complete true when every asked partition was read up to its captured end offset
 * @param recordsApplied changelog records read and applied (heartbeats and bad records included)
 * @param took how long the catch-up took
 * @param reason why it is not complete (e.g. "unreachable: ..."), or null when complete
 */
public record CatchUpResult(
    RegionId region,
    Set<Integer> shards,
    boolean complete,
    long recordsApplied,
    Duration took,
    String reason) {

  public CatchUpResult {
    Objects.requireNonNull(region, "region");
    shards = Set.copyOf(shards);
    Objects.requireNonNull(took, "took");
    if (complete != (reason == null)) {
      throw new IllegalArgumentException("a complete catch-up has no reason; an incomplete one has");
    }
  }

  static CatchUpResult ok(RegionId region, Set<Integer> shards, long records, Duration took) {
    return new CatchUpResult(region, shards, true, records, took, null);
  }

  static CatchUpResult notRead(
      RegionId region, Set<Integer> shards, long records, Duration took, String reason) {
    return new CatchUpResult(region, shards, false, records, took, reason);
  }

  /** The reason it is not complete, empty when it is. */
  public Optional<String> failure() {
    return Optional.ofNullable(reason);
  }

  @Override
  public String toString() {
    return complete
        ? "caught up with " + region + " " + shards + ": " + recordsApplied + " records in " + took
        : "not read " + region + " " + shards + ": " + reason + " (" + recordsApplied
            + " records in " + took + ")";
  }
}
