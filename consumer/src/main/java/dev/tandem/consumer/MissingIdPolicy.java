package dev.tandem.consumer;

/**
 * What {@link OnceProcessor} does with a message that carries no {@code tandem-id} header. A message
 * whose envelope is present but malformed (bad digest, oversized id, missing shard, ...) is always
 * dead-lettered, whatever this policy says: a half-read envelope is never guessed at.
 */
public enum MissingIdPolicy {
  /** Route it to the dead-letter path with reason {@link DeadLetterReason#MISSING_ID} (default). */
  REJECT,
  /**
   * Give it the id {@code sha256:<hex of the payload digest>}: two copies with the same bytes are then
   * one message. Staleness cannot be judged (no publish time) and is not checked.
   */
  DERIVE_FROM_PAYLOAD,
  /**
   * Run the handler without asking the store: no once-guarantee for such messages, but none is lost
   * either. Counted as {@code outcome=passed_through}.
   */
  PASS_THROUGH
}
