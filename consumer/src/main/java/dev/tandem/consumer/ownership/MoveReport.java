package dev.tandem.consumer.ownership;

import java.util.Objects;
import java.util.OptionalLong;

/**
 * What an operator's {@link ShardOwnership#move} did: the new epoch was written FIRST, then the old
 * owner region's changelog was asked to acknowledge it. Only with that acknowledgement is the
 * duplicate bound known; without it the old owner may keep processing at its old epoch for as long as
 * it cannot read the new lease, and the duplicates are detected by the store (counted in {@code
 * tandem.consumer.detected.duplicates}) but not bounded.
 *
 * @param takeover the takeover written (its bound counts ids CLAIMED without COMPLETED after the
 *     catch-ups plus the old owner's W, which it may claim before it applies the new lease)
 * @param oldOwnerAcknowledged whether the old owner region's changelog acknowledged the new epoch
 * @param detail a plain sentence saying what the bound means here
 */
public record MoveReport(TakeoverReport takeover, boolean oldOwnerAcknowledged, String detail) {

  public MoveReport {
    Objects.requireNonNull(takeover, "takeover");
    Objects.requireNonNull(detail, "detail");
  }

  /** The duplicate bound, empty (detected, not bounded) when the old owner did not acknowledge. */
  public OptionalLong bound() {
    return oldOwnerAcknowledged ? takeover.bound() : OptionalLong.empty();
  }
}
