package dev.tandem.publisher;

import dev.tandem.core.RegionId;

/**
 * A {@link RegionalSink} refused a copy for a reason that replaying cannot cure (the message is too
 * large, malformed, or its destination does not accept it). Such a copy is not spooled: the publish
 * fails with a {@link PublishException} carrying this exception, and the region's circuit is not
 * charged for it (the region is healthy; the message is not).
 */
public class MessageRejectedException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final RegionId region;

  public MessageRejectedException(RegionId region, String message, Throwable cause) {
    super(region + " rejected the message: " + message, cause);
    this.region = region;
  }

  /** The region that rejected the copy. */
  public RegionId region() {
    return region;
  }
}
