package dev.tandem.store.replication;

import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeException;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.KafkaEnvelopeHeaders;
import dev.tandem.store.CorruptRecordException;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntPredicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decodes one poll's changelog records and merges them into the store in ONE {@code
 * applyRemoteBatch}, together with the checkpoints (next offset per partition), so data and offsets
 * never part in a crash. A record that does not decode (garbage, unknown format, a record whose shard
 * is not its partition) is counted ({@code tandem.replication.bad.records}, tag {@code reason}),
 * logged with topic/partition/offset and skipped; its offset is still checkpointed, so it never stops
 * replication and is not re-read forever.
 *
 * <p>With a verifier ({@link KafkaReplicationLog.Builder#authenticate}), a record is applied only if
 * its envelope headers carry a signature that verifies with one of the accepted keys and a digest
 * that matches the value; anything else (unsigned, unknown key, forged, value swapped) is counted
 * ({@code reason=unauthenticated}), logged without the value, and skipped before it is decoded.
 *
 * <p>Own changes: every writer ships each record change to every region's changelog, so the own
 * region's reader reads this process's own changes back, half of what it reads. Those are already in
 * the store (the writer ships a change only after the store committed it), so merging them changes
 * nothing. Once {@link #ownWriter} named this writer, the own reader skips them by their key prefix
 * ({@code r|<region>|<incarnation>|}), before authentication and decoding, counted in {@code
 * tandem.replication.skipped} ({@code reason=own-writer}) — except in partitions the caller says may
 * lack them (a shard this process dropped and took again: the drop deleted them, the restore must
 * bring them back). Barriers and acknowledgements come from the publisher's acks, not from this read;
 * leases, heartbeats and hand-off markers, the checkpoints and the per-partition counts are
 * unaffected.
 */
final class BatchApplier {

  private static final Logger LOG = LoggerFactory.getLogger(BatchApplier.class);

  /** The replica view: replication merges remote changes and drops shards through the SPI. */
  private final ReplicaStore store;
  private final LagTracker lag;
  private final Counter appliedRecords;
  private final Counter appliedLeases;
  private final Counter appliedHeartbeats;
  private final Counter badCorrupt;
  private final Counter badPartition;
  private final Counter badAuthentication;
  /** Null: changelog records are not authenticated. */
  private final EnvelopeSigner verifier;
  private final Counter skippedOwn;
  /** {@code r|<region>|<incarnation>|} as UTF-8: the key prefix of this writer's record changes. */
  private volatile byte[] ownRecordKeyPrefix;

  BatchApplier(IdempotencyStore store, LagTracker lag, MeterRegistry meters) {
    this(store, lag, meters, null);
  }

  BatchApplier(IdempotencyStore store, LagTracker lag, MeterRegistry meters,
      EnvelopeSigner verifier) {
    this.store = ReplicaStore.of(store);
    this.verifier = verifier;
    this.lag = lag;
    RegionId region = store.owner().region();
    String r = region.name();
    appliedRecords = meters.counter(StoreMeterNames.REPLICATION_APPLIED, "region", r, "type", "record");
    appliedLeases = meters.counter(StoreMeterNames.REPLICATION_APPLIED, "region", r, "type", "lease");
    appliedHeartbeats =
        meters.counter(StoreMeterNames.REPLICATION_APPLIED, "region", r, "type", "heartbeat");
    badCorrupt = meters.counter(StoreMeterNames.REPLICATION_BAD_RECORDS, "region", r, "reason", "corrupt");
    badPartition =
        meters.counter(StoreMeterNames.REPLICATION_BAD_RECORDS, "region", r, "reason", "wrong-partition");
    badAuthentication =
        meters.counter(StoreMeterNames.REPLICATION_BAD_RECORDS, "region", r, "reason", "unauthenticated");
    skippedOwn =
        meters.counter(StoreMeterNames.REPLICATION_SKIPPED, "region", r, "reason", "own-writer");
  }

  /**
   * Names this process's changelog writer: its record changes read back from the own region's
   * changelog are skipped undecoded where {@link #apply(ConsumerRecords, Function,
   * java.util.function.Consumer, IntPredicate)} allows it.
   */
  void ownWriter(RegionId region, String incarnation) {
    ownRecordKeyPrefix = ChangelogCodec.recordKey(region, incarnation, "")
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** Whether {@code key} is a record change of this writer (main key; retry keys are applied). */
  private static boolean hasPrefix(byte[] key, byte[] prefix) {
    if (key == null || key.length <= prefix.length) {
      return false;
    }
    return java.util.Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length);
  }

  /**
   * Applies {@code records}; returns how many records were read per partition.
   *
   * @param checkpointKey the checkpoint key of a partition (own region: {@code topic/partition})
   */
  Map<TopicPartition, Integer> apply(
      ConsumerRecords<byte[], byte[]> records, Function<TopicPartition, String> checkpointKey) {
    return apply(records, checkpointKey, m -> {});
  }

  /**
   * As {@link #apply(ConsumerRecords, Function)}; hand-off markers go to {@code markers} after the
   * batch (with every record before them) is in the store. Only the own region's reader passes a
   * sink: a marker certifies what precedes it in the changelog it was read from.
   */
  Map<TopicPartition, Integer> apply(
      ConsumerRecords<byte[], byte[]> records, Function<TopicPartition, String> checkpointKey,
      java.util.function.Consumer<ChangelogEntry.HandoffMarker> markers) {
    return apply(records, checkpointKey, markers, p -> false);
  }

  /**
   * As {@link #apply(ConsumerRecords, Function, java.util.function.Consumer)}; in the partitions
   * where {@code ownInStore} holds, this writer's own record changes ({@link #ownWriter}) are
   * skipped undecoded: the caller vouches that the store still holds every change this writer made
   * to that shard (it never dropped the shard since this writer began).
   */
  Map<TopicPartition, Integer> apply(
      ConsumerRecords<byte[], byte[]> records, Function<TopicPartition, String> checkpointKey,
      java.util.function.Consumer<ChangelogEntry.HandoffMarker> markers, IntPredicate ownInStore) {
    if (records.isEmpty()) {
      return Map.of();
    }
    List<IdRecord> recs = new ArrayList<>();
    List<ShardLease> leases = new ArrayList<>();
    List<ChangelogEntry.Heartbeat> heartbeats = new ArrayList<>();
    List<ChangelogEntry.HandoffMarker> handoffs = new ArrayList<>();
    Map<String, Long> checkpoints = new HashMap<>();
    Map<TopicPartition, Integer> counts = new HashMap<>();
    byte[] own = ownRecordKeyPrefix;
    long skipped = 0;
    for (TopicPartition tp : records.partitions()) {
      List<ConsumerRecord<byte[], byte[]>> part = records.records(tp);
      boolean skipOwn = own != null && ownInStore.test(tp.partition());
      for (ConsumerRecord<byte[], byte[]> r : part) {
        if (skipOwn && hasPrefix(r.key(), own)) {
          // this writer's change, committed to the store before it was shipped: nothing to merge
          skipped++;
          continue;
        }
        String refused = verifier == null ? null : authenticationFailure(r);
        if (refused != null) {
          // before decoding: a forged value never reaches the parser or the store
          badAuthentication.increment();
          LOG.warn("skipping an unauthenticated changelog record at {}/{}@{}: {}",
              r.topic(), r.partition(), r.offset(), refused);
          continue;
        }
        ChangelogEntry e;
        try {
          e = ChangelogCodec.decode(r.value());
        } catch (CorruptRecordException ex) {
          badCorrupt.increment();
          LOG.warn("skipping a changelog record that does not decode at {}/{}@{}: {}",
              r.topic(), r.partition(), r.offset(), ex.getMessage());
          continue;
        }
        if (e.shard() != r.partition()) {
          // shard n lives in partition n only; applying it here could revive a dropped shard
          badPartition.increment();
          LOG.warn("skipping a changelog record of shard {} found in partition {}/{}@{}",
              e.shard(), r.topic(), r.partition(), r.offset());
          continue;
        }
        if (e instanceof ChangelogEntry.RecordEntry re) {
          recs.add(re.record());
        } else if (e instanceof ChangelogEntry.LeaseEntry le) {
          leases.add(le.lease());
        } else if (e instanceof ChangelogEntry.Heartbeat hb) {
          heartbeats.add(hb);
        } else if (e instanceof ChangelogEntry.HandoffMarker m) {
          handoffs.add(m);
        }
      }
      checkpoints.put(checkpointKey.apply(tp), part.get(part.size() - 1).offset() + 1);
      counts.put(tp, part.size());
    }
    store.applyRemoteBatch(recs, leases, checkpoints);
    if (skipped > 0) {
      skippedOwn.increment(skipped);
    }
    appliedRecords.increment(recs.size());
    appliedLeases.increment(leases.size());
    appliedHeartbeats.increment(heartbeats.size());
    for (ChangelogEntry.Heartbeat hb : heartbeats) {
      lag.onHeartbeat(hb);
    }
    for (ChangelogEntry.HandoffMarker m : handoffs) {
      markers.accept(m);
    }
    return counts;
  }

  /** Why {@code r} is not authentic, or null if its signature and digest check out. */
  private String authenticationFailure(ConsumerRecord<byte[], byte[]> r) {
    Envelope env;
    try {
      env = KafkaEnvelopeHeaders.read(r.headers());
    } catch (EnvelopeException ex) {
      return "no readable envelope (" + ex.reason() + " " + ex.header() + ")";
    }
    EnvelopeSigner.Verification v = verifier.verify(env);
    if (v != EnvelopeSigner.Verification.VALID) {
      return "signature " + v;
    }
    // the signature covers the digest, not the value: the value must match the digest
    if (!env.digest().matches(r.value())) {
      return "value does not match its signed digest";
    }
    return null;
  }
}
