package dev.tandem.consumer.kafka.internal;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.kafka.common.TopicPartition;

/**
 * Partitions paused until a time: a record to retry (handler failed, in progress elsewhere), a batch
 * whose processing failed, a shard without room in the replication window, a hand-off marker not
 * read yet. The partition is sought back to the record to read again and paused; {@link #resumeDue}
 * resumes it once its time came, unless something else still keeps it paused (a follower's hold).
 * Loop thread only.
 */
public final class PartitionPauses {

  private final LoopContext ctx;
  /** Per paused partition, the monotonic time it may be resumed. */
  private final Map<TopicPartition, Long> resumeAtNanos = new HashMap<>();

  public PartitionPauses(LoopContext ctx) {
    this.ctx = ctx;
  }

  /** Seeks {@code tp} back to {@code offset} and pauses it until {@code atNanos} (monotonic). */
  public void pauseUntil(TopicPartition tp, long offset, long atNanos) {
    ctx.consumer().seek(tp, offset);
    ctx.consumer().pause(List.of(tp));
    resumeAtNanos.put(tp, atNanos);
  }

  /**
   * Resumes the partitions whose time came and that {@code mayResume} (still assigned, not held by
   * the follower side: a held partition stays paused until its hold ends).
   */
  public void resumeDue(Predicate<TopicPartition> mayResume) {
    long now = ctx.clock().nanoTime();
    var it = resumeAtNanos.entrySet().iterator();
    while (it.hasNext()) {
      var e = it.next();
      if (now - e.getValue() >= 0) {
        it.remove();
        if (mayResume.test(e.getKey())) {
          ctx.consumer().resume(List.of(e.getKey()));
        }
      }
    }
  }

  /**
   * The earliest monotonic time a paused partition may be resumed, or {@link Long#MAX_VALUE} when
   * none waits. The poll loop polls no longer than until then: a blocking poll whose fetchable
   * partitions are idle waits its whole timeout, so a record to retry after 50 ms would otherwise be
   * re-read only after the next full poll timeout (issue 20).
   */
  public long nextResumeNanos() {
    long next = Long.MAX_VALUE;
    for (long at : resumeAtNanos.values()) {
      if (next == Long.MAX_VALUE || at - next < 0) {
        next = at;
      }
    }
    return next;
  }

  /** Whether {@code tp} waits for its time to be resumed. */
  public boolean isPaused(TopicPartition tp) {
    return resumeAtNanos.containsKey(tp);
  }

  /** A partition given up: no resume of it later. */
  public void forget(TopicPartition tp) {
    resumeAtNanos.remove(tp);
  }
}
