package dev.tandem.core;

import java.util.Objects;

/**
 * An envelope could not be read from a message: a header is missing, malformed or oversized. Carries
 * a {@link Reason} so consumers can route to a dead-letter path and count by reason.
 */
public final class EnvelopeException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** Why the envelope was refused; stable names, used as metric tags and dead-letter reasons. */
  public enum Reason {
    /** The {@code tandem-id} header is absent. */
    MISSING_ID,
    /** Another required header ({@code tandem-digest}, {@code tandem-shard}, ...) is absent. */
    MISSING_HEADER,
    /** A header is present but does not parse (wrong length, not a number, bad encoding). */
    MALFORMED_HEADER,
    /** The id or a header value is longer than its limit. */
    OVERSIZED,
    /** The payload does not hash to the digest the envelope carries. */
    DIGEST_MISMATCH
  }

  private final Reason reason;
  private final String header;

  public EnvelopeException(Reason reason, String header, String message) {
    super(message);
    this.reason = Objects.requireNonNull(reason, "reason");
    this.header = header;
  }

  /** Why the envelope was refused. */
  public Reason reason() {
    return reason;
  }

  /** The header concerned, or {@code null} when the problem is not one header's. */
  public String header() {
    return header;
  }
}
