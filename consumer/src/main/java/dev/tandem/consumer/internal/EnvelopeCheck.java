package dev.tandem.consumer.internal;

import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.core.Envelope;
import java.util.Objects;

/**
 * What {@link EnvelopeChecker} found on one received copy, before any store access: exactly one of
 * {@link Valid} (claim it), {@link Reject} (dead-letter it without touching the store) or {@link
 * PassThrough} (no id, and the policy lets it through unclaimed).
 */
public sealed interface EnvelopeCheck
    permits EnvelopeCheck.Valid, EnvelopeCheck.Reject, EnvelopeCheck.PassThrough {

  /** The copy checked. */
  IncomingMessage message();

  /**
   * The envelope checked out: digest matches the payload, the signature verifies (when required), the
   * shard is the one the copy arrived on.
   *
   * @param derived whether the id was derived from the payload ({@code MissingIdPolicy.DERIVE_FROM_PAYLOAD})
   */
  record Valid(IncomingMessage message, Envelope envelope, boolean derived)
      implements EnvelopeCheck {
    public Valid {
      Objects.requireNonNull(message, "message");
      Objects.requireNonNull(envelope, "envelope");
    }
  }

  /**
   * The copy goes to the dead-letter path as it is; its record is not touched.
   *
   * @param id the copy's id when it could be read safely, else null
   */
  record Reject(IncomingMessage message, String id, DeadLetterReason reason, String detail)
      implements EnvelopeCheck {
    public Reject {
      Objects.requireNonNull(message, "message");
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(detail, "detail");
    }
  }

  /** No {@code tandem-id} and {@code MissingIdPolicy.PASS_THROUGH}: the handler runs, unclaimed. */
  record PassThrough(IncomingMessage message) implements EnvelopeCheck {
    public PassThrough {
      Objects.requireNonNull(message, "message");
    }
  }
}
