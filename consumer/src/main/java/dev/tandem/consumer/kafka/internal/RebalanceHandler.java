package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.store.replication.Handoff;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rebalance inside a region. On revoke (bounded as a whole by {@code revokeTimeout}): the revoked
 * shards leave the lease renewer first; parked claims are released; one short wait covers the due
 * offsets' barriers and the revoked shards' own-region barriers; due offsets are committed; a shard
 * still not flushed is handed off (its offset stays, the commit carries a {@link Handoff} token whose
 * marker the replication log writes once the changes are acknowledged); then the partitions are
 * given up and the replication log flushes and drops the shards. On loss: the same without commits.
 * On assign: committed metadata is read for a previous holder's token ({@link HandoffGate}) and the
 * shards are restored from the changelog before any claim. Called by the Kafka consumer inside
 * {@code poll}, i.e. on the loop thread.
 */
public final class RebalanceHandler implements ConsumerRebalanceListener {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.kafka.TandemKafkaConsumer.class);
  /** A commit made in a revoke past its deadline still gets this long (a failed one helps nobody). */
  private static final Duration MIN_COMMIT_WAIT = Duration.ofSeconds(1);

  /** The bounds of a rebalance's steps. */
  public record Bounds(Duration revokeTimeout, Duration revokeFlushWait, Duration commitTimeout,
      Duration restoreTimeout) {}

  /** The loop's parts a rebalance changes. */
  public record Parts(LoopContext ctx, OnceProcessor processor, ShardOwnership ownership,
      ReplicationLog replication, boolean handShards, AssignedPartitions assigned,
      OffsetCommitter committer, HandoffGate handoffs, FollowerHold hold, PartitionPauses pauses,
      LeaseRenewer renewer) {}

  private final Parts p;
  private final Bounds bounds;

  /**
   * @param parts {@code ownership}, {@code replication} and {@code renewer} may be null; {@code
   *     handShards}: assignments are handed to the replication log (assign → restore, revoke → flush
   *     then drop)
   */
  public RebalanceHandler(Parts parts, Bounds bounds) {
    this.p = parts;
    this.bounds = bounds;
  }

  @Override
  public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
    // first: no renewal of a revoked shard may run once it is given up
    stopRenewing(partitions);
    // parked claims first: their releases are changelog writes the hand-off marker must cover
    Set<Integer> revokedShards = new TreeSet<>();
    partitions.forEach(tp -> revokedShards.add(tp.partition()));
    // one deadline for the whole callback, well below max.poll.interval.ms: past it the member is
    // evicted, its commits (offsets, hand-off tokens) fail and the next holder waits for nothing.
    // A shard not flushed within it is handed off, so a short bound loses nothing.
    long deadline = p.ctx().clock().nanoTime() + bounds.revokeTimeout().toNanos();
    p.processor().forgetShards(revokedShards);
    // one wait over every barrier that decides this revoke: the due offsets', and the revoked
    // shards' own-region barriers (writes in flight for a few ms, e.g. lease heartbeats or the
    // releases just made, must not turn into a hand-off); at most half the budget, the rest is
    // for the commits
    List<CompletableFuture<?>> barriers = p.committer().dueBarriers();
    if (p.replication() != null) {
      for (TopicPartition tp : partitions) {
        if (p.assigned().contains(tp)) {
          barriers.add(p.replication().barrier(tp.partition(), p.ctx().region()));
        }
      }
    }
    // short: while a rebalance runs no instance of this region renews the revoked shards' leases
    // (every member gives its partitions up first), so a long wait here reads as silence to the peer
    // region; what is not flushed within it is handed off, which loses nothing
    OffsetCommitter.awaitAll(barriers, LoopContext.min(
        LoopContext.min(bounds.commitTimeout(), bounds.revokeFlushWait()),
        Duration.ofNanos((deadline - p.ctx().clock().nanoTime()) / 2)));
    // blocking, unlike a turn's commit: made after the turns' async commits (even when nothing is
    // due), so a hand-off token committed below is the partition's last commit, and committed(), the
    // offset it is committed at, is at or below what the group has (never above); one of them that
    // failed is committed once more by it, before the partition is given up
    p.committer().commitDue(Duration.ZERO, remaining(deadline));
    Set<Integer> unwaited = handOffUnflushed(partitions, deadline);
    giveUp(partitions, unwaited);
    long took = p.ctx().clock().nanoTime() - (deadline - bounds.revokeTimeout().toNanos());
    Timer.builder(ConsumerMeterNames.REVOKE_DURATION).tag("region", p.ctx().region().name())
        .description("how long a rebalance's revoke callback took (bounded by revokeTimeout; "
            + "must stay below max.poll.interval.ms)")
        .register(p.ctx().meters()).record(took, TimeUnit.NANOSECONDS);
    if (took > bounds.revokeTimeout().toNanos()) {
      log.warn("Tandem {}: revoking {} took {} ms, past revokeTimeout {} (commits or the "
          + "replication log's revoke were slow); keep it below max.poll.interval.ms",
          p.ctx().region(), partitions, took / 1_000_000, bounds.revokeTimeout());
    }
  }

  @Override
  public void onPartitionsLost(Collection<TopicPartition> partitions) {
    stopRenewing(partitions);
    p.committer().dropDue(partitions);
    giveUp(partitions, Set.of());
  }

  private void stopRenewing(Collection<TopicPartition> partitions) {
    if (p.renewer() != null) {
      p.renewer().stopRenewing(partitions);
    }
  }

  private void giveUp(Collection<TopicPartition> partitions, Set<Integer> unwaited) {
    Set<Integer> shards = new TreeSet<>();
    for (TopicPartition tp : partitions) {
      p.assigned().remove(tp);
      p.hold().forget(tp);
      p.pauses().forget(tp);
      // an offset of a partition given up is never committed later (it would overwrite the next
      // holder's commits and hand-off token)
      p.committer().forget(tp);
      p.handoffs().forget(tp);
      shards.add(tp.partition());
      if (p.ownership() != null) {
        p.ownership().pollLoop().forget(tp.partition());
      }
    }
    // their parked claims (a lost partition's; a revoked one's were released above): released
    // before the flush-then-drop
    p.processor().forgetShards(shards);
    if (p.handShards() && !shards.isEmpty()) {
      // flush-then-drop: the next instance of this region sees every change made here
      try {
        p.replication().revoke(shards, unwaited);
      } catch (RuntimeException e) {
        // thrown out of the rebalance callback it would skip the rest of the listener after this
        // instance's state was already cleared; Kafka gives the partitions away regardless
        log.warn("Tandem {}: the replication log could not flush shards {} before giving them up "
            + "({}); a shard handed off waits for its marker, any other may re-run what ran here "
            + "(reported as a re-run after the claim lease)", p.ctx().region(), shards, e.toString());
      }
    }
  }

  @Override
  public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
    Set<Integer> shards = new TreeSet<>();
    for (TopicPartition tp : partitions) {
      p.assigned().add(tp);
      shards.add(tp.partition());
    }
    if (p.replication() != null && !partitions.isEmpty()) {
      p.handoffs().assigned(partitions);
    }
    if (p.handShards() && !shards.isEmpty()) {
      p.replication().assign(shards);
      if (!p.replication().awaitRestored(bounds.restoreTimeout())) {
        log.warn("shards {} not restored within {}; claims wait for the restore", shards,
            bounds.restoreTimeout());
      }
    }
  }

  /**
   * On revoke, after the bounded wait for the barriers: a partition whose shard still has changes
   * not acknowledged by the own region's changelog (a slow lane, a spool draining) is handed off.
   * Its offset stays where it was (records whose completion is not in the changelog are not
   * committed), but the commit now carries a hand-off token, and the replication log writes the
   * token's marker into the changelog once those changes are acknowledged. The next holder (any
   * instance of this region's group) reads the token and claims nothing in the shard until it has
   * read the marker, so it never re-runs what this instance ran.
   */
  private Set<Integer> handOffUnflushed(Collection<TopicPartition> partitions, long deadline) {
    Set<Integer> unwaited = new TreeSet<>();
    ReplicationLog replication = p.replication();
    if (replication == null) {
      return unwaited;
    }
    Map<TopicPartition, OffsetAndMetadata> tokens = new HashMap<>();
    for (TopicPartition tp : partitions) {
      CompletableFuture<Void> flushed = replication.barrier(tp.partition(), p.ctx().region());
      // flushed = acknowledged; a barrier that failed (a change the writer could not ship) is not
      if (!p.assigned().contains(tp) || (flushed.isDone() && !flushed.isCompletedExceptionally())) {
        continue;
      }
      Long offset = p.committer().committed(tp);
      if (offset == null) {
        offset = p.assigned().startOffset(tp);
      }
      // (3) a previous holder's token not read yet counts as outstanding: committing our own token
      // would replace it, and the next holder would wait for our marker only
      if (offset == null || p.handoffs().outstanding(tp)) {
        // nothing fetched here, or still waiting for the previous holder: no claim was made here,
        // so there is nothing to hand off (its token, if any, stays committed); the replication
        // log drops the shard without waiting for this instance's lease writes
        unwaited.add(tp.partition());
        continue;
      }
      // decided: a token is committed for this partition, so only now is its marker requested
      // (which also lets the replication log's revoke go on without waiting for these writes)
      Optional<Handoff> token;
      try {
        token = replication.handOff(tp.partition());
      } catch (RuntimeException e) {
        log.warn("Tandem {}: {} given up with unacknowledged changelog writes and no hand-off "
            + "({}); its next holder may run again what ran here", p.ctx().region(), tp,
            e.toString());
        continue;
      }
      if (token.isEmpty()) {
        continue; // this log writes no markers
      }
      tokens.put(tp, new OffsetAndMetadata(offset, token.get().encode()));
      Counter.builder(ConsumerMeterNames.HANDOFFS).tag("region", p.ctx().region().name())
          .tag("side", "given")
          .description("partitions handed over before their changes were in the own changelog "
              + "(given) and partitions received so (awaited, expired)")
          .register(p.ctx().meters()).increment();
    }
    if (tokens.isEmpty()) {
      return unwaited;
    }
    try {
      p.ctx().consumer().commitSync(tokens, remaining(deadline));
      log.warn("Tandem {}: partitions {} given up before their changelog writes were acknowledged; "
          + "their next holder waits for the hand-off markers", p.ctx().region(), tokens.keySet());
    } catch (WakeupException e) {
      throw e;
    } catch (KafkaException e) {
      log.warn("Tandem {}: hand-off tokens of {} not committed: their next holder cannot wait for "
          + "this instance's unacknowledged changes (handlers may run again)", p.ctx().region(),
          tokens.keySet(), e);
    }
    return unwaited;
  }

  /** What is left until {@code deadline} (monotonic), at least {@link #MIN_COMMIT_WAIT}. */
  private Duration remaining(long deadline) {
    return LoopContext.max(MIN_COMMIT_WAIT, Duration.ofNanos(deadline - p.ctx().clock().nanoTime()));
  }
}
