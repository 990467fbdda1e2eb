package dev.tandem.consumer;

/**
 * Why a message went to the dead-letter path. The names are stable: they are the {@code reason} tag
 * of {@code tandem.consumer.dead.letters}, the {@code tandem-dlq-reason} header, and the reason stored
 * in the DEAD_LETTERED record.
 */
public enum DeadLetterReason {
  /** The same id was seen with another payload digest (sticky in the store, in every region). */
  CONFLICT,
  /** {@code tandem-published-at} is older than the record TTL minus a margin: its record may be gone. */
  STALE,
  /** The handler failed (or its claims expired) {@code maxAttempts} times. */
  MAX_ATTEMPTS,
  /** No {@code tandem-id} header and {@link MissingIdPolicy#REJECT}. */
  MISSING_ID,
  /** The envelope headers are present but missing a field, malformed or oversized. */
  MALFORMED_ENVELOPE,
  /** The payload does not hash to {@code tandem-digest}. */
  DIGEST_MISMATCH,
  /** Signatures are required and the message is unsigned, signed with an unknown key, or forged. */
  BAD_SIGNATURE,
  /**
   * A transport parked the copy for a later recheck (another region owns its shard, or another claim
   * was in progress) more often, or for longer, than its bound allows: the owner neither completed
   * the id nor was taken over in time. Not stored in the record (the id's fate is the owner's).
   */
  RECHECK_LIMIT
}
