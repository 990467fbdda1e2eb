package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.core.Hlc;
import dev.tandem.store.replication.Handoff;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The receiving side of a hand-off inside the region: a partition received from an instance that gave
 * it up before its changelog writes were acknowledged carries that instance's {@link Handoff} token in
 * its committed metadata. This instance claims nothing in the shard until it has read the token's
 * marker in the changelog (then every change of the previous holder is in its store), or {@code
 * handoffTimeout} passed since the token was made (counted, WARN: what the previous holder ran may run
 * again). Until the committed metadata of a newly assigned partition is read, the partition counts as
 * unknown: nothing is processed and nothing committed there (a commit would erase a token). As the
 * {@link OffsetCommitter.CommitMetadata} of the commits, it makes them carry an awaited token on.
 * Loop thread only.
 */
public final class HandoffGate implements OffsetCommitter.CommitMetadata {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.kafka.TandemKafkaConsumer.class);

  /** A previous holder's hand-off this instance waits for before it processes the partition. */
  private record Awaited(Handoff token, long sinceNanos, long offset) {}

  private final LoopContext ctx;
  private final ReplicationLog replication;
  private final Duration handoffTimeout;
  private final Duration commitTimeout;
  /** Called when a wait ended: the partition and the offset its token was committed at. */
  private final BiConsumer<TopicPartition, Long> tokenDone;
  /** Partitions received from a holder that handed them off unflushed: its marker is awaited. */
  private final Map<TopicPartition, Awaited> awaiting = new HashMap<>();
  /** Partitions whose committed metadata could not be read yet (re-read before processing). */
  private final Set<TopicPartition> unknown = new HashSet<>();

  /**
   * @param replication the store's replication log (whose {@code handedOff} says a marker was read)
   * @param tokenDone told when a wait ended (marker read or expired), to commit without the token
   */
  public HandoffGate(LoopContext ctx, ReplicationLog replication, Duration handoffTimeout,
      Duration commitTimeout, BiConsumer<TopicPartition, Long> tokenDone) {
    this.ctx = ctx;
    this.replication = replication;
    this.handoffTimeout = handoffTimeout;
    this.commitTimeout = commitTimeout;
    this.tokenDone = tokenDone;
  }

  /** Newly assigned partitions: their committed metadata is read for a previous holder's token. */
  public void assigned(Collection<TopicPartition> partitions) {
    unknown.addAll(partitions);
    read(partitions);
  }

  /** Reads the committed metadata of {@code partitions} for a previous holder's token. */
  private void read(Collection<TopicPartition> partitions) {
    Map<TopicPartition, OffsetAndMetadata> committed;
    try {
      committed = ctx.consumer().committed(new HashSet<>(partitions), commitTimeout);
    } catch (WakeupException e) {
      throw e;
    } catch (KafkaException e) {
      log.warn("Tandem {}: committed offsets of {} not readable ({}); those partitions wait",
          ctx.region(), partitions, e.toString());
      return;
    }
    for (TopicPartition tp : partitions) {
      unknown.remove(tp);
      OffsetAndMetadata om = committed.get(tp);
      Optional<Handoff> token = om == null ? Optional.empty() : Handoff.decode(om.metadata());
      if (token.isEmpty() || !token.get().region().equals(ctx.region())
          || token.get().shard() != tp.partition() || replication.handedOff(token.get())) {
        continue;
      }
      awaiting.put(tp, new Awaited(token.get(), ctx.clock().nanoTime(), om.offset()));
      log.info("Tandem {}: {} was handed over unflushed ({}); claims wait for its marker",
          ctx.region(), tp, token.get().encode());
    }
  }

  /**
   * Whether this instance may claim in {@code tp}'s shard: no previous holder's hand-off is
   * outstanding, or its marker was read, or {@code handoffTimeout} passed (counted, WARN: the
   * previous holder's unacknowledged changes may be lost, and what it ran may run again).
   */
  public boolean settled(TopicPartition tp) {
    if (unknown.contains(tp)) {
      read(List.of(tp));
      if (unknown.contains(tp)) {
        return false;
      }
    }
    Awaited a = awaiting.get(tp);
    if (a == null) {
      return true;
    }
    long waited = ctx.clock().nanoTime() - a.sinceNanos();
    if (replication.handedOff(a.token())) {
      awaiting.remove(tp);
      Timer.builder(ConsumerMeterNames.HANDOFF_WAIT).tag("region", ctx.region().name())
          .description("how long a received partition waited for its previous holder's marker")
          .register(ctx.meters()).record(waited, TimeUnit.NANOSECONDS);
      log.info("Tandem {}: hand-off marker of {} read after {} ms; processing", ctx.region(), tp,
          waited / 1_000_000);
      tokenDone.accept(tp, a.offset());
      return true;
    }
    // the bound runs from the token's creation (the physical part of its HLC mark), so a token that
    // lingers (a holder that commits nothing after it, a crashed incarnation's) does not make each
    // next holder wait afresh; and at most handoffTimeout from here (a mark ahead of this clock)
    long age = ctx.clock().wallMillis() - Hlc.physicalMillis(a.token().mark());
    if (waited > handoffTimeout.toNanos() || age > handoffTimeout.toMillis()) {
      awaiting.remove(tp);
      Counter.builder(ConsumerMeterNames.HANDOFFS).tag("region", ctx.region().name())
          .tag("side", "expired").register(ctx.meters()).increment();
      log.warn("Tandem {}: no hand-off marker for {} within {} of the hand-off ({}); processing "
          + "without the previous holder's unacknowledged changes: what it ran may run again",
          ctx.region(), tp, handoffTimeout, a.token().encode());
      tokenDone.accept(tp, a.offset());
      return true;
    }
    return false;
  }

  /**
   * Every awaited wait that ended (marker read, or expired) ends now, whether or not records
   * arrive: its token is cleared from the committed metadata then, not when the partition next has
   * records.
   */
  public void settleAll() {
    for (TopicPartition tp : List.copyOf(awaiting.keySet())) {
      settled(tp);
    }
  }

  /** Whether a previous holder's marker is awaited for {@code tp}, or its metadata is unknown. */
  public boolean outstanding(TopicPartition tp) {
    return awaiting.containsKey(tp) || unknown.contains(tp);
  }

  @Override
  public boolean known(TopicPartition tp) {
    return !unknown.contains(tp);
  }

  /** The metadata a commit of {@code tp} carries: the awaited previous holder's token, if any. */
  @Override
  public String metadata(TopicPartition tp) {
    Awaited a = awaiting.get(tp);
    return a == null ? "" : a.token().encode();
  }

  /** {@code tp} given up: nothing is awaited for it here any more. */
  public void forget(TopicPartition tp) {
    awaiting.remove(tp);
    unknown.remove(tp);
  }
}
