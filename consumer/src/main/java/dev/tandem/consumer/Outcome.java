package dev.tandem.consumer;

import dev.tandem.store.Phase;
import java.time.Duration;
import java.util.Objects;

/**
 * What {@link OnceProcessor} did with one message. Transports map it: {@link #settled()} outcomes are
 * acknowledged (Kafka: the offset may be committed; Service Bus: complete), {@link RetryLater} is
 * redelivered (Kafka: seek back; Service Bus: abandon or reschedule).
 */
public sealed interface Outcome {

  /** The message's id, or null when it had none (rejected before an id was known). */
  String id();

  /** Whether the transport may acknowledge the message now. */
  default boolean settled() {
    return !(this instanceof RetryLater);
  }

  /** The handler ran and the id is COMPLETED (in this store; replication carries it on). */
  record Processed(String id, int attempt, long epoch, boolean claimLost) implements Outcome {}

  /** The id was already terminal: the handler did not run. Counted as a suppressed duplicate. */
  record Skipped(String id, Phase phase) implements Outcome {}

  /** Not now: redeliver later (no handler ran to completion, nothing was decided). */
  record RetryLater(String id, RetryReason reason, Duration after, String detail) implements Outcome {
    public RetryLater {
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(after, "after");
    }
  }

  /** The message went to the dead-letter path (and its record, when it has an id, is DEAD_LETTERED). */
  record DeadLettered(String id, DeadLetterReason reason, String detail) implements Outcome {
    public DeadLettered {
      Objects.requireNonNull(reason, "reason");
    }
  }

  /** No id and {@link MissingIdPolicy#PASS_THROUGH}: the handler ran without the store. */
  record PassedThrough(String id) implements Outcome {}

  /** Why a message is to be redelivered. */
  enum RetryReason {
    /** Another owner (or another thread of this instance) holds a live claim: try later, not a duplicate. */
    IN_PROGRESS,
    /** The handler threw; the claim was released, the next delivery is the next attempt. */
    HANDLER_FAILED,
    /** This instance no longer owns the shard under the epoch it was asked to process with. */
    FENCED,
    /** The dead-letter sink failed; the decision is stored, the next delivery sends it again. */
    DEAD_LETTER_FAILED,
    /**
     * The batch's claims did not reach the own region's changelog in time (the own broker is slow or
     * down): the handler did not run, since a takeover could not count a claim in no changelog. The
     * claim is kept; the next delivery to this processor resumes it as the same attempt.
     */
    CLAIMS_NOT_DURABLE,
    /** The processor is closed: nothing was claimed. */
    CLOSED
  }
}
