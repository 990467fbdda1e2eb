package dev.tandem.publisher;

import dev.tandem.core.RegionId;

/**
 * A spooled copy for {@code region} could not be replayed: its spool record was corrupt when the
 * replayer read it (it does not decode). The replayer counts it ({@code tandem.publisher.spool.corrupt}),
 * logs it and removes it from the spool, so the copy is <em>not</em> delivered: its delivery future
 * ({@link PublishException#delivery}, {@link PublishResult#delivery}) completes exceptionally with this
 * exception. A caller that still has the message (the changelog writer does) must publish it again.
 */
public class SpoolRecordCorruptException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final RegionId region;
  private final long spoolSeq;

  public SpoolRecordCorruptException(RegionId region, long spoolSeq, Throwable cause) {
    super("the spooled copy (spool seq " + spoolSeq + ") for region " + region
        + " is corrupt and was removed from the spool without being delivered", cause);
    this.region = region;
    this.spoolSeq = spoolSeq;
  }

  /** The region the copy was spooled for. */
  public RegionId region() {
    return region;
  }

  /** The copy's sequence in the spool. */
  public long spoolSeq() {
    return spoolSeq;
  }
}
