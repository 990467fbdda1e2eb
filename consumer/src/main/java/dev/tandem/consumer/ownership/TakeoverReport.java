package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import dev.tandem.store.replication.CatchUpResult;
import java.time.Duration;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * What a takeover did, and the duplicate bound computed at that moment (DESIGN.md): ids of the shard
 * CLAIMED without COMPLETED after reading both changelogs (each may be processed again by the new
 * owner), plus the old owner's window W only when its changelog could not be read; unknown when, in
 * that case, the old owner's last heartbeat said its peer was unreachable (its window was lifted).
 *
 * <p>The bound holds when the old owner stopped: it crashed, lost its broker, or (under {@code
 * WITNESS}) lost the witness lease, which keeps the window even while the peer is unreachable. Under
 * {@code AUTOMATIC}, an old owner whose changelog could not be read may instead be alive behind a
 * partition and go on processing: then there may be more duplicates than the bound, and every one of
 * them is detected and counted by the store when the link heals ({@code detectedDuplicates()}).
 *
 * @param shard the shard taken over
 * @param from the previous owner region
 * @param to the new owner (this region)
 * @param newEpoch the epoch written
 * @param reason why the policy decided to take over
 * @param claimedWithoutCompleted ids CLAIMED, not COMPLETED, in the shard after the catch-ups
 * @param windowAdded W added because the old owner's changelog could not be read (0 otherwise)
 * @param unknownReason why the bound is unknown, or null when it is known
 * @param ownChangelog the catch-up of this region's changelog
 * @param ownerChangelog the catch-up of the old owner region's changelog
 * @param took from the decision to the moment processing could start
 */
public record TakeoverReport(
    int shard, RegionId from, RegionId to, long newEpoch, String reason,
    long claimedWithoutCompleted, long windowAdded, String unknownReason,
    CatchUpResult ownChangelog, CatchUpResult ownerChangelog, Duration took) {

  public TakeoverReport {
    Objects.requireNonNull(from, "from");
    Objects.requireNonNull(to, "to");
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(took, "took");
  }

  /** The duplicate bound, empty when unknown (see {@link #unknownReason}). */
  public OptionalLong bound() {
    return unknownReason != null
        ? OptionalLong.empty()
        : OptionalLong.of(claimedWithoutCompleted + windowAdded);
  }

  @Override
  public String toString() {
    return "takeover of shard " + shard + " from " + from + " to " + to + " at epoch " + newEpoch
        + " (" + reason + "): duplicate bound "
        + (unknownReason != null ? "unknown, because " + unknownReason
            : claimedWithoutCompleted + windowAdded + " = " + claimedWithoutCompleted
                + " claimed-not-completed + " + windowAdded + " window")
        + "; own changelog: " + ownChangelog + "; owner changelog: " + ownerChangelog
        + "; took " + took;
  }
}
