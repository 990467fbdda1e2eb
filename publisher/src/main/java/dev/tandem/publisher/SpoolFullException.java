package dev.tandem.publisher;

import dev.tandem.core.RegionId;

/**
 * A copy for {@code region} had to be spooled but the spool is at its configured bound
 * ({@link DualPublisher.Builder#spoolMaxRecords} / {@link DualPublisher.Builder#spoolMaxBytes}). The
 * copy is <em>not</em> stored anywhere for that region: the publish fails with this exception as the
 * region's failure, so the caller knows and can retry later with the same id. Never a silent drop.
 */
public class SpoolFullException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final RegionId region;

  public SpoolFullException(RegionId region, String message) {
    super(message);
    this.region = region;
  }

  /** The region whose copy could not be spooled. */
  public RegionId region() {
    return region;
  }
}
