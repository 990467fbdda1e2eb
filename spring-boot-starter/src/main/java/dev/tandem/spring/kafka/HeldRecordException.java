package dev.tandem.spring.kafka;

/**
 * Thrown by the Tandem listener wrapper for a follower's record whose shard another region owns and
 * whose id is not completed yet: the record must not be acknowledged. The error handler that {@link
 * TandemListenerContainers#apply} installs never recovers it: it seeks the partition back to it and
 * delivers it again after a back-off of at most {@code 200 ms} that the owner's completion applied in
 * this region's store ends early ({@link #id()} is the id watched), until the owner's completion has replicated (then it is
 * acknowledged without the listener) or this region took the shard over (then the listener runs).
 */
public final class HeldRecordException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** The held record's Tandem id. */
  private final String id;

  /**
   * A held record of {@code topic}-{@code partition} at {@code offset} with Tandem id {@code id},
   * whose shard region {@code owner} owns.
   */
  public HeldRecordException(String topic, int partition, long offset, String id, String owner) {
    super("held: " + topic + "-" + partition + "@" + offset + " (id " + id + ") belongs to shard "
        + partition + " owned by " + owner + "; acknowledged once completed there or taken over",
        null, false, false);
    this.id = id;
  }

  /** The held record's Tandem id (the id whose completion releases it). */
  public String id() {
    return id;
  }
}
