package dev.tandem.store;

import dev.tandem.core.PayloadDigest;
import java.time.Duration;
import java.util.Collections;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * The answer to a claim. Exactly one caller across all threads of a store gets {@link Acquired} for a
 * given (id, generation, attempt).
 */
public sealed interface ClaimResult {

  /**
   * Run the handler: this store now holds attempt {@code attempt} of {@code generation}.
   *
   * @param previous the claim this attempt follows, when it follows one (a released attempt, a claim
   *     whose lease expired, a claim of an older shard epoch); {@code null} for the first attempt of a
   *     generation
   */
  record Acquired(int attempt, long generation, long epoch, PreviousClaim previous)
      implements ClaimResult {

    /** An attempt that follows no earlier claim (the first of its generation). */
    public Acquired(int attempt, long generation, long epoch) {
      this(attempt, generation, epoch, null);
    }

    /** {@link #previous} as an optional. */
    public java.util.Optional<PreviousClaim> previousClaim() {
      return java.util.Optional.ofNullable(previous);
    }
  }

  /**
   * The claim an {@link Acquired} attempt supersedes: who held it, its attempt and epoch, and how it
   * ended. Only {@link Reason#RELEASED} says its handler finished (and failed); after the other two its
   * handler may have run, in part or to the end — a handler can fence its own side effects on it.
   */
  record PreviousClaim(Owner owner, int attempt, long epoch, Reason reason) {

    /** Requires the owner and the reason. */
    public PreviousClaim {
      Objects.requireNonNull(owner, "owner");
      Objects.requireNonNull(reason, "reason");
    }

    /** Whether the previous claim's handler may have run (its claim ended without a release). */
    public boolean mayHaveRun() {
      return reason != Reason.RELEASED;
    }

    /** How the previous claim ended. */
    public enum Reason {
      /** Its handler failed and released it (the next delivery is the next attempt). */
      RELEASED,
      /**
       * Its lease expired on this store's clock without a release or a completion: its claimant
       * died, hung or was cut off, maybe inside the handler. A re-run of a message that may have
       * been processed.
       */
      LEASE_EXPIRED,
      /** It was live but claimed under an older shard epoch: a takeover (counted in its bound). */
      TAKEN_OVER
    }
  }

  /** Already processed: skip it (the record carries the stored result, if any, and completers). */
  record AlreadyCompleted(IdRecord record) implements ClaimResult {
    /** Requires the record. */
    public AlreadyCompleted {
      Objects.requireNonNull(record, "record");
    }
  }

  /**
   * Someone (possibly another thread of this same instance) holds a live claim: try later
   * (redeliver with a delay, or wait a bounded time) — this is not a duplicate.
   *
   * @param leaseRemainingMillis how long the claim stays live as judged by this store's monotonic
   *     clock
   */
  record InProgress(Owner owner, long leaseRemainingMillis) implements ClaimResult {
    /** Requires the owner. */
    public InProgress {
      Objects.requireNonNull(owner, "owner");
    }

    /** {@link #leaseRemainingMillis} as a duration. */
    public Duration leaseRemaining() {
      return Duration.ofMillis(leaseRemainingMillis);
    }
  }

  /**
   * The id was seen with another payload digest: never processed blindly. Sticky: every later claim
   * of the id answers Conflict too.
   */
  record Conflict(Set<PayloadDigest> digests) implements ClaimResult {
    /** Copies the digests (sorted, unmodifiable). */
    public Conflict {
      digests = Collections.unmodifiableSet(new TreeSet<>(digests));
    }
  }

  /** The id is dead-lettered in its current generation (until an operator re-drives it). */
  record DeadLettered(IdRecord record) implements ClaimResult {
    /** Requires the record. */
    public DeadLettered {
      Objects.requireNonNull(record, "record");
    }
  }
}
