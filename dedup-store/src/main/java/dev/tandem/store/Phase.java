package dev.tandem.store;

/**
 * The phase of an id's record. ABSENT is not a phase: it is the absence of a record, and a join can
 * never go back to it (a release or a takeover is a newer attempt, never a deletion).
 */
public enum Phase {
  /** A handler holds the id under a lease (attempt k, shard epoch e). */
  CLAIMED,
  /** The handler of attempt k failed and gave the id back; a redelivery may claim attempt k+1. */
  RELEASED,
  /** Processed. Terminal: it beats every claim and release of its generation. */
  COMPLETED,
  /** Given up (too many attempts, or by the caller). Terminal until an operator re-drives it. */
  DEAD_LETTERED;

  /** Whether this phase ends the id's generation (COMPLETED or DEAD_LETTERED). */
  public boolean isTerminal() {
    return this == COMPLETED || this == DEAD_LETTERED;
  }

  /**
   * The rank of the phase in the head order: COMPLETED (3) above DEAD_LETTERED (2) above both
   * non-terminal phases (1), which are then ordered by attempt first (see {@link IdRecord}).
   */
  int headRank() {
    return switch (this) {
      case COMPLETED -> 3;
      case DEAD_LETTERED -> 2;
      case CLAIMED, RELEASED -> 1;
    };
  }
}
