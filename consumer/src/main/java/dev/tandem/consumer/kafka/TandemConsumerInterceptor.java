package dev.tandem.consumer.kafka;

import dev.tandem.consumer.SharedStores;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.kafka.internal.InterceptorReplica;
import dev.tandem.consumer.kafka.internal.InterceptorReports;
import dev.tandem.consumer.kafka.internal.PassedRecords;
import dev.tandem.consumer.kafka.internal.PassedRecords.Passed;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.CompleteRequest;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.RecordKey;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.store.replication.ReplicatedStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntPredicate;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.header.Header;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Kafka {@link ConsumerInterceptor} that gives a plain {@code KafkaConsumer} cross-region
 * de-duplication — detection, not prevention — configured only through properties, with the same
 * {@code tandem.*} keys as the region entry point ({@link TandemRegionConfig}) plus its own ({@link
 * TandemInterceptorConfig}); an unknown {@code tandem.*} key, a wrong type or an inconsistent value
 * fails the consumer's construction, naming the key:
 *
 * <pre>
 * interceptor.classes=dev.tandem.consumer.kafka.TandemConsumerInterceptor
 * tandem.guarantee=detect-only
 * tandem.region=westeurope
 * tandem.regions=westeurope,northeurope
 * tandem.region.westeurope.bootstrap.servers=kafka-we:9092
 * tandem.region.northeurope.bootstrap.servers=kafka-ne:9092
 * tandem.state.dir=/var/lib/app/tandem
 * tandem.shards=12
 * </pre>
 *
 * <p>{@code tandem.guarantee=detect-only} is required, by name: without shard ownership nothing
 * prevents a duplicate across regions (the full guarantee is the region entry point's consumer). It
 * opens its region's <em>replica</em> as a detect-only {@link TandemRegion} of the same keys: the
 * RocksDB store in {@code <tandem.state.dir>/store} plus its replication log, which applies the other
 * region's changelog to it and ships this region's completions to both regions' changelogs ({@link
 * KafkaReplicationLog}, {@code tandem.changelog.*} keys; {@code tandem.store.shards} must stay {@code
 * all}: the interceptor never learns its consumer's assignment). A Kafka partition is a shard: the consumed topics must have at most
 * {@code tandem.shards} partitions (a record of a partition beyond passes unchecked, counted as a read
 * failure, with a WARN).
 *
 * <h2>What it does</h2>
 *
 * <ul>
 *   <li>{@code onConsume}: drops every record whose {@code tandem-id} is COMPLETED (or DEAD_LETTERED)
 *       in the replica — completed in <em>either</em> region — with a matching payload digest (a copy
 *       with another digest is a conflict and passes, counted). Records without a usable {@code
 *       tandem-id} pass. One store call per poll ({@link IdempotencyStore#terminalRecords}).
 *   <li>{@code onCommit}: records a completion, in one batch, for every record it passed on whose
 *       offset is below the offset Kafka committed for its partition — Kafka's own at-least-once
 *       contract: an offset committed past a record says the application processed it. A record passed
 *       but never covered by a commit (a rebalance, a crash, a close without commit) records nothing and
 *       is read again by whoever gets the partition. Passed records wait in a bounded structure ({@code
 *       tandem.interceptor.max.tracked} records per consumer, least recently fed partition evicted
 *       first; an eviction is counted as {@code tandem.consumer.interceptor.untracked} and logged:
 *       expected for a partition lost in a rebalance, whose new owner completes its records).
 * </ul>
 *
 * <h2>What that guarantees — exactly this, and less than {@link TandemKafkaConsumer}</h2>
 *
 * <ul>
 *   <li><b>An id committed in one region is dropped in the other once the completion has replicated</b>
 *       (and in its own region after a rebalance).
 *   <li><b>Duplicates only inside the replication lag, each detected and counted.</b> The lag here is
 *       the time from a region's poll of a copy to its completion reaching the other region's replica:
 *       the application's commit interval plus the changelog's replication lag (unbounded while the
 *       regions cannot reach each other). If both regions pass a copy inside it, both process it; both
 *       then complete it, the record carries completers from two regions, and every replica's {@link
 *       IdempotencyStore#detectedDuplicates()} (gauge {@code tandem.store.detected.duplicates}) counts
 *       it once the completions met, with a WARN naming the id. Exclusions below.
 *   <li><b>No takeover, no bound.</b> There is no shard owner: both regions consume freely, so
 *       concurrent consumption of the same ids makes as many duplicates as the lag allows, and
 *       nothing bounds them. An interceptor cannot pause partitions, hold records or run the handler,
 *       so it cannot wait for an owner region. For prevention (one owner per shard, takeover with a
 *       reported bound) use {@link TandemKafkaConsumer}.
 *   <li>A duplicate is detected only if both copies are completed, i.e. committed by the application;
 *       ids processed and never committed are, as in Kafka, processed again.
 * </ul>
 *
 * <p><b>Not checked or not completed, so a duplicate of it is neither dropped nor detected</b> (each
 * counted): a record without a usable {@code tandem-id} (absent; empty, over 128 characters or with a
 * control character: {@code .invalid}); a record of a partition at or beyond {@code tandem.shards}
 * ({@code .store.failures{operation=read}}); a record evicted from tracking while this consumer still
 * holds its partition ({@code .untracked}; after a rebalance the partition's new owner completes
 * it); a record whose completion failed ({@code .store.failures{operation=complete}}) and whose
 * partition this consumer never commits again (revoked, closed, crashed: the next owner starts past
 * it); an id whose record expired ({@code tandem.record.ttl.ms}). Passed <em>unchecked</em> but
 * completed (so a cross-region duplicate is still detected once completed): a poll whose lookup
 * failed, a record of a shard still restoring ({@code .restoring}). <b>Commit after processing</b>:
 * an application that commits before it processes (or whose processing fails after the commit)
 * records a completion for a record it never processed; in Kafka alone that is a loss in one region,
 * here the id is then dropped in both regions.
 *
 * <h2>Store failures</h2>
 *
 * Kafka swallows an interceptor's exceptions (it logs them and keeps the records unchanged), so a
 * failure must not be left to escape. When the replica cannot answer a poll's lookup (closed,
 * corrupt), the interceptor <b>passes the poll's records</b> (dropping them would lose messages),
 * counts {@code tandem.consumer.interceptor.store.failures} ({@code operation=read}) and logs a WARN
 * (at most one per 10 s per consumer, with the count). A shard still restoring is never waited for:
 * only its records pass unchecked ({@code tandem.consumer.interceptor.restoring}, rate-limited WARN)
 * and a commit leaves its records tracked until it is restored. A failed completion is counted per
 * partition ({@code operation=complete}), logged, and retried at the next commit of that partition
 * while its records stay tracked; other partitions of the commit are completed. Passed records of a
 * failed lookup are tracked and completed as usual.
 *
 * <h2>Sharing</h2>
 *
 * RocksDB opens a directory once per process, so every interceptor of a state directory shares one
 * replica (that region object) through {@link SharedStores#acquireOwned}; the last interceptor's
 * {@code close} closes it, in the region's order. A consumer whose region keys differ from those that
 * opened the directory's replica ({@code tandem.shards}, {@code tandem.record.ttl.ms}, ...) is refused,
 * naming the key (a directory is one replica of one configuration); the interceptor's own keys
 * ({@link TandemInterceptorConfig}) may differ per consumer. Meters go to Micrometer's global registry, tagged {@code
 * region}: {@code tandem.consumer.interceptor.dropped}, {@code .passed}, {@code .conflicts}, {@code
 * .invalid}, {@code .completed}, {@code .untracked}, {@code .restoring} and {@code .store.failures}.
 */
public final class TandemConsumerInterceptor<K, V> implements ConsumerInterceptor<K, V> {

  private static final Logger LOG = LoggerFactory.getLogger(TandemConsumerInterceptor.class);

  /** The lease of the claim written just before a completion (it only carries the digest). */
  static final Duration COMPLETION_CLAIM_LEASE = Duration.ofSeconds(30);

  private Path directory;
  private IdempotencyStore store;
  /** Batched reads of restored shards: the replica's ungated local store (else {@code store}). */
  private IdempotencyStore reader;
  /** Whether a shard of the replica is restored (its gate answers at once). */
  private IntPredicate restored;
  private RegionId region;
  /** The replica's shard count (0: not checked, for tests that attach a store directly). */
  private int shards;
  private boolean warnedShards;
  private PassedRecords tracked;
  // onConsume's per-poll scratch, reused from poll to poll (the calls are serialised) and cleared
  // after each: the i-th record's key, its digest, and the keys to look up (issue 20: three arrays
  // of the poll's size per poll were ~8 B per record)
  private RecordKey[] keyScratch = new RecordKey[0];
  private PayloadDigest[] digestScratch = new PayloadDigest[0];
  private final ArrayList<RecordKey> readableScratch = new ArrayList<>();
  /** Counters and rate-limited WARN lines. */
  private InterceptorReports reports;

  @Override
  public void configure(Map<String, ?> configs) {
    // the region entry point's key table plus the interceptor's own keys
    TandemInterceptorConfig c = new TandemInterceptorConfig(configs);
    if (!c.detectOnly()) {
      throw new ConfigException(TandemRegionConfig.GUARANTEE_CONFIG,
          c.getString(TandemRegionConfig.GUARANTEE_CONFIG), "the interceptor cannot prevent a "
          + "duplicate across regions (no shard owner: no takeover, no bound), it drops what either "
          + "region completed and detects and counts the rest; set " + TandemRegionConfig.GUARANTEE_CONFIG
          + "=" + TandemRegionConfig.GUARANTEE_DETECT_ONLY + " to ask for that by name, or use "
          + "TandemRegion's consumer for the full guarantee");
    }
    if (!c.allShards()) {
      throw new ConfigException(TandemRegionConfig.STORE_SHARDS_CONFIG,
          c.getString(TandemRegionConfig.STORE_SHARDS_CONFIG), "the interceptor never learns its "
          + "consumer's assignment: its replica holds every shard (all)");
    }
    // one shared replica per state directory in the process (see InterceptorReplica)
    InterceptorReplica replica = InterceptorReplica.acquire(c, () -> openRegion(configs));
    directory = replica.directory();
    shards = replica.shards(); // the shared replica's (equal to this configuration's: checked)
    IdempotencyStore shared = replica.store();
    attach(shared, c.region(), c.getInt(TandemInterceptorConfig.MAX_TRACKED_CONFIG),
        Metrics.globalRegistry);
  }

  /** Opens the region of the configuration and waits (bounded) for its replica to be restored. */
  private static TandemRegion openRegion(Map<String, ?> configs) {
    TandemRegion region = TandemRegion.create(TandemInterceptorConfig.regionKeys(configs));
    Duration wait = KafkaReplicationLog.Builder.DEFAULT_RESTORE_WAIT;
    if (!region.replicationLog().awaitRestored(wait)) {
      LOG.warn("Tandem interceptor: the replica of {} ({}) is not restored after {}; a poll of a "
          + "shard still restoring waits for it, then passes its records (counted as store "
          + "failures)", region.config().getString(TandemRegionConfig.STATE_DIR_CONFIG),
          region.region(), wait);
    }
    return region;
  }

  /** Wires this interceptor to {@code store} (configure's last step; tests call it directly). */
  void attach(IdempotencyStore store, RegionId region, int maxTracked, MeterRegistry meters) {
    if (store instanceof ReplicatedStore rs) {
      attach(rs, rs.unwrap(), rs.replicationLog()::isRestored, region, maxTracked, meters);
    } else {
      attach(store, store, shard -> true, region, maxTracked, meters);
    }
  }

  /**
   * As {@link #attach(IdempotencyStore, RegionId, int, MeterRegistry)}, with the replica's ungated
   * reader and restore state given (tests stand in for a restoring shard with them).
   */
  void attach(IdempotencyStore store, IdempotencyStore reader, IntPredicate restored, RegionId region,
      int maxTracked, MeterRegistry meters) {
    this.store = Objects.requireNonNull(store, "store");
    this.reader = Objects.requireNonNull(reader, "reader");
    this.restored = Objects.requireNonNull(restored, "restored");
    this.region = region;
    this.tracked = new PassedRecords(maxTracked);
    this.reports = new InterceptorReports(region, meters, LOG);
    reports.directory(directory);
  }

  /** The store this interceptor reads (the shared replica of its directory). */
  IdempotencyStore store() {
    return store;
  }

  /** Passed records still waiting for a commit (for tests). */
  synchronized int trackedCount() {
    return tracked.size();
  }

  @Override
  public synchronized ConsumerRecords<K, V> onConsume(ConsumerRecords<K, V> records) {
    // one store lookup per poll: every record's key first, then the cache and one RocksDB multiGet
    // for all of them (store.terminalRecords), then the decision per record in fetch order. Per
    // record it allocates only what it keeps or hands to the store (the id's String, its RecordKey,
    // its digest and tracking entry; issue 20's InterceptorPollCostTest measures it): the poll's
    // arrays are reused, a poll that drops nothing is returned as it came (no copy).
    int count = records.count();
    if (count == 0) {
      return records;
    }
    if (keyScratch.length < count) {
      keyScratch = new RecordKey[count];
      digestScratch = new PayloadDigest[count];
    }
    try {
      return consume(records, count, keyScratch, digestScratch, readableScratch);
    } finally {
      // nothing of this poll stays reachable from the scratch
      java.util.Arrays.fill(keyScratch, 0, count, null);
      java.util.Arrays.fill(digestScratch, 0, count, null);
      readableScratch.clear();
    }
  }

  private ConsumerRecords<K, V> consume(ConsumerRecords<K, V> records, int count, RecordKey[] keyOf,
      PayloadDigest[] digestOf, List<RecordKey> readable) {
    // keyOf[i]: the key of the i-th record in (partition, offset) order; null: no usable id.
    // digestOf[i]: its payload digest, read in the same visit of its headers (null: none usable;
    // malformed[i] tells an unreadable one from an absent one)
    boolean[] malformed = null;
    // a shard still restoring has no trustworthy answer yet, and asking its gate would block the
    // poll (up to the restore wait): its records pass unchecked, counted; the restored shards of the
    // poll are still read (and their completed ids dropped). Partition n is shard n, and a poll's
    // records come grouped by partition: one gate question per partition of the poll.
    Map<Integer, Boolean> restoredShard = null; // only built when a shard is still restoring
    int unchecked = 0;
    int i = 0;
    for (TopicPartition tp : records.partitions()) {
      Boolean shardRestored = null; // asked at the partition's first usable key
      for (ConsumerRecord<K, V> r : records.records(tp)) {
        RecordKey key = keyOf(r);
        if (key != null) {
          if (shardRestored == null) {
            shardRestored = restored.test(key.shard());
            if (!shardRestored) {
              if (restoredShard == null) {
                restoredShard = new HashMap<>();
              }
              restoredShard.put(key.shard(), false);
            }
          }
          if (shardRestored) {
            readable.add(key);
          } else {
            unchecked++; // passed unchecked, still tracked (completed once restored)
          }
          keyOf[i] = key;
          // the digest now, while the record's headers are at hand (one visit per record; the
          // decision and the tracking below use it)
          Header h = r.headers().lastHeader(TandemHeaders.DIGEST);
          if (h != null && h.value() != null) {
            try {
              digestOf[i] = PayloadDigest.fromHexAscii(h.value());
            } catch (IllegalArgumentException e) {
              if (malformed == null) {
                malformed = new boolean[count];
              }
              malformed[i] = true;
            }
          }
        }
        i++;
      }
    }
    if (unchecked > 0) {
      reports.restoringPassed(unchecked, restoredShard);
    }
    Map<RecordKey, IdRecord> terminal;
    try {
      // one batched read: the cache, then one RocksDB multiGet
      terminal = readable.isEmpty() ? Map.of() : reader.terminalRecords(readable);
    } catch (RuntimeException e) {
      // Kafka would swallow it and pass everything without a trace: pass, but count and log
      reports.readFailures.increment();
      reports.storeFailure("could not look up " + readable.size() + " ids of a poll; passing the poll's "
          + count + " records on (they may be duplicates)", e);
      terminal = Map.of();
    }
    // the decision in fetch order; dropped[i] only exists once a record is dropped
    boolean[] dropped = null;
    int drops = 0;
    i = 0;
    for (TopicPartition tp : records.partitions()) {
      for (ConsumerRecord<K, V> r : records.records(tp)) {
        RecordKey key = keyOf[i];
        if (key != null && !terminal.isEmpty()
            && alreadyDone(terminal.get(key), digestOf[i], malformed != null && malformed[i])) {
          if (dropped == null) {
            dropped = new boolean[count];
          }
          dropped[i] = true;
          drops++;
        } else if (key != null) {
          track(tp, r, key, digestOf[i]);
        }
        i++;
      }
    }
    reports.passed.increment(count - drops);
    if (drops == 0) {
      return records; // nothing dropped: the poll as it came (positions and all)
    }
    reports.dropped.increment(drops);
    Map<TopicPartition, List<ConsumerRecord<K, V>>> kept = new HashMap<>();
    i = 0;
    for (TopicPartition tp : records.partitions()) {
      List<ConsumerRecord<K, V>> partitionRecords = records.records(tp);
      List<ConsumerRecord<K, V>> out = new ArrayList<>(partitionRecords.size());
      for (ConsumerRecord<K, V> r : partitionRecords) {
        if (!dropped[i++]) {
          out.add(r);
        }
      }
      if (!out.isEmpty()) {
        kept.put(tp, out);
      }
    }
    // the positions stay those of the fetch: dropped records are consumed, not re-read
    return new ConsumerRecords<>(kept, records.nextOffsets());
  }

  /** Tracks a passed record; {@code digest} null: none usable (completed without one). */
  private void track(TopicPartition tp, ConsumerRecord<K, V> r, RecordKey key, PayloadDigest digest) {
    Passed evicted = tracked.add(tp, new Passed(r.offset(), key, digest));
    if (evicted != null) {
      Counter untracked = reports.untracked;
      untracked.increment();
      if (untracked.count() == 1 || (long) untracked.count() % 10_000 == 0) {
        // usually harmless: the least recently fed partition goes first, which after a rebalance is
        // one this consumer lost, and its new owner completes those records at its own commit; only
        // if this consumer still holds the partition is the completion missing
        LOG.warn("Tandem interceptor ({}): {} passed records evicted from tracking (bound {}) before "
            + "this consumer saw a commit covering them, e.g. {} (partition {}, offset {}); this "
            + "consumer records no completion for them. Expected after a rebalance (the partition's "
            + "new owner completes them). If this consumer still holds the partition, a copy the "
            + "other region processes is not detected: commit more often or raise {}",
            region, (long) untracked.count(), tracked.max(), evicted.key().id(),
            evicted.key().shard(), evicted.offset(), TandemInterceptorConfig.MAX_TRACKED_CONFIG);
      }
    }
  }

  /**
   * The store key of a record, or null if it has no usable {@code tandem-id}: a record without one,
   * or with one the store refuses ({@link TandemIds#validate}: empty, oversized, a control
   * character), passes on (counted as {@code invalid} when the header is
   * there but unusable): the application decides, nothing is dropped silently.
   */
  private RecordKey keyOf(ConsumerRecord<K, V> r) {
    String id = header(r, TandemHeaders.ID);
    if (id == null) {
      return null;
    }
    try {
      // the store's own rule (empty, oversized, a control character): an id it would refuse is
      // never tracked, so it can never fail the completions of a commit
      TandemIds.validate(id);
    } catch (IllegalArgumentException e) {
      reports.invalid.increment();
      return null;
    }
    if (shards > 0 && r.partition() >= shards) {
      // partition n is shard n: a partition beyond the replica's shards has no record to read or
      // write; passed on, counted as a read failure, never tracked
      reports.readFailures.increment();
      if (!warnedShards) {
        warnedShards = true;
        LOG.warn("Tandem interceptor ({}): {}-{} is beyond {}={} (partition n is shard n): its "
            + "records pass unchecked and are never completed; give the topic at most {} partitions "
            + "or raise {}", region, r.topic(), r.partition(), TandemRegionConfig.SHARDS_CONFIG, shards,
            shards, TandemRegionConfig.SHARDS_CONFIG);
      }
      return null;
    }
    return new RecordKey(r.partition(), id);
  }

  /**
   * Whether a record is a copy of the terminal record {@code rec} (null: not terminal here), given
   * its digest header: {@code digest} null and not {@code malformed} when it has none. A copy with a
   * digest the record lacks, or without one while the record has some, is a conflict (counted,
   * passed); a malformed digest is never dropped silently; a record without digests drops every
   * readable copy.
   */
  private boolean alreadyDone(IdRecord rec, PayloadDigest digest, boolean malformed) {
    if (rec == null || malformed) {
      return false;
    }
    if ((digest == null || !rec.digests().contains(digest)) && !rec.digests().isEmpty()) {
      reports.conflicts.increment();
      return false;
    }
    return true;
  }

  private static String header(ConsumerRecord<?, ?> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  /**
   * Kafka committed {@code offsets}: every passed record below its partition's committed offset was
   * processed (Kafka's at-least-once contract), so its completion is recorded now, partition by
   * partition, in two write batches each (a claim carrying the payload digest, then the completion).
   * A partition whose completion fails stays tracked (its next commit retries) and does not hold
   * back the other partitions of the commit.
   */
  @Override
  public synchronized void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {
    if (tracked == null) {
      return;
    }
    int failedRecords = 0;
    int failedPartitions = 0;
    RuntimeException firstFailure = null;
    for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
      if (e.getValue() == null) {
        continue;
      }
      if (!restored.test(e.getKey().partition())) {
        // its gate would block this commit (up to the restore wait), then fail: the records stay
        // tracked and are completed at a commit of the partition once the shard is restored
        continue;
      }
      long committed = e.getValue().offset();
      List<Passed> covered = new ArrayList<>();
      if (!tracked.collectBelow(e.getKey(), committed, covered)) {
        continue;
      }
      try {
        complete(covered);
      } catch (RuntimeException ex) {
        reports.completeFailures.increment();
        failedRecords += covered.size();
        failedPartitions++;
        if (firstFailure == null) {
          firstFailure = ex;
        }
        continue;
      }
      tracked.removeBelow(e.getKey(), committed);
      reports.completed.increment(covered.size());
    }
    if (firstFailure != null) {
      reports.storeFailure("could not record the completion of " + failedRecords + " committed records of "
          + failedPartitions + " partitions (retried at the next commit of each)", firstFailure);
    }
  }

  private void complete(List<Passed> covered) {
    List<ClaimRequest> claims = new ArrayList<>(covered.size());
    List<CompleteRequest> completions = new ArrayList<>(covered.size());
    for (Passed p : covered) {
      if (p.digest() != null) {
        // the claim only adds the copy's digest to the record (so a later copy with another payload
        // is a conflict, not a drop); its answer does not matter: the application processed it
        claims.add(new ClaimRequest(p.key().id(), p.key().shard(), p.digest(), 0L,
            COMPLETION_CLAIM_LEASE));
      }
      completions.add(new CompleteRequest(p.key().id(), p.key().shard(), null));
    }
    if (!claims.isEmpty()) {
      store.claimAll(claims);
    }
    List<IdRecord> done = store.completeAll(completions);
    for (IdRecord rec : done) {
      if (rec.isDetectedDuplicate()) {
        LOG.warn("Tandem interceptor ({}) detected a cross-region duplicate of {}: completers {}",
            region, rec.id(), rec.completers());
      }
    }
  }

  @Override
  public synchronized void close() {
    if (directory != null) {
      SharedStores.release(directory);
      directory = null;
    }
  }
}
