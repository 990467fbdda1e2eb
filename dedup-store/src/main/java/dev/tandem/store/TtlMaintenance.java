package dev.tandem.store;

import dev.tandem.core.TandemClock;
import dev.tandem.store.internal.DetectedCounts;
import dev.tandem.store.internal.TtlBuckets;
import java.util.List;
import java.util.Set;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;

/**
 * The TTL at work: drops every RocksDB bucket {@link TtlBuckets} says has expired, with its detected
 * duplicate counts, under the engine write lock alone (no operation in flight); the engine is never
 * scanned. Checked cheaply before every operation ({@link #maybeMaintain}: with the system clock no
 * clock read, a few volatile reads, {@link ExpiryWatch}), run at open for buckets that expired while
 * the store was closed.
 */
final class TtlMaintenance {

  private final RocksEngine engine;
  private final StoreLocks locks;
  private final TtlBuckets ttl;
  private final TandemClock clock;
  private final DetectedCounts detected;
  private final RecordCaches caches;
  private final ClaimSightings sightings;
  private final StoreMetrics metrics;
  private final ExpiryWatch watch;

  TtlMaintenance(RocksEngine engine, StoreLocks locks, TtlBuckets ttl, TandemClock clock,
      DetectedCounts detected, RecordCaches caches, ClaimSightings sightings, StoreMetrics metrics,
      ExpiryWatch watch) {
    this.engine = engine;
    this.locks = locks;
    this.ttl = ttl;
    this.clock = clock;
    this.detected = detected;
    this.caches = caches;
    this.sightings = sightings;
    this.metrics = metrics;
    this.watch = watch;
  }

  /**
   * Drops expired buckets if one may have expired. Cheap when none has: this runs before every
   * operation, the cache-hit check included, so with the system clock it reads no clock ({@link
   * ExpiryWatch}); the clock is read only when the watch says a bucket may be due.
   */
  void maybeMaintain() {
    if (watch.mayBeDue() && watch.dueNow()) {
      maintain();
    }
  }

  /** Drops every bucket whose records are all past the TTL. */
  void maintain() {
    locks.exclusive(() -> {
      if (locks.isClosed()) {
        return;
      }
      List<Long> expired =
          ttl.expired(engine.bucketsNewestFirst().keySet(), clock.wallMillis());
      for (long start : expired) {
        engine.dropBucket(start);
        metrics.bucketsDropped.increment();
        dropDetectedCounts(start);
      }
      if (!expired.isEmpty()) {
        // cached terminal records may have lived in a dropped bucket; the cache must not outlive
        // the TTL. Once per bucket width (a day by default), so the cost is a cold cache, rarely.
        caches.clear();
        sightings.prune(ttl.sightingMaxAgeNanos());
      }
      recomputeNextExpiry();
    });
  }

  /** The live buckets changed: the next expiry is the oldest's, and the waker is armed for it. */
  void recomputeNextExpiry() {
    ttl.recompute(engine.bucketsNewestFirst().isEmpty()
        ? null : engine.bucketsNewestFirst().lastKey());
    watch.rearm(clock.wallMillis());
  }

  /** The store closes: the waker stops. */
  void close() {
    watch.close();
  }

  /** The detected counts of a dropped bucket go with its records. Under the engine write lock. */
  private void dropDetectedCounts(long bucket) {
    Set<Integer> shards = detected.shardsOf(bucket);
    if (shards.isEmpty()) {
      return;
    }
    try (WriteBatch wb = new WriteBatch()) {
      for (int shard : shards) {
        wb.delete(engine.meta(), RocksEngine.detectedCountKey(bucket, shard));
      }
      engine.write(wb);
    } catch (RocksDBException e) {
      throw engine.failure("drop the detected counts of bucket " + bucket, e);
    }
    detected.forgetBucket(bucket);
  }
}
