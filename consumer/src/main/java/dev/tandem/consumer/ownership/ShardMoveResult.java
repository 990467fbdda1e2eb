package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * What a remote ownership request ({@link OwnershipAdmin#evacuate}, {@link OwnershipAdmin#returnTo},
 * {@link OwnershipAdmin#move}, {@link OwnershipAdmin#fence}) did to one shard.
 *
 * @param shard the shard
 * @param from the region that owned it when the request was made
 * @param to the region it was to move to
 * @param outcome what happened (see {@link Outcome})
 * @param newEpoch the epoch the lease has after the request: {@code old + 1} when {@link
 *     Outcome#MOVED} or {@link Outcome#FORCED}, the unchanged epoch otherwise
 * @param took from the request being written to this shard's result (or the forced move's end)
 * @param bound for {@link Outcome#FORCED} only: the duplicate bound of the fenced move when the old
 *     owner acknowledged the new epoch; empty when it did not (duplicates are then detected by the
 *     store, not bounded) and for every other outcome ({@link Outcome#MOVED} has zero duplicates)
 * @param requestId the id of the request record the owner acted on (empty for a fence alone)
 * @param detail a plain sentence: what the owner reported, or why nothing moved
 */
public record ShardMoveResult(
    int shard, RegionId from, RegionId to, Outcome outcome, long newEpoch, Duration took,
    OptionalLong bound, String requestId, String detail) {

  /** What happened to one shard. */
  public enum Outcome {
    /**
     * The owning process handed the shard over ({@link ShardOwnership#handOver}): drained, the
     * destination acknowledged every change, epoch + 1. Zero duplicates.
     */
    MOVED,
    /**
     * No process of the owning region answered before the request's deadline (stopped, hung, or
     * cut off). Nothing was moved; the shard stays with its owner at the same epoch.
     */
    NOT_ANSWERED,
    /**
     * The owning process answered but the handover did not complete (a drain or the destination's
     * acknowledgement timed out, the lease moved meanwhile): the shard stays with its owner.
     */
    FAILED,
    /**
     * Moved by a fenced move ({@link ShardOwnership#move}) because {@code force} was given and the
     * owner did not move it: duplicates up to {@link ShardMoveResult#bound()} (or detected, not
     * bounded, when the bound is empty).
     */
    FORCED
  }

  public ShardMoveResult {
    Objects.requireNonNull(from, "from");
    Objects.requireNonNull(to, "to");
    Objects.requireNonNull(outcome, "outcome");
    Objects.requireNonNull(took, "took");
    Objects.requireNonNull(bound, "bound");
    Objects.requireNonNull(requestId, "requestId");
    Objects.requireNonNull(detail, "detail");
  }

  /** Whether the shard is now owned by {@link #to()} ({@link Outcome#MOVED} or {@link Outcome#FORCED}). */
  public boolean moved() {
    return outcome == Outcome.MOVED || outcome == Outcome.FORCED;
  }
}
