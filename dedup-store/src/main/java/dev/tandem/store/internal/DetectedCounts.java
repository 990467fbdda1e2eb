package dev.tandem.store.internal;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Detected cross-region duplicates among the records held, per (TTL bucket start, shard) as the
 * store persists them, and their sum (the {@code tandem.store.detected.duplicates} gauge). Kept per
 * bucket and shard so a bucket drop (TTL) or a shard drop (revoke) takes its records' counts with it.
 * Changed only after RocksDB accepted the change.
 */
public final class DetectedCounts {

  private final Map<Long, Map<Integer, AtomicLong>> counts = new ConcurrentHashMap<>();
  private final AtomicLong total = new AtomicLong();

  /** Adds {@code delta} to the count of (bucket, shard) and to the total. */
  public void add(long bucket, int shard, long delta) {
    counts.computeIfAbsent(bucket, x -> new ConcurrentHashMap<>())
        .computeIfAbsent(shard, x -> new AtomicLong()).addAndGet(delta);
    total.addAndGet(delta);
  }

  /** The shards with a count in {@code bucket} (to delete their persisted counts). */
  public Set<Integer> shardsOf(long bucket) {
    Map<Integer, AtomicLong> byShard = counts.get(bucket);
    return byShard == null ? Set.of() : Set.copyOf(byShard.keySet());
  }

  /** Forgets the counts of {@code shard}, in every bucket. */
  public void forgetShard(int shard) {
    forget(null, shard);
  }

  /** Forgets the counts of {@code bucket}, every shard. */
  public void forgetBucket(long bucket) {
    forget(bucket, null);
    counts.remove(bucket);
  }

  private void forget(Long bucket, Integer shard) {
    for (Map.Entry<Long, Map<Integer, AtomicLong>> b : counts.entrySet()) {
      if (bucket != null && !bucket.equals(b.getKey())) {
        continue;
      }
      for (Map.Entry<Integer, AtomicLong> e : b.getValue().entrySet()) {
        if (shard == null || shard.equals(e.getKey())) {
          total.addAndGet(-e.getValue().get());
          b.getValue().remove(e.getKey());
        }
      }
    }
  }

  /** The sum over every bucket and shard. */
  public long total() {
    return total.get();
  }

  /** The live sum, for a gauge. */
  public AtomicLong totalHolder() {
    return total;
  }
}
