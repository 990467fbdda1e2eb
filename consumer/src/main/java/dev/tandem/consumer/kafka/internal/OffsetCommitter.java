package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RetriableCommitFailedException;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.errors.OffsetMetadataTooLarge;
import org.apache.kafka.common.errors.RetriableException;
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
 *
 * <h2>Sent without waiting in the loop's turns, waited for where waiting is the point</h2>
 * A turn's commit ({@link #commitDue(boolean) commitDue(false)}) is sent with {@code commitAsync}:
 * the records of the next turn no longer wait one coordinator round trip per turn (issue 20: the
 * owner's turn is on the follower's added latency). The revoke ({@link #commitDue(Duration,
 * Duration)}), the stop's {@link #finalCommit} and {@link #commitWithoutToken} stay {@code
 * commitSync}: there the caller needs the answer (a hand-off token committed as the partition's last
 * commit, at or below the offset the group has; everything acknowledged committed before the stop
 * returns). On the consumer protocol {@code commitAsync} does wait, but only for the client's network
 * thread to take the commit event, not for the coordinator. What that relies on, read
 * in kafka-clients 4.1 ({@code ConsumerCoordinator} for the classic group protocol, this project's
 * default; {@code AsyncKafkaConsumer} / {@code CommitRequestManager} for {@code
 * group.protocol=consumer}):
 * <ul>
 *   <li><b>Order.</b> Commits go to the one group coordinator in the order they are made, and an
 *       async commit is never retried by the client (a retry could land after a newer commit).
 *       {@code commitSync} returns only after the callbacks of every async commit made before it
 *       ran (classic: the coordinator answers a connection's requests in order and the client runs
 *       the completed callbacks before it returns, also for an empty map; consumer protocol: it
 *       awaits the last pending async commit first). So a blocking commit made after async ones is
 *       the last the group applies: the revoke and the stop make one (with an empty map if nothing
 *       else is due) while async commits are in flight. After it {@link #committed} is at or below
 *       what the group has, never above: the client may run the callback of an async commit later
 *       still (classic: one parked on a coordinator lookup, or still on the connection to a
 *       coordinator that moved) — that commit is still sent before the blocking one, so a token
 *       committed at {@link #committed} is the partition's last commit, at worst at a lower offset
 *       (the group's offset moves back; the records between are read again and skipped as
 *       completed).
 *   <li><b>Callbacks run on the loop thread</b>, inside a later {@code poll}, {@code commitSync},
 *       {@code commitAsync} or {@code close} of the consumer (both protocols queue them for the
 *       application thread; MockConsumer runs them at once, inside {@code commitAsync}). So the
 *       callback reads and writes this class's state without locks, possibly from inside a rebalance
 *       callback (a revoke's {@code commitSync}). A callback must not throw: it would surface from
 *       that {@code poll}.
 *   <li><b>{@link #committed} changes only on a successful answer</b>, never when a commit is
 *       sent: it is the offset a hand-off token is committed at and the one {@link
 *       #commitWithoutToken} falls back to. Each commit carries a sequence number; an answer is
 *       recorded for a partition only if it is newer than what was recorded, or what was given up,
 *       for that partition ({@code floor}).
 *   <li><b>A partition given up</b> ({@link #forget}: revoked or lost) while its commit is in
 *       flight: its floor moves past every commit sent so far, so that commit's answer is not
 *       recorded (the partition may be assigned here again, and its committed offset is the next
 *       holder's business); and nothing of it stays due or is re-sent, so an offset of a partition
 *       given up is never committed later.
 *   <li><b>An async commit that failed</b> is counted ({@code tandem.consumer.offset.commit.failures})
 *       and logged at DEBUG (retriable) or WARN. Nothing is lost: the group's committed offset stays
 *       lower, records past it are read again and skipped as completed. A failure of the newest
 *       offset sent for the partition makes it due again, so an idle partition's last offset is
 *       still committed by the next commit: retriable ones (coordinator moved or not available,
 *       timeout) and the rebalance ones (rebalance in progress, generation or member epoch
 *       changed: a partition this member keeps is committed by nobody else), but not fatal ones
 *       (fenced static member, authorization, metadata too large), nor a partition given up since
 *       ({@link #forget}). An older offset is superseded by the newer commit. A failure answered
 *       inside a blocking commit (the revoke's, the stop's) comes after that commit's offsets were
 *       chosen and no next turn follows: the blocking commit sends it once more within what is
 *       left of its wait. Not mended: a failed offset whose newer offset was due but then dropped
 *       (its barrier failed) — the group's offset stays lower (read again, skipped).
 *   <li><b>Wakeup.</b> {@code commitAsync} does not consume a pending wakeup (classic: {@code
 *       pollNoWakeup}; consumer protocol: no wakeup point), so close()'s wakeup stays latched for
 *       the next {@code poll} or blocking commit, which the loop and {@link #finalCommit} handle as
 *       before. Should a consumer implementation throw it from {@code commitAsync}, the offsets
 *       stay due for the final commit.
 *   <li><b>Close.</b> {@link #finalCommit} is a blocking commit of everything due and, by the
 *       order above, waits for the async commits still in flight (and sends once more one of them
 *       that failed), so a clean stop leaves the group's committed offsets current when the loop
 *       ends, unless a commit failed again or ran out of its wait (then lower: read again and
 *       skipped as completed).
 * </ul>
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
  /** Last offset this instance committed (answered as committed), per assigned partition. */
  private final Map<TopicPartition, Long> committedOffsets = new HashMap<>();
  /**
   * Per partition, the sequence number below or at which an answer is not recorded any more: the
   * newest recorded commit's, or the last commit sent before the partition was given up.
   */
  private final Map<TopicPartition, Long> floor = new HashMap<>();
  /** Per partition, the newest offset sent (answered or not) and its commit's sequence number. */
  private final Map<TopicPartition, Sent> newestSent = new HashMap<>();
  /** Sequence number of the last commit sent (async or blocking). */
  private long sequence;
  /** Async commits sent and not answered yet. */
  private int inFlight;
  /** Partitions a failed answer made due again (cleared before each blocking commit). */
  private final Set<TopicPartition> dueAgain = new HashSet<>();
  private final Counter retriedFailures;
  private final Counter droppedFailures;

  /** An offset sent to the coordinator by the commit numbered {@code seq}. */
  private record Sent(long offset, long seq) {}

  public OffsetCommitter(LoopContext ctx, Duration commitTimeout, CommitMetadata metadata) {
    this.ctx = ctx;
    this.commitTimeout = commitTimeout;
    this.metadata = metadata;
    this.retriedFailures = failures(ctx, true);
    this.droppedFailures = failures(ctx, false);
  }

  private static Counter failures(LoopContext ctx, boolean retried) {
    return Counter.builder(ConsumerMeterNames.OFFSET_COMMIT_FAILURES)
        .tag("region", ctx.region().name()).tag("retried", Boolean.toString(retried))
        .description("offset commits of the loop's turns (not awaited) that failed; their records "
            + "are read again and skipped as completed")
        .register(ctx.meters());
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
    newestSent.remove(tp);
    // an answer to a commit sent so far is not recorded for it (nor re-sent on failure)
    floor.put(tp, sequence);
  }

  /** Async commits sent and not answered yet. */
  public int inFlight() {
    return inFlight;
  }

  /** Lost partitions: their offsets due are dropped (the group gave them away already). */
  public void dropDue(Collection<TopicPartition> partitions) {
    pending.keySet().removeAll(partitions);
  }

  /**
   * {@code all} false (a loop turn): sends the offsets whose barrier completed with {@code
   * commitAsync}, without waiting for anything; offsets not yet acknowledged stay due silently.
   * {@code all} true (the stop): waits for the barriers, bounded, and commits blocking.
   */
  public void commitDue(boolean all) {
    if (all) {
      commitDue(commitTimeout, commitTimeout);
    } else {
      commit(null, null);
    }
  }

  /**
   * Blocking: waits up to {@code barrierWait} for all due barriers together (one wait, not one per
   * partition), then commits the offsets whose barrier completed, waiting up to {@code commitWait}
   * for the answer, and for the answers of the async commits sent before (also when nothing is due).
   * Offsets one of those answers made due again (a failure) are committed once more within what is
   * left of {@code commitWait}. Afterwards {@link #committed} is at or below what the group has,
   * never above (see the class comment).
   */
  public void commitDue(Duration barrierWait, Duration commitWait) {
    commit(Objects.requireNonNull(barrierWait, "barrierWait"), commitWait);
  }

  /** {@code barrierWait} null: a turn's commit, sent async; else a blocking one. */
  private void commit(Duration barrierWait, Duration commitWait) {
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
    if (barrierWait == null) {
      if (!offsets.isEmpty()) {
        sendAsync(offsets);
      }
      return;
    }
    if (offsets.isEmpty() && inFlight == 0) {
      return;
    }
    // also with nothing due: a blocking commit (an empty one too) returns after the answers of the
    // async commits sent before it, so the revoke's hand-off and the stop see them
    long start = ctx.clock().nanoTime();
    dueAgain.clear();
    commitBlocking(offsets, commitWait);
    // an async commit that failed, answered inside that commitSync, made its offset due again after
    // the map was built; no next turn sends it (the stop ends the loop, the revoke gives the
    // partition up next): committed once more, within what is left of commitWait
    Map<TopicPartition, OffsetAndMetadata> again = new HashMap<>();
    for (TopicPartition tp : dueAgain) {
      Pending pe = pending.get(tp);
      if (pe != null && pe.barrier().isDone() && !pe.barrier().isCompletedExceptionally()
          && metadata.known(tp)) {
        again.put(tp, new OffsetAndMetadata(pe.offset(), metadata.metadata(tp)));
      }
    }
    dueAgain.clear();
    Duration left = commitWait.minusNanos(ctx.clock().nanoTime() - start);
    if (!again.isEmpty() && left.toNanos() > 0) {
      pending.keySet().removeAll(again.keySet());
      commitBlocking(again, left);
    }
  }

  /** A blocking commit of {@code offsets} (possibly empty), waiting up to {@code wait}. */
  private void commitBlocking(Map<TopicPartition, OffsetAndMetadata> offsets, Duration wait) {
    long seq = sent(offsets);
    try {
      ctx.consumer().commitSync(offsets, wait);
      offsets.forEach((tp, om) -> record(tp, om.offset(), seq));
    } catch (WakeupException ex) {
      // close() woke the consumer: these offsets are acknowledged and stay due; the stop's final
      // commit makes them (a newer due offset of the same partition supersedes one)
      requeue(offsets);
      throw ex;
    } catch (KafkaException ex) {
      log.warn("offset commit failed; records may be redelivered (and skipped)", ex);
    }
  }

  /** A turn's commit: sent, not awaited; its answer comes in a later call on the loop thread. */
  private void sendAsync(Map<TopicPartition, OffsetAndMetadata> offsets) {
    long seq = sent(offsets);
    inFlight++;
    try {
      ctx.consumer().commitAsync(offsets, (answered, error) -> answered(offsets, seq, error));
    } catch (WakeupException ex) {
      // not thrown by kafka-clients' commitAsync (it does not take the wakeup); kept due if it is
      inFlight--;
      requeue(offsets);
      throw ex;
    } catch (KafkaException ex) {
      // e.g. a fenced static member, surfaced when the client ran earlier callbacks
      inFlight--;
      droppedFailures.increment();
      log.warn("offset commit failed; records may be redelivered (and skipped)", ex);
    }
  }

  /**
   * The answer to the async commit {@code seq} (loop thread, inside a later consumer call; must not
   * throw). Success: recorded as committed where no newer answer was recorded and the partition was
   * not given up since. Failure: counted; unless fatal ({@link #fatal}), a failure of the newest
   * offset sent for a partition makes it due again (unless a newer offset is due, or the partition
   * was given up), so it is not left uncommitted on an idle partition.
   */
  private void answered(Map<TopicPartition, OffsetAndMetadata> offsets, long seq, Exception error) {
    try {
      inFlight = Math.max(0, inFlight - 1);
      if (error == null) {
        offsets.forEach((tp, om) -> record(tp, om.offset(), seq));
        return;
      }
      boolean retriable = error instanceof RetriableCommitFailedException
          || error instanceof RetriableException;
      boolean retried = false;
      if (!fatal(error)) {
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
          TopicPartition tp = e.getKey();
          Sent newest = newestSent.get(tp);
          // the newest offset sent, not given up since (forget moves the floor), nothing newer due
          if (newest != null && newest.seq() == seq && seq > floor.getOrDefault(tp, -1L)
              && !pending.containsKey(tp)) {
            pending.put(tp, new Pending(e.getValue().offset(), CompletableFuture.completedFuture(null)));
            dueAgain.add(tp);
            retried = true;
          }
        }
      }
      (retried ? retriedFailures : droppedFailures).increment();
      String outcome = retried ? "sent again by the next commit"
          : "not sent again; records past the group's committed offset are read again and skipped "
              + "as completed";
      if (retriable) {
        log.debug("Tandem {}: offset commit of {} failed ({}); {}", ctx.region(), offsets.keySet(),
            error.toString(), outcome);
      } else {
        log.warn("Tandem {}: offset commit of {} failed ({}); {}", ctx.region(), offsets.keySet(),
            error.toString(), outcome);
      }
    } catch (RuntimeException e) {
      log.warn("Tandem {}: offset commit answer not recorded", ctx.region(), e);
    }
  }

  /**
   * A failure sending the offset again cannot mend: the member is fenced (a static member's id
   * reused), not authorised, or the metadata is too large. Any other (coordinator moved, timeout,
   * rebalance in progress, generation or member epoch changed) is worth another commit.
   */
  private static boolean fatal(Exception error) {
    for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof FencedInstanceIdException || t instanceof AuthorizationException
          || t instanceof OffsetMetadataTooLarge) {
        return true;
      }
    }
    return false;
  }

  /** Numbers a commit about to be sent and notes its offsets as the newest sent; its number. */
  private long sent(Map<TopicPartition, OffsetAndMetadata> offsets) {
    long seq = ++sequence;
    offsets.forEach((tp, om) -> newestSent.put(tp, new Sent(om.offset(), seq)));
    return seq;
  }

  /** A successful answer to commit {@code seq}: recorded unless older than the partition's floor. */
  private void record(TopicPartition tp, long offset, long seq) {
    if (seq > floor.getOrDefault(tp, -1L)) {
      committedOffsets.put(tp, offset);
      floor.put(tp, seq);
    }
  }

  /** Offsets whose commit did not happen stay due (a newer due offset of a partition supersedes). */
  private void requeue(Map<TopicPartition, OffsetAndMetadata> offsets) {
    offsets.forEach((tp, om) -> pending.putIfAbsent(tp,
        new Pending(om.offset(), CompletableFuture.completedFuture(null))));
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
   * coming), so no later holder waits for it again. Blocking: it happens once per hand-off, not per
   * turn. Best effort: if it fails, the next commit of the partition drops the token. {@code
   * tokenOffset}: the offset the token was committed at.
   */
  public void commitWithoutToken(TopicPartition tp, long tokenOffset) {
    if (pending.containsKey(tp)) {
      return; // a commit of this partition is due anyway, without the token
    }
    // follower acknowledgements may have committed past the token's offset meanwhile; the newest
    // offset sent (its barrier completed when it was sent), not only the newest answered: this
    // blocking commit lands after every async one sent before it, so it must not go back behind them
    Sent newest = newestSent.get(tp);
    long offset = newest != null ? newest.offset() : committedOffsets.getOrDefault(tp, tokenOffset);
    Map<TopicPartition, OffsetAndMetadata> offsets = Map.of(tp, new OffsetAndMetadata(offset, ""));
    long seq = sent(offsets);
    try {
      ctx.consumer().commitSync(offsets, commitTimeout);
      record(tp, offset, seq);
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
