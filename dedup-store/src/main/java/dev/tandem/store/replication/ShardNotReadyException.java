package dev.tandem.store.replication;

import dev.tandem.store.StoreException;
import java.time.Duration;

/**
 * A {@link ReplicatedStore} call for a shard this replica cannot answer for: the shard is not
 * materialised here, or its restore from the changelog did not finish within the wait. Never answered
 * from a half-read store; retry later (or route the message to the instance that owns the shard).
 */
public final class ShardNotReadyException extends StoreException {

  private static final long serialVersionUID = 1L;

  /** Why the shard cannot be served. */
  public enum Reason {
    /** This replica does not materialise the shard (never assigned, or revoked). */
    NOT_ASSIGNED,
    /** The shard is still being restored from the changelog. */
    RESTORING,
    /** The replication log was closed. */
    CLOSED
  }

  private final int shard;
  private final Reason reason;

  public ShardNotReadyException(int shard, Reason reason, Duration waited) {
    super("shard " + shard + " is not ready on this replica: " + describe(reason)
        + (waited.isZero() ? "" : " (waited " + waited.toMillis() + " ms)"));
    this.shard = shard;
    this.reason = reason;
  }

  private static String describe(Reason reason) {
    return switch (reason) {
      case NOT_ASSIGNED -> "not materialised here (assign it first)";
      case RESTORING -> "still restoring from the changelog";
      case CLOSED -> "the replication log is closed";
    };
  }

  /** The shard asked for. */
  public int shard() {
    return shard;
  }

  /** Why it is not ready. */
  public Reason reason() {
    return reason;
  }
}
