package dev.tandem.consumer.kafka.internal;

import dev.tandem.core.PayloadDigest;
import dev.tandem.store.RecordKey;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * The records {@code TandemConsumerInterceptor} passed on and whose completion waits for a commit
 * past them: per partition in offset order, at most {@code max} in all. Bounded: the oldest record of
 * the least recently fed partition is evicted first (a partition revoked without a commit stops being
 * fed, so its stale records go first). A record at or below the last tracked offset of its partition
 * replaces what follows it (the partition was read again from an earlier position). Not thread-safe
 * (the interceptor's calls are serialised).
 */
public final class PassedRecords {

  /** A passed record waiting for a commit past it ({@code digest} null: none usable). */
  public record Passed(long offset, RecordKey key, PayloadDigest digest) {}

  private final int max;
  private int size;
  /** In order of the last append (re-put on each): the first entry is the least recently fed. */
  private final LinkedHashMap<TopicPartition, ArrayDeque<Passed>> byPartition = new LinkedHashMap<>();
  /** The partition of the last add: the last entry of byPartition while it is still mapped. */
  private TopicPartition lastFed;

  public PassedRecords(int max) {
    if (max <= 0) {
      throw new IllegalArgumentException("max tracked must be > 0, got " + max);
    }
    this.max = max;
  }

  /** The bound. */
  public int max() {
    return max;
  }

  /** Records tracked now. */
  public int size() {
    return size;
  }

  /** Appends {@code p}; returns the evicted record if the bound was reached, else null. */
  public Passed add(TopicPartition tp, Passed p) {
    ArrayDeque<Passed> q = tp.equals(lastFed) ? byPartition.get(tp) : null;
    if (q == null) {
      // a partition other than the last one fed (or its queue was emptied and dropped since): move
      // it to the end of the order. A poll feeds a partition's records in a row, so this runs once
      // per partition and poll, not once per record (a remove + put allocates a map entry).
      q = byPartition.remove(tp);
      if (q == null) {
        q = new ArrayDeque<>();
      }
      byPartition.put(tp, q); // now the most recently fed
      lastFed = tp;
    }
    // else: tp is still the most recently fed (the last put; nothing re-put since), already last
    // a record at or below the last tracked offset: the partition was re-read from an earlier
    // position (a seek, or a rebalance that gave it back): what follows it is read again too
    while (!q.isEmpty() && q.peekLast().offset() >= p.offset()) {
      q.pollLast();
      size--;
    }
    q.addLast(p);
    size++;
    Passed evicted = null;
    if (size > max) {
      Iterator<Map.Entry<TopicPartition, ArrayDeque<Passed>>> it = byPartition.entrySet().iterator();
      Map.Entry<TopicPartition, ArrayDeque<Passed>> eldest = it.next();
      evicted = eldest.getValue().pollFirst();
      size--;
      if (eldest.getValue().isEmpty()) {
        it.remove();
      }
    }
    return evicted;
  }

  /** Adds to {@code out} the records of {@code tp} below {@code offset}; whether there were any. */
  public boolean collectBelow(TopicPartition tp, long offset, List<Passed> out) {
    ArrayDeque<Passed> q = byPartition.get(tp);
    if (q == null) {
      return false;
    }
    boolean any = false;
    for (Passed p : q) {
      if (p.offset() >= offset) {
        break;
      }
      out.add(p);
      any = true;
    }
    return any;
  }

  /** Forgets the records of {@code tp} below {@code offset}. */
  public void removeBelow(TopicPartition tp, long offset) {
    ArrayDeque<Passed> q = byPartition.get(tp);
    if (q == null) {
      return;
    }
    while (!q.isEmpty() && q.peekFirst().offset() < offset) {
      q.pollFirst();
      size--;
    }
    if (q.isEmpty()) {
      byPartition.remove(tp);
    }
  }
}
