package dev.tandem.publisher;

import dev.tandem.core.RegionId;

/**
 * A region's copy was not sent to its broker because the region is failing or still catching up from
 * the spool (its circuit is open, or its spool is not empty); the copy was spooled instead. Appears as
 * a region's failure in a {@link PublishException} under {@link AckPolicy#ALL}.
 */
public class RegionUnavailableException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final RegionId region;

  public RegionUnavailableException(RegionId region, String message) {
    super(message);
    this.region = region;
  }

  /** The unavailable region. */
  public RegionId region() {
    return region;
  }
}
