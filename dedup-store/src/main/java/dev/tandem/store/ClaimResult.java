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

  /** Run the handler: this store now holds attempt {@code attempt} of {@code generation}. */
  record Acquired(int attempt, long generation, long epoch) implements ClaimResult {}

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
