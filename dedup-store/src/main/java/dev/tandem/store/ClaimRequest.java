package dev.tandem.store;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemIds;
import java.time.Duration;
import java.util.Objects;

/** One claim of a {@link IdempotencyStore#claimAll batch}: the arguments of {@code claim}. */
public record ClaimRequest(String id, int shard, PayloadDigest digest, long epoch, Duration lease) {

  /** Validates the id (at most 128 characters), shard, epoch and a positive lease. */
  public ClaimRequest {
    TandemIds.validate(id);
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    Objects.requireNonNull(digest, "digest");
    if (epoch < 0) {
      throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
    }
    Objects.requireNonNull(lease, "lease");
    if (lease.isNegative() || lease.isZero()) {
      throw new IllegalArgumentException("a claim lease must be positive, got " + lease);
    }
  }
}
