package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import dev.tandem.store.replication.CatchUpResult;
import java.time.Duration;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * What a takeover did, and the duplicate bound computed at that moment ({@code
 * docs/design.md#takeover-and-its-bound}): ids of the shard
 * CLAIMED without COMPLETED after reading both changelogs (each may be processed again by the new
 * owner), plus the old owner's window W only when its changelog could not be read; unknown when, in
 * that case, the old owner's last heartbeat said its peer was unreachable (its window was lifted).
 *
 * <p>The bound holds when the old owner stopped: it crashed, lost its broker, or (under {@code
 * WITNESS}) lost the witness lease, which keeps the window even while the peer is unreachable. Under
 * {@code AUTOMATIC}, an old owner whose changelog could not be read may instead be alive behind a
 * partition and go on processing: then there may be more duplicates than the bound, and every one of
 * them is detected and counted by the store when the link heals ({@code detectedDuplicates()}). The
 * taking side cannot tell the two apart (the old owner's "peer unreachable" heartbeat travels through
 * its spool and never arrives), so such a report is {@link BoundKind#HOLDS_IF_OLD_OWNER_STOPPED}:
 * its number is what a crash costs at most, not a promise ({@link #boundHolds()} is false, the
 * number goes to the meter {@code tandem.consumer.duplicate.bound.conditional}, not to {@code
 * tandem.consumer.duplicate.bound}).
 *
 * @param shard the shard taken over
 * @param from the previous owner region
 * @param to the new owner (this region)
 * @param newEpoch the epoch written
 * @param reason why the policy decided to take over
 * @param claimedWithoutCompleted ids CLAIMED, not COMPLETED, in the shard after the catch-ups
 * @param windowAdded W added because the old owner's changelog could not be read (0 otherwise)
 * @param unknownReason why the bound is unknown, or null when it is known
 * @param holdsOnlyIfOwnerStopped the old owner's changelog could not be read and nothing shows that
 *     it stopped (no witness grant, no acknowledgement): the bound holds only if it did
 * @param ownChangelog the catch-up of this region's changelog
 * @param ownerChangelog the catch-up of the old owner region's changelog
 * @param took from the decision to the moment processing could start
 */
public record TakeoverReport(
    int shard, RegionId from, RegionId to, long newEpoch, String reason,
    long claimedWithoutCompleted, long windowAdded, String unknownReason,
    boolean holdsOnlyIfOwnerStopped, CatchUpResult ownChangelog, CatchUpResult ownerChangelog, Duration took) {

  public TakeoverReport {
    Objects.requireNonNull(from, "from");
    Objects.requireNonNull(to, "to");
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(took, "took");
  }

  /** What the reported duplicate bound promises. */
  public enum BoundKind {
    /** Duplicates of this takeover are at most {@link #bound()}. */
    HOLDS,
    /**
     * At most {@link #bound()} if the old owner had stopped (crashed, lost its broker); if it was
     * alive behind a partition it may have gone on processing, and then every duplicate beyond the
     * number is detected and counted by the store when the link heals.
     */
    HOLDS_IF_OLD_OWNER_STOPPED,
    /** No number: {@link #bound()} is empty, duplicates are detected, not bounded. */
    UNKNOWN
  }

  /**
   * The duplicate bound: empty when unknown (see {@link #unknownReason}); a number that holds only if
   * the old owner stopped when {@link #boundKind()} says so.
   */
  public OptionalLong bound() {
    return unknownReason != null
        ? OptionalLong.empty()
        : OptionalLong.of(claimedWithoutCompleted + windowAdded);
  }

  /** What {@link #bound()} promises. */
  public BoundKind boundKind() {
    if (unknownReason != null) {
      return BoundKind.UNKNOWN;
    }
    return holdsOnlyIfOwnerStopped ? BoundKind.HOLDS_IF_OLD_OWNER_STOPPED : BoundKind.HOLDS;
  }

  /** True only when {@link #bound()} holds unconditionally ({@link BoundKind#HOLDS}). */
  public boolean boundHolds() {
    return boundKind() == BoundKind.HOLDS;
  }

  @Override
  public String toString() {
    long n = claimedWithoutCompleted + windowAdded;
    String terms = n + " = " + claimedWithoutCompleted + " claimed-not-completed + " + windowAdded
        + " window";
    String bound = switch (boundKind()) {
      case UNKNOWN -> "unknown, because " + unknownReason;
      case HOLDS -> terms;
      case HOLDS_IF_OLD_OWNER_STOPPED -> terms + ", which holds only if " + from + " stopped: its"
          + " changelog could not be read, so it may be alive behind a partition and still"
          + " processing; duplicates beyond it are detected by the store when the link heals";
    };
    return "takeover of shard " + shard + " from " + from + " to " + to + " at epoch " + newEpoch
        + " (" + reason + "): duplicate bound " + bound
        + "; own changelog: " + ownChangelog + "; owner changelog: " + ownerChangelog
        + "; took " + took;
  }
}
