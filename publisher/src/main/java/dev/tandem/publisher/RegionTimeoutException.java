package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.time.Duration;

/**
 * A region's broker did not acknowledge a copy within the publisher's timeout. The copy was spooled
 * (unless the spool was full) and is replayed when the region recovers.
 */
public class RegionTimeoutException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final RegionId region;

  public RegionTimeoutException(RegionId region, Duration timeout) {
    super("region " + region + " did not acknowledge within " + timeout);
    this.region = region;
  }

  /** The region that timed out. */
  public RegionId region() {
    return region;
  }
}
