package dev.tandem.store.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** TTL buckets without RocksDB: placement, expiry and the next expiry instant, on a ManualClock. */
class TtlBucketsTest {

  static final long DAY = Duration.ofDays(1).toMillis();
  final ManualClock clock = new ManualClock(100 * DAY + 5);
  final TtlBuckets ttl = new TtlBuckets(7 * DAY, DAY);

  @Test
  void aRecordLivesBetweenTtlAndTtlPlusOneBucketAfterItsWrite() {
    long written = clock.wallMillis();
    long bucket = ttl.target(written, null, clock.wallMillis());
    assertEquals(100 * DAY, bucket);
    clock.setWallMillis(written + 7 * DAY);
    assertFalse(ttl.isExpired(bucket, clock.wallMillis()), "not at ttl after the write");
    clock.setWallMillis(bucket + DAY + 7 * DAY - 1);
    assertFalse(ttl.isExpired(bucket, clock.wallMillis()), "not before the bucket's newest is past");
    clock.setWallMillis(bucket + DAY + 7 * DAY);
    assertTrue(ttl.isExpired(bucket, clock.wallMillis()), "at ttl + width after the bucket start");
    assertTrue(clock.wallMillis() - written <= 8 * DAY);
  }

  @Test
  void aRecordNeverMovesToAnOlderBucketNorIntoTheFuture() {
    long now = clock.wallMillis();
    assertEquals(100 * DAY, ttl.target(now - 3 * DAY, 100 * DAY, now), "not older than it is");
    assertEquals(100 * DAY, ttl.target(now + 30 * DAY, null, now), "a remote clock ahead");
    assertEquals(97 * DAY, ttl.target(now - 3 * DAY, null, now), "an older write, not stored yet");
  }

  @Test
  void anUnstoredRecordWhoseBucketExpiredIsNotStored() {
    long now = clock.wallMillis();
    assertEquals(TtlBuckets.EXPIRED, ttl.target(now - 9 * DAY, null, now));
    assertEquals(100 * DAY, ttl.target(now - 9 * DAY, 100 * DAY, now), "a stored one stays");
  }

  @Test
  void theNextExpiryFollowsTheOldestBucket() {
    assertFalse(ttl.due(Long.MAX_VALUE - 1), "no bucket: never due");
    ttl.created(100 * DAY);
    ttl.created(98 * DAY);
    ttl.created(99 * DAY); // concurrent creators: the earliest expiry wins
    assertEquals(98 * DAY + DAY + 7 * DAY, ttl.nextExpiryAt());
    assertFalse(ttl.due(clock.wallMillis()));
    clock.setWallMillis(106 * DAY);
    assertTrue(ttl.due(clock.wallMillis()));
    assertEquals(List.of(98 * DAY), ttl.expired(List.of(100 * DAY, 99 * DAY, 98 * DAY),
        clock.wallMillis()));
    ttl.recompute(99 * DAY);
    assertFalse(ttl.due(clock.wallMillis()));
    ttl.recompute(null);
    assertEquals(Long.MAX_VALUE, ttl.nextExpiryAt());
  }

  @Test
  void bucketStartsFloorNegativeTimesToo() {
    assertEquals(-DAY, ttl.startOf(-1));
    assertEquals(0, ttl.startOf(DAY - 1));
  }

  @Test
  void sightingsMatterForTtlPlusOneBucket() {
    assertEquals(Duration.ofDays(8).toNanos(), ttl.sightingMaxAgeNanos());
  }

  @Test
  void nonPositiveFiguresAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new TtlBuckets(0, DAY));
    assertThrows(IllegalArgumentException.class, () -> new TtlBuckets(DAY, 0));
  }
}
