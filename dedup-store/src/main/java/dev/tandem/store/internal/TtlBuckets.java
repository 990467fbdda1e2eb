package dev.tandem.store.internal;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The TTL of the store as time buckets: records live in buckets of {@code bucketWidthMillis} (by
 * their head's write time) that are dropped whole once every record in them is past the TTL, so the
 * engine is never scanned for expired records. Pure arithmetic plus the next expiry instant; the
 * store owns the buckets themselves (RocksDB column families).
 *
 * <p>A record therefore lives between {@code ttl} and {@code ttl + bucketWidth} after its head's
 * write: bucket {@code s} holds heads written in {@code [s, s + width)} and is dropped at {@code s +
 * width + ttl}.
 */
public final class TtlBuckets {

  /** {@link #target}'s answer for a record that is not stored and already past its TTL. */
  public static final long EXPIRED = Long.MIN_VALUE;

  private final long ttlMillis;
  private final long bucketWidthMillis;
  /** Wall millis at which the oldest bucket expires; Long.MAX_VALUE when there is none. */
  private final AtomicLong nextExpiryAt = new AtomicLong(Long.MAX_VALUE);

  public TtlBuckets(long ttlMillis, long bucketWidthMillis) {
    if (ttlMillis <= 0 || bucketWidthMillis <= 0) {
      throw new IllegalArgumentException(
          "ttl and bucket width must be positive, got " + ttlMillis + " / " + bucketWidthMillis);
    }
    this.ttlMillis = ttlMillis;
    this.bucketWidthMillis = bucketWidthMillis;
  }

  public long ttlMillis() {
    return ttlMillis;
  }

  public long bucketWidthMillis() {
    return bucketWidthMillis;
  }

  /** The start of the bucket holding heads written at {@code wallMillis}. */
  public long startOf(long wallMillis) {
    return Math.floorDiv(wallMillis, bucketWidthMillis) * bucketWidthMillis;
  }

  /** When the bucket starting at {@code start} expires: its newest record is then past the TTL. */
  public long expiresAt(long start) {
    return start + bucketWidthMillis + ttlMillis;
  }

  public boolean isExpired(long start, long nowMillis) {
    return expiresAt(start) <= nowMillis;
  }

  /** The buckets among {@code starts} that have expired at {@code nowMillis}, in the given order. */
  public List<Long> expired(Collection<Long> starts, long nowMillis) {
    List<Long> out = new ArrayList<>();
    for (long start : starts) {
      if (isExpired(start, nowMillis)) {
        out.add(start);
      }
    }
    return out;
  }

  /**
   * The bucket a record goes to: the bucket of its head's write time, clamped to [the bucket it is
   * in now, the current bucket] — a record never moves to an older bucket, and a remote clock far
   * ahead cannot create future buckets. {@link #EXPIRED} for a record not stored ({@code
   * storedBucket} null) whose bucket has already expired: it is past its TTL and is not stored.
   */
  public long target(long writtenAtMillis, Long storedBucket, long nowMillis) {
    return storedBucket == null
        ? target(writtenAtMillis, false, 0, nowMillis)
        : target(writtenAtMillis, true, storedBucket, nowMillis);
  }

  /**
   * {@link #target(long, Long, long)} without a boxed bucket (the store's write path): {@code
   * storedBucket} is read only if {@code stored}.
   */
  public long target(long writtenAtMillis, boolean stored, long storedBucket, long nowMillis) {
    long target = Math.min(startOf(writtenAtMillis), startOf(nowMillis));
    if (stored) {
      return Math.max(target, storedBucket);
    }
    return isExpired(target, nowMillis) ? EXPIRED : target;
  }

  /** Whether a bucket may have expired at {@code nowMillis} (cheap: one volatile read). */
  public boolean due(long nowMillis) {
    return nowMillis >= nextExpiryAt.get();
  }

  /** A bucket was created: keep the earliest expiry of them all (concurrent writers may create). */
  public void created(long start) {
    nextExpiryAt.accumulateAndGet(expiresAt(start), Math::min);
  }

  /** The live buckets changed (drops, open): the next expiry is the oldest's, or none. */
  public void recompute(Long oldestStart) {
    nextExpiryAt.set(oldestStart == null ? Long.MAX_VALUE : expiresAt(oldestStart));
  }

  /** Wall millis at which the oldest bucket expires; {@link Long#MAX_VALUE} when there is none. */
  public long nextExpiryAt() {
    return nextExpiryAt.get();
  }

  /** How long a claim sighting may matter: past this its record has expired by TTL. */
  public long sightingMaxAgeNanos() {
    return TimeUnit.MILLISECONDS.toNanos(ttlMillis + bucketWidthMillis);
  }
}
