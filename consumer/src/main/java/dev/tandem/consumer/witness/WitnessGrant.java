package dev.tandem.consumer.witness;

import dev.tandem.core.RegionId;

/**
 * The witness's answer to {@link TakeoverWitness#acquire}.
 *
 * @param granted whether the candidate holds the lease now
 * @param holder the region holding the lease ({@code null} when unknown or free)
 * @param epoch the shard epoch recorded with the lease
 * @param validUntilNanos for a grant: the caller's monotonic {@code System.nanoTime()} after which it
 *     must stop trusting the lease unless renewed; 0 for a refusal
 */
public record WitnessGrant(boolean granted, RegionId holder, long epoch, long validUntilNanos) {

  /** A grant to {@code holder} until {@code validUntilNanos}. */
  public static WitnessGrant granted(RegionId holder, long epoch, long validUntilNanos) {
    return new WitnessGrant(true, holder, epoch, validUntilNanos);
  }

  /** A refusal; {@code holder} may be null when the witness does not say who holds it. */
  public static WitnessGrant refused(RegionId holder, long epoch) {
    return new WitnessGrant(false, holder, epoch, 0L);
  }

  /** Whether this grant is still to be trusted at monotonic time {@code nowNanos}. */
  public boolean validAt(long nowNanos) {
    return granted && nowNanos - validUntilNanos < 0;
  }
}
