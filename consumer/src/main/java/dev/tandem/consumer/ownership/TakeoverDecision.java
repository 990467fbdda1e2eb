package dev.tandem.consumer.ownership;

import java.util.Objects;

/**
 * A policy's decision to take a shard over, with what it is based on, so {@link ShardOwnership} can
 * re-check the basis after reading the changelogs (a heartbeat that was only late in this region's
 * changelog cancels a silence-based takeover).
 *
 * @param reason human-readable, goes into the {@link TakeoverReport}
 * @param basis what the decision rests on
 */
public record TakeoverDecision(String reason, Basis basis) {

  /** What a takeover decision rests on. */
  public enum Basis {
    /** No heartbeat for longer than allowed: cancelled if a newer heartbeat turns up. */
    SILENCE,
    /** Heartbeats without progress while the follower holds: cancelled if the position moved. */
    NO_PROGRESS,
    /** An outside authority (a witness lease, an operator): not re-checked. */
    GRANTED
  }

  public TakeoverDecision {
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(basis, "basis");
  }
}
