package dev.tandem.spring.kafka;

import java.time.Duration;
import java.util.Objects;

/**
 * Thrown by the Tandem listener wrapper when a record must be delivered again later and not
 * acknowledged now: its handler failed and was released (attempts below {@code maxAttempts}), another
 * claim is live, the shard is not restored yet or is being handed over, or its completion did not
 * reach the changelog in time. The installed error handler seeks back to it and waits {@link #after()}.
 */
public final class TandemRetryException extends RuntimeException {

  private static final long serialVersionUID = 1L;
  private final transient Duration after;

  /**
   * A record to deliver again after {@code after}.
   *
   * @param message what happened and to which record
   * @param after how long the error handler waits before the record is delivered again
   * @param cause the failure behind it, or {@code null}
   */
  public TandemRetryException(String message, Duration after, Throwable cause) {
    super(message, cause, false, false);
    this.after = Objects.requireNonNull(after, "after");
  }

  /** How long to wait before the record is delivered again. */
  public Duration after() {
    return after;
  }
}
