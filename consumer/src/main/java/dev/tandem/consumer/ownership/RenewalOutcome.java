package dev.tandem.consumer.ownership;

import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * What one renewal round of {@link OwnerLiveness} did.
 *
 * @param kind what the round decided
 * @param renewed shards whose lease got a heartbeat in this round
 * @param notReady shards skipped because the local replica is still restoring them
 * @param reason null when the owner renewed (or had nothing to renew); else why it stayed silent
 * @param failback a failback handover that finished since the previous round, if any (a round
 *     starts a due failback on a thread of its own and never waits for it)
 */
public record RenewalOutcome(Kind kind, Set<Integer> renewed, Set<Integer> notReady, String reason,
    Optional<HandoverReport> failback) {

  /** What a round decided. */
  public enum Kind {
    /**
     * The owned shards were renewed ({@link #renewed}). From {@link OwnerLiveness#renew}: every
     * probe answered and the view is valid. From {@link OwnerLiveness#renewWhileBusy}: on evidence
     * alone, whether or not the view is valid (a stale view stays stale).
     */
    RENEWED,
    /** No lease names this region among the given shards: nothing to renew, nothing asked. */
    NOTHING_OWNED,
    /** A broker the owner depends on did not answer: silent, the peer takes over after L + margin. */
    BROKER_SILENT,
    /** Silent for revalidateAfter and the own changelog could not be re-read: silent. */
    REVALIDATION_FAILED,
    /** The owner's processing is stuck (a handler beyond handlerTimeout): silent. */
    STUCK
  }

  /**
   * A round's outcome.
   *
   * @throws IllegalArgumentException when a silent kind has no reason or a renewal has one
   */
  public RenewalOutcome {
    Objects.requireNonNull(kind, "kind");
    renewed = Set.copyOf(renewed);
    notReady = Set.copyOf(notReady);
    Objects.requireNonNull(failback, "failback");
    if ((reason == null) != (kind == Kind.RENEWED || kind == Kind.NOTHING_OWNED)) {
      throw new IllegalArgumentException("a silent round has a reason; a renewal has none");
    }
  }

  /** Whether the owner stayed silent (owns shards, wrote no heartbeat, told the policy nothing). */
  public boolean silent() {
    return reason != null;
  }
}
