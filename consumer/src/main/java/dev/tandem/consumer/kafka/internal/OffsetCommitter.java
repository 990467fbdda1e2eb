package dev.tandem.consumer.kafka.internal;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The barrier-gated offset commit. An owner's batch makes its offset <em>due</em> together with the
 * shard's changelog barrier ({@code barrier(shard, own region)}); the offset is committed only once
 * that barrier completed — the batch's claims and completions are in the own region's changelog, so
 * whoever reads the partition from that offset finds them. A barrier that failed drops its offset (a
 * later batch of the shard brings a new barrier and offset). A follower's acknowledgements are due at
 * once (nothing of theirs is written here). Each commit carries the metadata {@link CommitMetadata}
 * gives (a previous holder's hand-off token while it is awaited), and no commit is made while that
 * metadata is unknown (a commit then would erase the token). Loop thread only.
 */
public final class OffsetCommitter {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.kafka.TandemKafkaConsumer.class);

  /** What a commit of a partition carries, and whether that is known yet. */
  public interface CommitMetadata {
    /** None: every commit carries empty metadata. */
    CommitMetadata NONE = new CommitMetadata() {
      @Override
      public boolean known(TopicPartition tp) {
        return true;
      }

      @Override
      public String metadata(TopicPartition tp) {
        return "";
      }
    };

    /** False while a commit of {@code tp} now could erase metadata not read yet. */
    boolean known(TopicPartition tp);

    /** The metadata a commit of {@code tp} carries. */
    String metadata(TopicPartition tp);
  }

  /** An offset to commit once the shard's changelog writes so far are acknowledged locally. */
  private record Pending(long offset, CompletableFuture<Void> barrier) {}

  private final LoopContext ctx;
  private final Duration commitTimeout;
  private final CommitMetadata metadata;
  private final Map<TopicPartition, Pending> pending = new HashMap<>();
  /** Last offset this instance committed, per assigned partition. */
  private final Map<TopicPartition, Long> committedOffsets = new HashMap<>();

  public OffsetCommitter(LoopContext ctx, Duration commitTimeout, CommitMetadata metadata) {
    this.ctx = ctx;
    this.commitTimeout = commitTimeout;
    this.metadata = metadata;
  }

  /** {@code offset} of {@code tp} is committed once {@code barrier} completes (it replaces one due). */
  public void due(TopicPartition tp, long offset, CompletableFuture<Void> barrier) {
    pending.put(tp, new Pending(offset, barrier));
  }

  /** {@code offset} of {@code tp} is committed at the next commit (nothing to wait for). */
  public void dueNow(TopicPartition tp, long offset) {
    due(tp, offset, CompletableFuture.completedFuture(null));
  }

  /** Whether a commit of {@code tp} is due. */
  public boolean hasDue(TopicPartition tp) {
    return pending.containsKey(tp);
  }

  /** How many partitions have an offset due. */
  public int dueCount() {
    return pending.size();
  }

  /** The barriers of the offsets due (a revoke waits for them together). */
  public List<CompletableFuture<?>> dueBarriers() {
    List<CompletableFuture<?>> barriers = new ArrayList<>();
    pending.values().forEach(p -> barriers.add(p.barrier()));
    return barriers;
  }

  /** The last offset this instance committed of {@code tp}, or null. */
  public Long committed(TopicPartition tp) {
    return committedOffsets.get(tp);
  }

  /**
   * {@code tp} given up: an offset of it is never committed later (it would overwrite the next
   * holder's commits and hand-off token).
   */
  public void forget(TopicPartition tp) {
    pending.remove(tp);
    committedOffsets.remove(tp);
  }

  /** Lost partitions: their offsets due are dropped (the group gave them away already). */
  public void dropDue(Collection<TopicPartition> partitions) {
    pending.keySet().removeAll(partitions);
  }

  /** Commits offsets whose barrier completed (or waits for them, bounded, when {@code all}). */
  public void commitDue(boolean all) {
    commitDue(all ? commitTimeout : null, commitTimeout);
  }

  /**
   * Waits up to {@code barrierWait} for all due barriers together (one wait, not one per partition;
   * null: no wait, and offsets not yet acknowledged stay due silently), then commits the offsets
   * whose barrier completed, waiting up to {@code commitWait}.
   */
  public void commitDue(Duration barrierWait, Duration commitWait) {
    if (barrierWait != null) {
      awaitAll(dueBarriers(), barrierWait);
    }
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    var it = pending.entrySet().iterator();
    while (it.hasNext()) {
      var e = it.next();
      CompletableFuture<Void> b = e.getValue().barrier();
      if (barrierWait != null && !b.isDone()) {
        log.warn("changelog barrier of {} not reached; its offset stays uncommitted", e.getKey());
        continue;
      }
      if (!metadata.known(e.getKey())) {
        // the previous holder's token is not read yet: a commit now would erase it; stay due
        continue;
      }
      if (b.isDone() && !b.isCompletedExceptionally()) {
        offsets.put(e.getKey(),
            new OffsetAndMetadata(e.getValue().offset(), metadata.metadata(e.getKey())));
        it.remove();
      } else if (b.isCompletedExceptionally()) {
        it.remove(); // a later batch of this shard brings a new barrier and offset
      }
    }
    if (!offsets.isEmpty()) {
      try {
        ctx.consumer().commitSync(offsets, commitWait);
        offsets.forEach((tp, om) -> committedOffsets.put(tp, om.offset()));
      } catch (WakeupException ex) {
        // close() woke the consumer: these offsets are acknowledged and stay due; the stop's final
        // commit makes them (a newer due offset of the same partition supersedes one)
        offsets.forEach((tp, om) -> pending.putIfAbsent(tp,
            new Pending(om.offset(), CompletableFuture.completedFuture(null))));
        throw ex;
      } catch (KafkaException ex) {
        log.warn("offset commit failed; records may be redelivered (and skipped)", ex);
      }
    }
  }

  /**
   * The stop's last step: commits every acknowledged offset (waiting for their barriers, bounded).
   * close() wakes the consumer once to end a blocking poll; if the loop was not inside a blocking
   * call then, the wakeup is latched and fires in the next one — this commit, or a commit of the
   * loop's last turn (whose offsets {@link #commitDue} then keeps due). A wakeup is one-shot, so the
   * commit is made again: a clean stop commits what is acknowledged and prints no stack trace. A
   * real failure (the broker gone) is one WARN line; the next holder reads those records again and
   * skips them as completed.
   */
  public void finalCommit() {
    for (int attempt = 1; ; attempt++) {
      try {
        commitDue(true);
        return;
      } catch (WakeupException e) {
        if (attempt >= 3) {
          log.warn("Tandem {}: final commit woken {} times; {} offset(s) stay uncommitted (their "
              + "records are skipped as completed when read again)", ctx.region(), attempt,
              pending.size());
          return;
        }
      } catch (RuntimeException e) {
        log.warn("Tandem {}: final commit failed ({}); {} offset(s) stay uncommitted (their records "
            + "are skipped as completed when read again)", ctx.region(), e.toString(), pending.size());
        return;
      }
    }
  }

  /**
   * A previous holder's token awaited for {@code tp} is no longer needed: commits the partition's
   * offset again without it at once (not with the next processed records, which may be long in
   * coming), so no later holder waits for it again. Best effort: if it fails, the next commit of the
   * partition drops the token. {@code tokenOffset}: the offset the token was committed at.
   */
  public void commitWithoutToken(TopicPartition tp, long tokenOffset) {
    if (pending.containsKey(tp)) {
      return; // a commit of this partition is due anyway, without the token
    }
    // follower acknowledgements may have committed past the token's offset meanwhile
    long offset = committedOffsets.getOrDefault(tp, tokenOffset);
    try {
      ctx.consumer().commitSync(Map.of(tp, new OffsetAndMetadata(offset, "")), commitTimeout);
      committedOffsets.put(tp, offset);
    } catch (WakeupException e) {
      throw e;
    } catch (KafkaException e) {
      log.warn("Tandem {}: hand-off token of {} not cleared ({}); the next commit clears it",
          ctx.region(), tp, e.toString());
    }
  }

  /** Waits until every future is done (normally or not), or {@code timeout} passed. */
  static void awaitAll(List<CompletableFuture<?>> futures, Duration timeout) {
    if (futures.isEmpty() || timeout.toNanos() <= 0) {
      return;
    }
    CompletableFuture<?>[] settled = futures.stream()
        .map(f -> f.handle((v, e) -> null)).toArray(CompletableFuture[]::new);
    try {
      CompletableFuture.allOf(settled).get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException | ExecutionException e) {
      // the callers look at each future's state
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
