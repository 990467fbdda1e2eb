package dev.tandem.consumer;

import dev.tandem.store.ClaimResult;
import java.util.Optional;

/**
 * What a {@link MessageHandler} learns about the message it runs for.
 *
 * <p>{@link #epoch()} is the shard's lease epoch under which the claim was taken: a handler that
 * writes to an external system can pass it along to fence its own side effects (a write carrying an
 * older epoch than one already seen for the shard comes from a region that lost the shard).
 */
public interface ProcessingContext {

  /** The Tandem id (the header's, or the derived one under {@link MissingIdPolicy#DERIVE_FROM_PAYLOAD}). */
  String id();

  /** The shard (Kafka partition). */
  int shard();

  /**
   * The claim's attempt number in the store: 1 for the first try, k+1 after k earlier claims (a
   * failed try, a claim whose lease expired, a claim taken over); {@link #previousClaim()} says which.
   */
  int attempt();

  /** The shard lease epoch the claim was taken under (0 when shard leases are not used). */
  long epoch();

  /** The transport's own delivery count (Service Bus), or 1 when the transport has none. */
  int deliveryAttempt();

  /** The payload bytes (the same array the transport handed over; do not modify it). */
  byte[] payload();

  /** The transport message (a Kafka {@code ConsumerRecord}, ...), or null. */
  Object transportMessage();

  /**
   * Whether this claim was lost while the handler ran (its lease expired and another owner claimed
   * the id, or a takeover superseded it). Long handlers may check it to stop early; completing a lost
   * claim is still recorded (the side effect happened) and counted as {@code claims.lost}.
   */
  boolean claimLost();

  /**
   * The claim this attempt follows, if any: who held it, its attempt, and how it ended. Empty for the
   * first attempt. {@link ClaimResult.PreviousClaim.Reason#LEASE_EXPIRED} means its claimant died,
   * hung or was cut off, possibly inside this handler with its side effects done: this run may be a
   * duplicate (Tandem reports it: meter {@code tandem.consumer.reclaimed.expired} and a WARN). A
   * handler with side effects that are not idempotent can fence them on it (look the id up in the
   * target system first).
   */
  default Optional<ClaimResult.PreviousClaim> previousClaim() {
    return Optional.empty();
  }
}
