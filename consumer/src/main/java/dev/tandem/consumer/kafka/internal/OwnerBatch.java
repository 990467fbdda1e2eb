package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.kafka.TandemRecordHandler;
import dev.tandem.consumer.ownership.HandlerActivity;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.store.StoreException;
import dev.tandem.store.replication.ReplicationLog;
import dev.tandem.store.replication.ShardNotReadyException;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The owned shards' records of one poll, as one batch: claimed together and handled by ONE {@link
 * OnceProcessor#processAll} call (one claims-durable wait for the poll, not one per partition), each
 * shard under its epoch and in its order. Each partition is admitted on its own: only once a previous
 * holder's hand-off settled, inside the ownership's work section (a planned handover waits for the
 * batch and admits none after it), and only as far as the replication window W has room (each
 * message is a claim and a completion). Its outcomes are applied on their own: the offset after its
 * last settled record becomes due behind the shard's own-region changelog barrier ({@link
 * OffsetCommitter}); its first record to retry pauses the partition at its offset. A call whose
 * processing throws seeks every partition of it back to its first record and pauses it for a short
 * backoff, so nothing of it is lost. Loop thread only (the handlers run on the processor's threads).
 */
public final class OwnerBatch<K, V> {

  // the poll loop's log category, as before the split (operators filter on it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.kafka.TandemKafkaConsumer.class);

  /** Pause before records whose processing failed are fetched again. */
  static final Duration PROCESSING_RETRY_BACKOFF = Duration.ofMillis(500);
  /** How often a partition waiting for a hand-off marker looks again. */
  static final Duration HANDOFF_RECHECK = Duration.ofMillis(200);
  /**
   * How soon a shard without room in the replication window first looks again (at most the poll
   * timeout; while the window stays full, later rechecks back off, doubling up to the poll timeout):
   * the peer acknowledges the pending changes at any moment, usually within a changelog round trip,
   * so a pause of a whole poll timeout (and the poll blocking that long) was mostly idle (issue 20).
   */
  public static final Duration WINDOW_RECHECK = Duration.ofMillis(10);

  /**
   * How many rechecks in a row each partition found its shard's window full (loop thread only).
   * Why: a recheck seeks back, resumes and fetches the same records from the broker again, so while
   * the peer acknowledges nothing (a cut link under a policy that keeps the window) a fixed 10 ms
   * would re-fetch a hundred times a second per partition; the pause doubles instead, up to the poll
   * timeout, and starts again at {@link #WINDOW_RECHECK} once the shard had room.
   */
  private final Map<TopicPartition, Integer> windowFullInARow = new HashMap<>();

  /** The loop's parts a batch uses. */
  public record Parts(LoopContext ctx, OnceProcessor processor, ShardOwnership ownership,
      ReplicationLog replication, PartitionPauses pauses, OffsetCommitter committer,
      HandoffGate handoffs, AssignedPartitions assigned, LeaseRenewer renewer,
      HandlerActivity activity) {}

  private final Parts p;
  private final TandemRecordHandler<K, V> handler;
  private final Deserializer<K> keyDeserializer;
  private final Deserializer<V> valueDeserializer;
  private final Duration pollTimeout;

  /**
   * @param parts {@code ownership}, {@code replication} and {@code renewer} may be null (no ownership:
   *     every shard owned here at epoch 0; no replication: nothing to wait for before a commit)
   */
  public OwnerBatch(Parts parts, TandemRecordHandler<K, V> handler, Deserializer<K> keyDeserializer,
      Deserializer<V> valueDeserializer, Duration pollTimeout) {
    this.p = parts;
    this.handler = handler;
    this.keyDeserializer = keyDeserializer;
    this.valueDeserializer = valueDeserializer;
    this.pollTimeout = pollTimeout;
  }

  /** {@link #runOrRedeliver(Map)} for the records of one partition (held records after a takeover). */
  public void runOrRedeliver(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> recs) {
    Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> one = new LinkedHashMap<>();
    one.put(tp, recs);
    runOrRedeliver(one);
  }

  /**
   * Processes the records of the owned partitions of one poll in ONE {@link OnceProcessor#processAll}
   * call, so the claims of every partition are awaited in the own changelog together: one round trip
   * per poll (one per partition, serially, made a loop turn with n owned partitions wait n round
   * trips before the last partition's handlers, issue 20). Per shard the order, the fence and "no
   * handler before its claim is durable" are processAll's, as for one partition; each partition is
   * admitted on its own first ({@link #admit}) and its outcomes are applied on their own after.
   *
   * <p>If that fails in any way (a store error, a shard not restored, a bug), no record is lost: EVERY
   * partition of the call is sought back to its first record (nothing of the call was recorded as a
   * commit position; a partition not admitted yet when the failure came would otherwise be skipped,
   * as the poll's position is past it) and paused for a short backoff, so they are fetched and
   * processed again; records whose handlers already ran are skipped then as completed. This matters
   * most for records that had left the follower's hold (after a takeover): their position was already
   * past them, so without the seek nothing would ever read them again.
   *
   * @param batches per partition, its records of this poll in offset order (iteration order kept)
   */
  public void runOrRedeliver(Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> batches) {
    List<Integer> working = new ArrayList<>();
    try {
      Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> admitted = new LinkedHashMap<>();
      for (Map.Entry<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> e : batches.entrySet()) {
        List<ConsumerRecord<byte[], byte[]>> recs = admit(e.getKey(), e.getValue(), working);
        if (recs != null) {
          admitted.put(e.getKey(), recs);
        }
      }
      if (!admitted.isEmpty()) {
        runBatches(admitted);
      }
    } catch (WakeupException e) {
      throw e;
    } catch (RuntimeException e) {
      String reason = e instanceof ShardNotReadyException ? "shard-not-ready"
          : e instanceof StoreException ? "store" : "error";
      // one failure, one count (the call is the batch), whatever number of partitions it spans
      Counter.builder(ConsumerMeterNames.PROCESSING_FAILURES).tag("region", p.ctx().region().name())
          .tag("reason", reason)
          .description("batches whose processing failed; their records were sought back and read again")
          .register(p.ctx().meters()).increment();
      for (Map.Entry<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> b : batches.entrySet()) {
        TopicPartition tp = b.getKey();
        List<ConsumerRecord<byte[], byte[]>> recs = b.getValue();
        long first = recs.get(0).offset();
        log.warn("Tandem {}: processing {} records of {} from offset {} failed; they are read again "
            + "(offset not committed past them): {}", p.ctx().region(), recs.size(), tp, first,
            e.toString());
        p.pauses().pauseUntil(tp, first,
            p.ctx().clock().nanoTime() + PROCESSING_RETRY_BACKOFF.toNanos());
      }
    } finally {
      // the work section of every shard whose work began ends with the call, however it ends
      for (int shard : working) {
        p.ownership().pollLoop().endWork(shard);
      }
    }
  }

  /**
   * The records of an owned partition that may be processed now, or null (the partition sought back
   * or paused): the previous holder's hand-off must have settled, a planned handover admits no new
   * batch ({@code beginWork}; {@code working} collects the shards whose work began, ended by the
   * caller), and the replication window W admits only the messages that fit (the rest is sought back).
   */
  private List<ConsumerRecord<byte[], byte[]>> admit(TopicPartition tp,
      List<ConsumerRecord<byte[], byte[]>> recs, List<Integer> working) {
    int shard = tp.partition();
    if (!p.handoffs().settled(tp)) {
      // the previous holder's changes of this shard may not be in our store yet: claim nothing
      p.pauses().pauseUntil(tp, recs.get(0).offset(),
          p.ctx().clock().nanoTime() + HANDOFF_RECHECK.toNanos());
      return null;
    }
    ShardOwnership ownership = p.ownership();
    if (ownership == null) {
      return recs;
    }
    // owned and assigned here: the renewer keeps its lease while this batch runs (the loop's own
    // heartbeat round may not have run yet, e.g. on the first batch after a start or a takeover)
    p.renewer().mayRenew(shard);
    // a planned handover drains the shard: it waits for this batch, and admits none after it
    if (!ownership.pollLoop().beginWork(shard)) {
      p.ctx().consumer().seek(tp, recs.get(0).offset());
      return null;
    }
    working.add(shard);
    // replication window W: the peer must never trail by more than W of our changes for this
    // shard, so admit only the messages that fit (each makes a claim and a completion)
    long room = ownership.pollLoop().windowRoom(shard);
    if (room <= 0 || (room < 2 && room < ownership.window())) {
      // no room for a claim and its completion while changes still await the peer: look again
      // soon (the loop's poll blocks no longer than this pause)
      int inARow = windowFullInARow.merge(tp, 1, Integer::sum);
      long backoff = WINDOW_RECHECK.toNanos() << Math.min(inARow - 1, 20);
      p.pauses().pauseUntil(tp, recs.get(0).offset(), p.ctx().clock().nanoTime()
          + Math.min(pollTimeout.toNanos(), backoff));
      return null;
    }
    windowFullInARow.remove(tp);
    long fit = Math.max(1, room / 2);
    if (fit < recs.size()) {
      List<ConsumerRecord<byte[], byte[]>> rest = recs.subList((int) fit, recs.size());
      recs = new ArrayList<>(recs.subList(0, (int) fit));
      p.ctx().consumer().seek(tp, rest.get(0).offset()); // read the rest again once the peer caught up
    }
    return recs;
  }

  /**
   * One processAll for the admitted records of every partition (each shard under its epoch), then
   * each partition's outcomes on their own: the first record to retry pauses its partition at its
   * offset; the offset after its last settled record becomes the shard's position and is due behind
   * the shard's own-region changelog barrier.
   */
  private void runBatches(Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> admitted) {
    ShardOwnership ownership = p.ownership();
    Map<Integer, Long> epochs = new HashMap<>();
    List<IncomingMessage> msgs = new ArrayList<>();
    for (Map.Entry<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> e : admitted.entrySet()) {
      int shard = e.getKey().partition();
      epochs.put(shard, ownership == null ? 0L : ownership.epoch(shard));
      for (ConsumerRecord<byte[], byte[]> r : e.getValue()) {
        msgs.add(RecordMessages.of(r));
      }
    }
    // before the first handler the call may wait for its claims to be durable, up to the
    // processor's bound: that wait is progress (it ends by itself), so the background renewer must
    // not read it as a stuck loop when the bound is longer than handlerTimeout
    p.processor().claimsDurableTimeout().ifPresent(p.activity()::waitStarted);
    List<Outcome> outs;
    try {
      outs = p.processor().processAll(msgs, epochs::get, adapter());
    } finally {
      p.activity().waitEnded();
    }
    // outcomes come back in message order: each partition's are the next recs.size() of them
    int base = 0;
    for (Map.Entry<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> e : admitted.entrySet()) {
      TopicPartition tp = e.getKey();
      List<ConsumerRecord<byte[], byte[]>> recs = e.getValue();
      int shard = tp.partition();
      long next = -1;
      for (int i = 0; i < recs.size(); i++) {
        Outcome o = outs.get(base + i);
        if (o.settled()) {
          next = recs.get(i).offset() + 1;
          continue;
        }
        Outcome.RetryLater retry = (Outcome.RetryLater) o;
        long at = p.ctx().clock().nanoTime() + retry.after().toNanos();
        p.pauses().pauseUntil(tp, recs.get(i).offset(), at);
        break;
      }
      base += recs.size();
      if (next >= 0) {
        p.assigned().advance(shard, next);
        CompletableFuture<Void> barrier = p.replication() == null
            ? CompletableFuture.completedFuture(null)
            : p.replication().barrier(shard, p.ctx().region());
        p.committer().due(tp, next, barrier);
      }
    }
  }

  private MessageHandler adapter() {
    return c -> {
      @SuppressWarnings("unchecked")
      ConsumerRecord<byte[], byte[]> raw = (ConsumerRecord<byte[], byte[]>) c.transportMessage();
      K key = raw.key() == null ? null
          : keyDeserializer.deserialize(raw.topic(), raw.headers(), raw.key());
      V value = raw.value() == null ? null
          : valueDeserializer.deserialize(raw.topic(), raw.headers(), raw.value());
      ConsumerRecord<K, V> rec = new ConsumerRecord<>(raw.topic(), raw.partition(), raw.offset(),
          raw.timestamp(), raw.timestampType(), raw.serializedKeySize(), raw.serializedValueSize(),
          key, value, raw.headers(), raw.leaderEpoch());
      // busy, not stuck, while this handler runs within handlerTimeout: the renewer keeps the lease
      p.activity().handlerStarted();
      try {
        handler.handle(rec, c);
      } finally {
        p.activity().handlerEnded();
      }
      // progress inside a batch, for a follower's NO_PROGRESS check: the next renewal carries it
      p.assigned().advance(raw.partition(), raw.offset() + 1);
    };
  }
}
