package dev.tandem.consumer;

import java.util.Objects;

/**
 * A message on its way to the dead-letter path.
 *
 * @param id the Tandem id, or null when the message had none
 * @param reason why
 * @param detail a human-readable explanation (logged and carried as a header)
 * @param message the copy that was received, with its transport message
 */
public record DeadLetter(String id, DeadLetterReason reason, String detail, IncomingMessage message) {

  public DeadLetter {
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(detail, "detail");
    Objects.requireNonNull(message, "message");
  }
}
