package dev.tandem.consumer.kafka;

import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.ShardFence;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.HandlerActivity;
import dev.tandem.consumer.ownership.OwnerLiveness;
import dev.tandem.consumer.ownership.OwnershipRequests;
import dev.tandem.consumer.ownership.ProbeAbortedException;
import dev.tandem.consumer.ownership.RenewalOutcome;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.Envelope;
import dev.tandem.core.Hlc;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreException;
import dev.tandem.store.replication.Handoff;
import dev.tandem.store.replication.ReplicationLog;
import dev.tandem.store.replication.ShardNotReadyException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka poll loop with the full once-across-regions guarantee: it wraps the application's
 * {@code Consumer<byte[], byte[]>} (bytes, because the envelope's digest is over the serialized
 * value; the record handed to the handler is deserialized here with the given deserializers) and a
 * {@link TandemRecordHandler}. Kafka partitions are shards.
 *
 * <ul>
 *   <li><b>Owner</b> of a shard (per {@link ShardOwnership}): each poll's records are claimed in one
 *       batch and handled by {@link OnceProcessor}; offsets are committed only after the COMPLETED
 *       records are acknowledged by the own region's changelog ({@code barrier(shard, own region)}).
 *       The shard is paused while W changes await the peer region. After each successful fetch from
 *       its own broker it heartbeats its leases; while a batch runs, a background renewer does (see
 *       {@link Builder#handlerTimeout}): a busy owner keeps its shards however long the batch, a
 *       stuck one (a handler beyond {@code handlerTimeout}), a dead one or one whose broker stopped
 *       answering loses them once its lease lapses.
 *   <li><b>Follower</b>: a record whose id is already terminal is acknowledged without the handler;
 *       otherwise the partition is paused and its records held (bounded by one poll) until the
 *       completion replicates, or this region takes the shard over. After {@code maxHold} the held
 *       copy is re-sent to the owner region's topic (same id) and held on. A follower never runs the
 *       handler for a shard it does not own.
 *   <li><b>Rebalance</b> inside a region: on revoke, pending offsets are committed after their
 *       barriers and the replication log flushes the shard's changelog writes before it is given up;
 *       on assign, the shard is restored from the changelog before any claim (the gated store
 *       enforces it). The revoke callback is bounded as a whole ({@link Builder#revokeTimeout}). A
 *       shard whose writes are not acknowledged by the own region within its one bounded wait is
 *       handed off: its offset stays, the commit carries a {@link Handoff} token, and the next holder
 *       claims nothing in it until it has read the token's marker (or {@code handoffTimeout} passed
 *       since the token was made), then commits again without the token.
 *   <li><b>Failures</b>: a batch whose processing throws is sought back to its first record and read
 *       again; no offset past it is committed.
 * </ul>
 *
 * <p>Order: a record to be retried (handler failed, in progress elsewhere) is re-read from its offset
 * after a pause; records after it in the same poll have already run and are skipped as completed when
 * re-read, so a retried record may run after later ones of its partition (as with retry topics).
 *
 * <p>Without a {@link ShardOwnership} every shard is owned by this instance under epoch 0 (one region,
 * or several regions processing at once and relying on the store alone: duplicates are then only
 * detected, not prevented).
 *
 * <p>Threading: {@link #start()} runs the loop on its own thread, which alone uses the Kafka consumer,
 * and (with a {@link ShardOwnership}) the lease renewer on another, which never does; {@link
 * #close()} stops both.
 */
public final class TandemKafkaConsumer<K, V> implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(TandemKafkaConsumer.class);

  private final org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer;
  private final String topic;
  private final Deserializer<K> keyDeserializer;
  private final Deserializer<V> valueDeserializer;
  private final TandemRecordHandler<K, V> handler;
  private final OnceProcessor processor;
  private final ReplicationLog replication;
  private final boolean handShards;
  private final ShardOwnership ownership;
  private final RegionId region;
  private final Map<RegionId, RegionalSink> resendSinks;
  private final Duration pollTimeout;
  private final Duration heartbeatInterval;
  private final Duration maxHold;
  private final Duration commitTimeout;
  private final Duration restoreTimeout;
  private final Duration handoffTimeout;
  private final Duration revokeTimeout;
  private final Duration revokeFlushWait;
  private final Duration handlerTimeout;
  private final TandemClock clock;
  /** Busy or stuck: the poll loop's turns and handlers (also the replica's liveness check). */
  private final HandlerActivity activity;
  /** The owner-liveness protocol (null without ownership): when this owner may renew. */
  private final OwnerLiveness liveness;
  /** Remote ownership requests acted on between batches (null: none). */
  private final OwnershipRequests ownershipRequests;
  /** The liveness probe of this region's Kafka broker (the consumed cluster). */
  static final String OWN_BROKER_PROBE = "kafka";
  /** The partitions the own-broker probe asks end offsets of (set by the loop before a round). */
  private Collection<TopicPartition> probeTargets = List.of();
  private final Counter followerAcks;
  private final Counter renewedInBatch;
  private final Counter renewalsWithheldStuck;
  private final Counter renewalsWithheldBroker;
  private final Counter resends;
  private final Timer holdTime;
  /** Records the follower side holds now (written by the loop, read by health and the gauge). */
  private final java.util.concurrent.atomic.AtomicLong heldCount =
      new java.util.concurrent.atomic.AtomicLong();
  private final MeterRegistry meters;
  /** Pause before records whose processing failed are fetched again. */
  private static final Duration PROCESSING_RETRY_BACKOFF = Duration.ofMillis(500);

  private final Set<TopicPartition> assigned = new HashSet<>();
  private final Map<TopicPartition, Held> held = new HashMap<>();
  private final Map<TopicPartition, Long> resumeAtNanos = new HashMap<>();
  private final Map<TopicPartition, Pending> pending = new HashMap<>();
  /** Last offset this instance committed, per assigned partition. */
  private final Map<TopicPartition, Long> committedOffsets = new HashMap<>();
  /** First offset fetched since the partition was assigned here (where this instance began). */
  private final Map<TopicPartition, Long> startOffsets = new HashMap<>();
  /** Partitions received from a holder that handed them off unflushed: its marker is awaited. */
  private final Map<TopicPartition, Awaited> awaitingHandoff = new HashMap<>();
  /** Partitions whose committed metadata could not be read yet (re-read before processing). */
  private final Set<TopicPartition> handoffUnknown = new HashSet<>();
  /** How often a partition waiting for a hand-off marker looks again. */
  private static final Duration HANDOFF_RECHECK = Duration.ofMillis(200);
  /** Default bound of a revoke callback (seconds): a fifth of Kafka's default max.poll.interval.ms. */
  public static final int DEFAULT_REVOKE_TIMEOUT_SECONDS = 60;
  private static final Duration DEFAULT_REVOKE_TIMEOUT =
      Duration.ofSeconds(DEFAULT_REVOKE_TIMEOUT_SECONDS);
  /** Per shard, the position the heartbeats carry: written by the loop, read by the renewer too. */
  private final Map<Integer, Long> positions = new ConcurrentHashMap<>();
  /** Last successful heartbeat round of the loop, monotonic. */
  private long lastHeartbeatNanos;
  /** When the loop last ran a heartbeat round (whatever its outcome): the renewer stays out then. */
  private volatile long loopRoundNanos;
  private volatile boolean running;
  /**
   * Shards assigned to this instance whose lease names this region, as the loop last saw them: what
   * the background renewer may renew. Cleared for revoked partitions before they are given up.
   */
  private final Set<Integer> renewable = ConcurrentHashMap.newKeySet();
  /** Serialises a renewer round with the removal of revoked shards from {@link #renewable}. */
  private final Object renewLock = new Object();
  private volatile boolean renewerWithheld;
  private volatile ScheduledExecutorService renewer;
  /** Set once close() has stopped the loop: no renewal after it. */
  private volatile boolean renewerStopped;
  private volatile Thread thread;
  private final CompletableFuture<Void> stopped = new CompletableFuture<>();

  /** Records of a followed shard waiting for their completion to replicate. */
  private static final class Held {
    final ArrayDeque<ConsumerRecord<byte[], byte[]>> records = new ArrayDeque<>();
    long sinceNanos;
    final Set<String> resent = new HashSet<>();
  }

  /** A previous holder's hand-off this instance waits for before it processes the partition. */
  private record Awaited(Handoff token, long sinceNanos, long offset) {}

  /** An offset to commit once the shard's changelog writes so far are acknowledged locally. */
  private record Pending(long offset, CompletableFuture<Void> barrier) {}

  private TandemKafkaConsumer(Builder<K, V> b) {
    this.consumer = b.consumer;
    this.topic = b.topic;
    this.keyDeserializer = b.keyDeserializer;
    this.valueDeserializer = b.valueDeserializer;
    this.handler = b.handler;
    this.replication = b.replication;
    this.handShards = b.handShards && b.replication != null;
    this.ownership = b.ownership;
    this.ownershipRequests = b.ownershipRequests;
    this.resendSinks = Map.copyOf(b.resendSinks);
    this.pollTimeout = b.pollTimeout;
    this.heartbeatInterval = b.heartbeatInterval;
    this.maxHold = b.maxHold;
    this.commitTimeout = b.commitTimeout;
    this.restoreTimeout = b.restoreTimeout;
    this.handoffTimeout = b.handoffTimeout;
    this.revokeTimeout = b.revokeTimeout;
    this.revokeFlushWait = b.revokeFlushWait;
    this.handlerTimeout = b.handlerTimeout;
    this.clock = b.clock;
    this.activity = new HandlerActivity(clock, handlerTimeout);
    // the one owner-liveness protocol (shared with the function app's heartbeat timer): the own
    // broker is the one probe here; a fetch that returned records is its evidence, else the loop
    // asks end offsets (the renewer never asks, it only reads the evidence, within the bound
    // max(2 x heartbeatInterval, 2 s, revalidateAfter))
    this.liveness = ownership == null ? null : OwnerLiveness.builder(ownership)
        .probe(BrokerProbe.of(OWN_BROKER_PROBE, this::ownBrokerAnswers))
        .probeTimeout(max(Duration.ofSeconds(2), heartbeatInterval))
        .heartbeatInterval(heartbeatInterval)
        .activity(activity)
        .clock(clock)
        .meterRegistry(b.registry)
        .build();
    ShardFence fence = ownership != null ? ownership.fence() : ShardFence.OPEN;
    OnceProcessor.Builder pb = OnceProcessor.builder().store(b.store).deadLetterSink(b.deadLetterSink)
        .meterRegistry(b.registry).fence(fence);
    if (b.replication != null) {
      // a takeover must see every claim whose handler may have run: claims reach the own
      // region's changelog before the batch's handlers start
      RegionId own = b.store.owner().region();
      ReplicationLog log = b.replication;
      pb.claimsDurable(shard -> log.barrier(shard, own), Duration.ofSeconds(5));
    }
    b.processorOptions.accept(pb);
    pb.fence(fence);
    this.processor = pb.build();
    this.region = b.store.owner().region();
    String r = region.name();
    followerAcks = Counter.builder("tandem.consumer.follower.acknowledged").tag("region", r)
        .description("records a follower acknowledged because the owner completed them")
        .register(b.registry);
    resends = Counter.builder("tandem.consumer.follower.resent").tag("region", r)
        .description("held copies re-sent to the owner region after maxHold").register(b.registry);
    this.meters = b.registry;
    holdTime = Timer.builder("tandem.consumer.follower.hold").tag("region", r)
        .description("how long a follower held a record until its completion replicated")
        .register(b.registry);
    io.micrometer.core.instrument.Gauge.builder("tandem.consumer.follower.held", heldCount,
            java.util.concurrent.atomic.AtomicLong::get)
        .tag("region", r).tag("topic", topic)
        .description("records a follower holds until the owner's completion replicates")
        .register(b.registry);
    renewedInBatch = renewals(b.registry, r, "renewed");
    renewalsWithheldStuck = renewals(b.registry, r, "withheld_stuck");
    renewalsWithheldBroker = renewals(b.registry, r, "withheld_broker");
  }

  private static Counter renewals(MeterRegistry registry, String region, String outcome) {
    return Counter.builder("tandem.consumer.lease.renewer").tag("region", region)
        .tag("outcome", outcome)
        .description("rounds of the background lease renewer while the poll loop runs a batch:"
            + " renewed, or withheld because the loop is stuck (handlerTimeout) or the own broker"
            + " did not answer")
        .register(registry);
  }

  /** A new builder for {@code topic}. */
  public static <K, V> Builder<K, V> builder(
      String topic, Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer) {
    return new Builder<>(topic, keyDeserializer, valueDeserializer);
  }

  /** The processor underneath (for its store and owner). */
  public OnceProcessor processor() {
    return processor;
  }

  /** The ownership, or null when none is used. */
  public ShardOwnership ownership() {
    return ownership;
  }

  /** Subscribes and runs the poll loop on a new thread. */
  public synchronized TandemKafkaConsumer<K, V> start() {
    if (thread != null) {
      throw new IllegalStateException("already started");
    }
    running = true;
    activity.loopTurned();
    if (replication != null) {
      // the replica's heartbeats say "this region's consumers run" only while this loop is alive:
      // turning, or running a handler that has not exceeded handlerTimeout
      replication.addLivenessCheck(() -> running && activity.alive(clock.nanoTime()));
    }
    if (ownership != null) {
      ScheduledExecutorService s = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread rt = new Thread(r, "tandem-shard-lease-renewer-" + processor.owner());
        rt.setDaemon(true);
        return rt;
      });
      long period = heartbeatInterval.toNanos();
      s.scheduleWithFixedDelay(this::renewRound, period, period, TimeUnit.NANOSECONDS);
      renewer = s;
    }
    Thread t = new Thread(this::run, "tandem-consumer-" + processor.owner());
    t.setDaemon(true);
    thread = t;
    t.start();
    return this;
  }

  private void run() {
    try {
      consumer.subscribe(List.of(topic), new StopRenewingFirst(new Rebalance()));
      while (running) {
        loopOnce();
      }
    } catch (WakeupException e) {
      if (running) {
        log.error("unexpected wakeup of the Tandem poll loop", e);
      }
    } catch (RuntimeException | Error e) {
      log.error("Tandem poll loop of {} stopped", processor.owner(), e);
      stopped.completeExceptionally(e);
    } finally {
      finalCommit();
      stopped.complete(null);
    }
  }

  /**
   * The stop's last step: commits every acknowledged offset (waiting for their barriers, bounded),
   * then the loop ends. close() wakes the consumer once to end a blocking poll; if the loop was not
   * inside a blocking call then, the wakeup is latched and fires in the next one — this commit, or a
   * commit of the loop's last turn (whose offsets {@link #commitPending} then keeps pending). A
   * wakeup is one-shot, so the commit is made again: a clean stop commits what is acknowledged and
   * prints no stack trace. A real failure (the broker gone) is one WARN line; the next holder reads
   * those records again and skips them as completed.
   */
  private void finalCommit() {
    for (int attempt = 1; ; attempt++) {
      try {
        commitPending(true);
        return;
      } catch (WakeupException e) {
        if (attempt >= 3) {
          log.warn("Tandem {}: final commit woken {} times; {} offset(s) stay uncommitted (their "
              + "records are skipped as completed when read again)", region, attempt, pending.size());
          return;
        }
      } catch (RuntimeException e) {
        log.warn("Tandem {}: final commit failed ({}); {} offset(s) stay uncommitted (their records "
            + "are skipped as completed when read again)", region, e.toString(), pending.size());
        return;
      }
    }
  }

  private void loopOnce() {
    activity.loopTurned();
    ConsumerRecords<byte[], byte[]> records;
    long polledAt = clock.nanoTime();
    try {
      records = consumer.poll(pollTimeout);
    } catch (WakeupException e) {
      throw e;
    } catch (KafkaException e) {
      log.warn("poll failed; no heartbeat until a fetch succeeds", e);
      return;
    }
    if (!records.isEmpty() && liveness != null) {
      // the own broker answered: the next renewal round needs no probe
      liveness.evidence(OWN_BROKER_PROBE).answered(polledAt);
    }
    boolean mayOwn = revalidateIfSilent(records.partitions());
    for (TopicPartition tp : records.partitions()) {
      List<ConsumerRecord<byte[], byte[]>> recs = records.records(tp);
      if (!assigned.contains(tp)) {
        continue;
      }
      startOffsets.putIfAbsent(tp, recs.get(0).offset());
      Held h = held.get(tp);
      if (h != null) {
        h.records.addAll(recs);
        continue;
      }
      try {
        if (owns(tp.partition()) && !mayOwn) {
          // silent too long and cannot re-read our own changelog: neither process nor acknowledge
          consumer.seek(tp, recs.get(0).offset());
        } else if (owns(tp.partition())) {
          processOwnedOrRedeliver(tp, recs);
        } else {
          follow(tp, recs);
        }
      } catch (StoreException e) {
        // a shard still restoring, or a store failure: read these records again later
        log.warn("store not ready for {}: {}", tp, e.getMessage());
        consumer.seek(tp, recs.get(0).offset());
      }
    }
    followerTick();
    resumeDue();
    // a hand-off wait ends (marker read, or expired) whether or not records arrive: its token is
    // cleared from the committed metadata then, not when this partition next has records
    for (TopicPartition tp : new ArrayList<>(awaitingHandoff.keySet())) {
      handoffSettled(tp);
    }
    long heldNow = 0;
    for (Held h : held.values()) {
      heldNow += h.records.size();
    }
    heldCount.set(heldNow);
    commitPending(false);
    heartbeatIfDue();
    actOnOwnershipRequests();
  }

  /**
   * Remote evacuate/return requests for the shards this loop runs: between batches, so a planned
   * handover drains nothing of this loop (it waits for the other consumers' batches of the shard).
   */
  private void actOnOwnershipRequests() {
    if (ownershipRequests == null || ownership == null || assigned.isEmpty()) {
      return;
    }
    Set<Integer> served = new TreeSet<>();
    for (TopicPartition tp : assigned) {
      served.add(tp.partition());
    }
    ownershipRequests.act(served);
  }

  /**
   * An owner whose heartbeats stopped for {@code revalidateAfter} (own broker down, or just started)
   * may have been taken over: before it processes again it re-reads the changelogs, where the new
   * lease would be. False when its own changelog cannot be read yet.
   */
  private boolean revalidateIfSilent(Set<TopicPartition> fetched) {
    if (ownership == null || fetched.isEmpty()) {
      return true;
    }
    // every shard this instance owns, not only the fetched ones: validity is one clock for all of
    // them, so a shard whose records arrive in the next poll must have been re-read now too
    return liveness.ensureValid(ownedShards(assigned));
  }

  private Set<Integer> ownedShards(Collection<TopicPartition> tps) {
    Set<Integer> shards = new TreeSet<>();
    for (TopicPartition tp : tps) {
      try {
        if (ownership.owns(tp.partition())) {
          shards.add(tp.partition());
        }
      } catch (StoreException e) {
        // not restored: it will not be processed or heartbeated this round anyway
      }
    }
    return shards;
  }

  private boolean owns(int shard) {
    return ownership == null || ownership.owns(shard);
  }

  private long epochOf(int shard) {
    return ownership == null ? 0L : ownership.epoch(shard);
  }

  /**
   * Processes records of an owned shard; if that fails in any way (a store error, a shard not
   * restored, a bug), the records are not lost: the partition is sought back to the first of them
   * (nothing of this batch was recorded as a commit position) and paused for a short backoff, so they
   * are fetched and processed again. This matters most for records that had left {@code held} (after
   * a takeover): their position was already past them, so without the seek nothing would ever read
   * them again.
   */
  private void processOwnedOrRedeliver(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> recs) {
    try {
      processOwned(tp, recs);
    } catch (WakeupException e) {
      throw e;
    } catch (RuntimeException e) {
      String reason = e instanceof ShardNotReadyException ? "shard-not-ready"
          : e instanceof StoreException ? "store" : "error";
      Counter.builder("tandem.consumer.processing.failures").tag("region", region.name())
          .tag("reason", reason)
          .description("batches whose processing failed; their records were sought back and read again")
          .register(meters).increment();
      long first = recs.get(0).offset();
      log.warn("Tandem {}: processing {} records of {} from offset {} failed; they are read again "
          + "(offset not committed past them): {}", region, recs.size(), tp, first, e.toString());
      pauseUntil(tp, first, clock.nanoTime() + PROCESSING_RETRY_BACKOFF.toNanos());
    }
  }

  private void processOwned(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> recs) {
    int shard = tp.partition();
    if (!handoffSettled(tp)) {
      // the previous holder's changes of this shard may not be in our store yet: claim nothing
      pauseUntil(tp, recs.get(0).offset(), clock.nanoTime() + HANDOFF_RECHECK.toNanos());
      return;
    }
    if (ownership == null) {
      processOwnedBatch(tp, recs);
      return;
    }
    // owned and assigned here: the renewer keeps its lease while this batch runs (the loop's own
    // heartbeat round may not have run yet, e.g. on the first batch after a start or a takeover)
    renewable.add(shard);
    // a planned handover drains the shard: it waits for this batch, and admits none after it
    if (!ownership.pollLoop().beginWork(shard)) {
      consumer.seek(tp, recs.get(0).offset());
      return;
    }
    try {
      processOwnedBatch(tp, recs);
    } finally {
      ownership.pollLoop().endWork(shard);
    }
  }

  private void processOwnedBatch(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> recs) {
    int shard = tp.partition();
    if (ownership != null) {
      // replication window W: the peer must never trail by more than W of our changes for this
      // shard, so admit only the messages that fit (each makes a claim and a completion)
      long room = ownership.pollLoop().windowRoom(shard);
      if (room <= 0 || (room < 2 && room < ownership.window())) {
        // no room for a claim and its completion while changes still await the peer
        pauseUntil(tp, recs.get(0).offset(), clock.nanoTime() + pollTimeout.toNanos());
        return;
      }
      long fit = Math.max(1, room / 2);
      if (fit < recs.size()) {
        List<ConsumerRecord<byte[], byte[]>> rest = recs.subList((int) fit, recs.size());
        recs = new ArrayList<>(recs.subList(0, (int) fit));
        consumer.seek(tp, rest.get(0).offset()); // read the rest again once the peer caught up
      }
    }
    long epoch = epochOf(shard);
    List<IncomingMessage> msgs = new ArrayList<>(recs.size());
    for (ConsumerRecord<byte[], byte[]> r : recs) {
      msgs.add(toMessage(r));
    }
    List<Outcome> outs = processor.processAll(msgs, s -> epoch, adapter());
    long next = -1;
    for (int i = 0; i < outs.size(); i++) {
      Outcome o = outs.get(i);
      if (o.settled()) {
        next = recs.get(i).offset() + 1;
        continue;
      }
      Outcome.RetryLater retry = (Outcome.RetryLater) o;
      long at = clock.nanoTime() + retry.after().toNanos();
      pauseUntil(tp, recs.get(i).offset(), at);
      break;
    }
    if (next >= 0) {
      positions.put(shard, next);
      CompletableFuture<Void> barrier = replication == null
          ? CompletableFuture.completedFuture(null)
          : replication.barrier(shard, region);
      pending.put(tp, new Pending(next, barrier));
    }
  }

  private MessageHandler adapter() {
    return ctx -> {
      @SuppressWarnings("unchecked")
      ConsumerRecord<byte[], byte[]> raw = (ConsumerRecord<byte[], byte[]>) ctx.transportMessage();
      K key = raw.key() == null ? null : keyDeserializer.deserialize(raw.topic(), raw.headers(), raw.key());
      V value = raw.value() == null ? null
          : valueDeserializer.deserialize(raw.topic(), raw.headers(), raw.value());
      ConsumerRecord<K, V> rec = new ConsumerRecord<>(raw.topic(), raw.partition(), raw.offset(),
          raw.timestamp(), raw.timestampType(), raw.serializedKeySize(), raw.serializedValueSize(),
          key, value, raw.headers(), raw.leaderEpoch());
      // busy, not stuck, while this handler runs within handlerTimeout: the renewer keeps the lease
      activity.handlerStarted();
      try {
        handler.handle(rec, ctx);
      } finally {
        activity.handlerEnded();
      }
      // progress inside a batch, for a follower's NO_PROGRESS check: the next renewal carries it
      positions.put(raw.partition(), raw.offset() + 1);
    };
  }

  static IncomingMessage toMessage(ConsumerRecord<byte[], byte[]> r) {
    return IncomingMessage.of(name -> {
      Header h = r.headers().lastHeader(name);
      return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }, r.value(), r.partition(), 1, r);
  }

  // ------------------------------------------------------------------ follower

  private void follow(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> recs) {
    Held h = new Held();
    h.records.addAll(recs);
    held.put(tp, h);
    drain(tp, h);
  }

  /** Acknowledges held records from the head while their ids are terminal; pauses on the first not. */
  private void drain(TopicPartition tp, Held h) {
    long now = clock.nanoTime();
    long next = -1;
    while (!h.records.isEmpty()) {
      ConsumerRecord<byte[], byte[]> r = h.records.peek();
      IncomingMessage m = toMessage(r);
      boolean unreadable = processor.envelopeOf(m).isEmpty();
      // an unreadable copy is dead-lettered by the owner in its region; here it is only acknowledged
      if (unreadable || processor.terminalPhase(m).isPresent()) {
        h.records.poll();
        next = r.offset() + 1;
        followerAcks.increment();
        if (h.sinceNanos != 0) {
          holdTime.record(now - h.sinceNanos, TimeUnit.NANOSECONDS);
          h.sinceNanos = 0;
        }
        continue;
      }
      break;
    }
    if (next >= 0) {
      positions.put(tp.partition(), next);
      pending.put(tp, new Pending(next, CompletableFuture.completedFuture(null)));
    }
    if (h.records.isEmpty()) {
      held.remove(tp);
      consumer.resume(List.of(tp));
      return;
    }
    if (h.sinceNanos == 0) {
      h.sinceNanos = now;
    }
    consumer.pause(List.of(tp));
    if (now - h.sinceNanos > maxHold.toNanos()) {
      resend(tp, h);
    }
  }

  /** After maxHold: the owner may never have received its copy; send ours to its topic, same id. */
  private void resend(TopicPartition tp, Held h) {
    ConsumerRecord<byte[], byte[]> r = h.records.peek();
    Optional<Envelope> env = processor.envelopeOf(toMessage(r));
    if (env.isEmpty() || !h.resent.add(env.get().id()) || ownership == null) {
      return;
    }
    RegionId owner = ownership.lease(tp.partition()).owner();
    if (owner.equals(region)) {
      // this region owns the shard but its policy forbids processing now (no witness lease): hold on
      h.resent.remove(env.get().id());
      return;
    }
    RegionalSink sink = resendSinks.get(owner);
    if (sink == null) {
      log.warn("no re-send sink for owner region {}; holding {} on", owner, env.get().id());
      return;
    }
    OutboundMessage.Builder mb = OutboundMessage.builder(r.topic(), r.partition()).key(r.key())
        .value(r.value()).envelope(env.get());
    for (Header hd : r.headers()) {
      if (!hd.key().startsWith("tandem-")) {
        mb.header(hd.key(), hd.value());
      }
    }
    resends.increment();
    log.info("Tandem follower {} re-sends {} (held over {}) to {}", region, env.get().id(), maxHold,
        owner);
    sink.send(mb.build()).whenComplete((ack, e) -> {
      if (e != null) {
        log.warn("re-send of {} to {} failed; holding on", env.get().id(), owner, e);
      }
    });
  }

  private void followerTick() {
    for (TopicPartition tp : new ArrayList<>(assigned)) {
      int shard = tp.partition();
      try {
        Held h = held.get(tp);
        if (ownership != null && !ownership.owns(shard)) {
          long heldFor = h == null || h.sinceNanos == 0 ? 0 : clock.nanoTime() - h.sinceNanos;
          Optional<TakeoverReport> report =
              ownership.pollLoop().observe(shard, Duration.ofNanos(heldFor));
          if (report.isPresent() && h != null) {
            // now the owner: the held records are processed under the new epoch
            held.remove(tp);
            consumer.resume(List.of(tp));
            processOwnedOrRedeliver(tp, new ArrayList<>(h.records));
          }
          h = held.get(tp);
        }
        if (h != null) {
          if (owns(shard)) {
            held.remove(tp);
            consumer.resume(List.of(tp));
            processOwnedOrRedeliver(tp, new ArrayList<>(h.records));
          } else {
            drain(tp, h);
          }
        }
      } catch (StoreException e) {
        log.debug("shard {} not ready: {}", shard, e.getMessage());
      }
    }
  }

  // ------------------------------------------------------------------ pauses, commits, heartbeats

  private void pauseUntil(TopicPartition tp, long offset, long atNanos) {
    consumer.seek(tp, offset);
    consumer.pause(List.of(tp));
    resumeAtNanos.put(tp, atNanos);
  }

  private void resumeDue() {
    long now = clock.nanoTime();
    var it = resumeAtNanos.entrySet().iterator();
    while (it.hasNext()) {
      var e = it.next();
      if (now - e.getValue() >= 0) {
        it.remove();
        if (!held.containsKey(e.getKey()) && assigned.contains(e.getKey())) {
          consumer.resume(List.of(e.getKey()));
        }
      }
    }
  }

  /** Commits offsets whose barrier completed (or waits for them, bounded, when {@code all}). */
  private void commitPending(boolean all) {
    commitPending(all ? commitTimeout : null, commitTimeout);
  }

  /**
   * Waits up to {@code barrierWait} for all pending barriers together (one wait, not one per
   * partition; null: no wait, and offsets not yet acknowledged stay pending silently), then commits
   * the offsets whose barrier completed, waiting up to {@code commitWait}.
   */
  private void commitPending(Duration barrierWait, Duration commitWait) {
    if (barrierWait != null) {
      List<CompletableFuture<?>> barriers = new ArrayList<>();
      pending.values().forEach(p -> barriers.add(p.barrier()));
      awaitAll(barriers, barrierWait);
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
      if (handoffUnknown.contains(e.getKey())) {
        // the previous holder's token is not read yet: a commit now would erase it; stay pending
        continue;
      }
      if (b.isDone() && !b.isCompletedExceptionally()) {
        offsets.put(e.getKey(), new OffsetAndMetadata(e.getValue().offset(), carriedMetadata(e.getKey())));
        it.remove();
      } else if (b.isCompletedExceptionally()) {
        it.remove(); // a later batch of this shard brings a new barrier and offset
      }
    }
    if (!offsets.isEmpty()) {
      try {
        consumer.commitSync(offsets, commitWait);
        offsets.forEach((tp, om) -> committedOffsets.put(tp, om.offset()));
      } catch (WakeupException ex) {
        // close() woke the consumer: these offsets are acknowledged and stay due; the stop's final
        // commit makes them (a newer pending offset of the same partition supersedes one)
        offsets.forEach((tp, om) -> pending.putIfAbsent(tp,
            new Pending(om.offset(), CompletableFuture.completedFuture(null))));
        throw ex;
      } catch (KafkaException ex) {
        log.warn("offset commit failed; records may be redelivered (and skipped)", ex);
      }
    }
  }

  /** Waits until every future is done (normally or not), or {@code timeout} passed. */
  private static void awaitAll(List<CompletableFuture<?>> futures, Duration timeout) {
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

  /**
   * The loop's renewal round, every heartbeatInterval between batches: {@link OwnerLiveness#renew}
   * for the assigned shards whose lease names this region (own broker answered since the last
   * round, revalidation after a silence, then ownerAlive, heartbeats, one failback).
   */
  private void heartbeatIfDue() {
    if (ownership == null) {
      return;
    }
    long now = clock.nanoTime();
    if (now - lastHeartbeatNanos < heartbeatInterval.toNanos()) {
      return;
    }
    loopRoundNanos = now;
    List<TopicPartition> leaseOwned = new ArrayList<>();
    Set<Integer> shards = new TreeSet<>();
    for (TopicPartition tp : assigned) {
      try {
        if (ownership.lease(tp.partition()).owner().equals(region)) {
          leaseOwned.add(tp);
          shards.add(tp.partition());
        }
      } catch (StoreException e) {
        // not restored yet: no heartbeat for it
      }
    }
    updateRenewable(leaseOwned);
    probeTargets = leaseOwned;
    RenewalOutcome r;
    try {
      r = liveness.renew(shards, s -> positions.getOrDefault(s, -1L));
    } catch (ProbeAbortedException e) {
      // close() woke the loop inside the probe: not a broker outage; the loop stops as on any wakeup
      throw (WakeupException) e.getCause();
    }
    if (!r.silent()) {
      lastHeartbeatNanos = now;
    } else {
      // the own broker did not answer, or the changelogs could not be re-read: stay silent, so
      // the follower can take over; the next turn tries again
      log.debug("Tandem {} renews nothing this round: {}", processor.owner(), r.reason());
    }
  }

  /**
   * The own-broker probe (on the loop thread only, where the consumer may be used): an idle poll
   * returns nothing whether or not the broker is up, so ask it for end offsets.
   */
  private boolean ownBrokerAnswers(Duration timeout) {
    try {
      consumer.endOffsets(probeTargets, timeout);
      return true;
    } catch (WakeupException e) {
      // close() woke the loop: says nothing about the broker (heartbeatIfDue rethrows it)
      throw new ProbeAbortedException("close() woke the loop during the own-broker probe", e);
    }
  }

  /** The loop's view of the shards whose lease names this region: what the renewer may renew. */
  private void updateRenewable(List<TopicPartition> leaseOwned) {
    Set<Integer> now = new HashSet<>();
    for (TopicPartition tp : leaseOwned) {
      now.add(tp.partition());
    }
    synchronized (renewLock) {
      renewable.retainAll(now);
      renewable.addAll(now);
    }
  }

  /** Revoked or lost partitions: no renewal of theirs may run once the listener gives them up. */
  private void stopRenewing(Collection<TopicPartition> partitions) {
    synchronized (renewLock) {
      for (TopicPartition tp : partitions) {
        renewable.remove(tp.partition());
      }
    }
  }

  /**
   * One round of the background lease renewer (its own daemon thread, every heartbeatInterval). The
   * poll loop heartbeats between batches; while it runs a batch it cannot, and a batch may well last
   * longer than L + margin (500 records of 30 ms). So this renews what the loop would, through
   * {@link OwnerLiveness#renewWhileBusy}: only while the loop is alive (a handler within {@code
   * handlerTimeout}, or the loop turning) and the own broker answered within the evidence bound (a
   * fetch, a probe, or the own changelog acknowledging the previous renewal). A hung handler, a dead
   * loop or a lost broker therefore still lets the lease lapse. It never touches the Kafka consumer
   * (not thread-safe), and never makes a view valid that was not: after a silence longer than
   * {@code revalidateAfter} the loop still re-reads the changelogs before it processes.
   */
  private void renewRound() {
    try {
      long now = clock.nanoTime();
      // the loop runs its own rounds between batches (they also probe the broker, revalidate and
      // fail back); the renewer steps in only once the loop has missed one, i.e. during a batch
      if (renewerStopped || now - loopRoundNanos < heartbeatInterval.toNanos() * 3 / 2) {
        return;
      }
      RenewalOutcome r;
      synchronized (renewLock) {
        if (renewable.isEmpty()) {
          return;
        }
        r = liveness.renewWhileBusy(Set.copyOf(renewable), s -> positions.getOrDefault(s, -1L));
      }
      if (r.kind() == RenewalOutcome.Kind.STUCK) {
        withhold(renewalsWithheldStuck, r.reason());
        return;
      }
      if (r.silent()) {
        withhold(renewalsWithheldBroker, r.reason());
        return;
      }
      if (renewerWithheld) {
        renewerWithheld = false;
        log.info("Tandem {} renews its shard leases again", processor.owner());
      }
      if (!r.renewed().isEmpty()) {
        renewedInBatch.increment();
      }
      if (replication != null) {
        // the own changelog acknowledging this renewal is the own broker answering, so a batch
        // keeps its evidence fresh; an acknowledgement that never comes lets the evidence age out
        for (int shard : r.renewed()) {
          replication.barrier(shard, region).whenComplete((v, e) -> {
            if (e == null) {
              liveness.evidence(OWN_BROKER_PROBE).answered(now);
            }
          });
        }
      }
    } catch (RuntimeException | Error e) {
      // a scheduled task that throws is never run again: log and keep renewing
      log.warn("Tandem lease renewer round of {} failed", processor.owner(), e);
    }
  }

  private void withhold(Counter counter, String why) {
    counter.increment();
    if (!renewerWithheld) {
      renewerWithheld = true;
      log.warn("Tandem {} stops renewing its shard leases {}: {}; the peer region takes the shards"
          + " over once the lease lapses (L + margin)", processor.owner(), renewable, why);
    }
  }

  /** Takes revoked shards out of the renewer's set before the rebalance listener gives them up. */
  private final class StopRenewingFirst implements ConsumerRebalanceListener {
    private final ConsumerRebalanceListener delegate;

    StopRenewingFirst(ConsumerRebalanceListener delegate) {
      this.delegate = delegate;
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      stopRenewing(partitions);
      delegate.onPartitionsRevoked(partitions);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      stopRenewing(partitions);
      delegate.onPartitionsLost(partitions);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      delegate.onPartitionsAssigned(partitions);
    }
  }

  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      // parked claims first: their releases are changelog writes the hand-off marker must cover
      Set<Integer> revokedShards = new TreeSet<>();
      partitions.forEach(tp -> revokedShards.add(tp.partition()));
      // one deadline for the whole callback, well below max.poll.interval.ms: past it the member is
      // evicted, its commits (offsets, hand-off tokens) fail and the next holder waits for nothing.
      // A shard not flushed within it is handed off, so a short bound loses nothing.
      long deadline = clock.nanoTime() + revokeTimeout.toNanos();
      processor.forgetShards(revokedShards);
      // one wait over every barrier that decides this revoke: the pending offsets', and the revoked
      // shards' own-region barriers (writes in flight for a few ms, e.g. lease heartbeats or the
      // releases just made, must not turn into a hand-off); at most half the budget, the rest is
      // for the commits
      List<CompletableFuture<?>> barriers = new ArrayList<>();
      pending.values().forEach(p -> barriers.add(p.barrier()));
      if (replication != null) {
        for (TopicPartition tp : partitions) {
          if (assigned.contains(tp)) {
            barriers.add(replication.barrier(tp.partition(), region));
          }
        }
      }
      // short: while a rebalance runs no instance of this region renews the revoked shards' leases
      // (every member gives its partitions up first), so a long wait here reads as silence to the peer
      // region; what is not flushed within it is handed off, which loses nothing
      awaitAll(barriers, min(min(commitTimeout, revokeFlushWait),
          Duration.ofNanos((deadline - clock.nanoTime()) / 2)));
      commitPending(Duration.ZERO, remaining(deadline));
      Set<Integer> unwaited = handOffUnflushed(partitions, deadline);
      giveUp(partitions, unwaited);
      long took = clock.nanoTime() - (deadline - revokeTimeout.toNanos());
      Timer.builder("tandem.consumer.revoke.duration").tag("region", region.name())
          .description("how long a rebalance's revoke callback took (bounded by revokeTimeout; "
              + "must stay below max.poll.interval.ms)")
          .register(meters).record(took, TimeUnit.NANOSECONDS);
      if (took > revokeTimeout.toNanos()) {
        log.warn("Tandem {}: revoking {} took {} ms, past revokeTimeout {} (commits or the "
            + "replication log's revoke were slow); keep it below max.poll.interval.ms", region,
            partitions, took / 1_000_000, revokeTimeout);
      }
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      pending.keySet().removeAll(partitions);
      giveUp(partitions, Set.of());
    }

    private void giveUp(Collection<TopicPartition> partitions, Set<Integer> unwaited) {
      Set<Integer> shards = new TreeSet<>();
      for (TopicPartition tp : partitions) {
        assigned.remove(tp);
        held.remove(tp);
        resumeAtNanos.remove(tp);
        // an offset of a partition given up is never committed later (it would overwrite the next
        // holder's commits and hand-off token)
        pending.remove(tp);
        committedOffsets.remove(tp);
        startOffsets.remove(tp);
        awaitingHandoff.remove(tp);
        handoffUnknown.remove(tp);
        positions.remove(tp.partition());
        shards.add(tp.partition());
        if (ownership != null) {
          ownership.pollLoop().forget(tp.partition());
        }
      }
      // their parked claims (a lost partition's; a revoked one's were released above): released
      // before the flush-then-drop
      processor.forgetShards(shards);
      if (handShards && !shards.isEmpty()) {
        // flush-then-drop: the next instance of this region sees every change made here
        try {
          replication.revoke(shards, unwaited);
        } catch (RuntimeException e) {
          // thrown out of the rebalance callback it would skip the rest of the listener after this
          // instance's state was already cleared; Kafka gives the partitions away regardless
          log.warn("Tandem {}: the replication log could not flush shards {} before giving them up "
              + "({}); a shard handed off waits for its marker, any other may re-run what ran here "
              + "(reported as a re-run after the claim lease)", region, shards, e.toString());
        }
      }
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      Set<Integer> shards = new TreeSet<>();
      for (TopicPartition tp : partitions) {
        assigned.add(tp);
        shards.add(tp.partition());
      }
      if (replication != null && !partitions.isEmpty()) {
        handoffUnknown.addAll(partitions);
        readHandoffs(partitions);
      }
      if (handShards && !shards.isEmpty()) {
        replication.assign(shards);
        if (!replication.awaitRestored(restoreTimeout)) {
          log.warn("shards {} not restored within {}; claims wait for the restore", shards,
              restoreTimeout);
        }
      }
    }
  }

  // ------------------------------------------------------------------ hand-off inside the region

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
    if (replication == null) {
      return unwaited;
    }
    Map<TopicPartition, OffsetAndMetadata> tokens = new HashMap<>();
    for (TopicPartition tp : partitions) {
      CompletableFuture<Void> flushed = replication.barrier(tp.partition(), region);
      // flushed = acknowledged; a barrier that failed (a change the writer could not ship) is not
      if (!assigned.contains(tp) || (flushed.isDone() && !flushed.isCompletedExceptionally())) {
        continue;
      }
      Long offset = committedOffsets.getOrDefault(tp, startOffsets.get(tp));
      // (3) a previous holder's token not read yet counts as outstanding: committing our own token
      // would replace it, and the next holder would wait for our marker only
      if (offset == null || awaitingHandoff.containsKey(tp) || handoffUnknown.contains(tp)) {
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
            + "({}); its next holder may run again what ran here", region, tp, e.toString());
        continue;
      }
      if (token.isEmpty()) {
        continue; // this log writes no markers
      }
      tokens.put(tp, new OffsetAndMetadata(offset, token.get().encode()));
      Counter.builder("tandem.consumer.handoffs").tag("region", region.name()).tag("side", "given")
          .description("partitions handed over before their changes were in the own changelog "
              + "(given) and partitions received so (awaited, expired)")
          .register(meters).increment();
    }
    if (tokens.isEmpty()) {
      return unwaited;
    }
    try {
      consumer.commitSync(tokens, remaining(deadline));
      log.warn("Tandem {}: partitions {} given up before their changelog writes were acknowledged; "
          + "their next holder waits for the hand-off markers", region, tokens.keySet());
    } catch (WakeupException e) {
      throw e;
    } catch (KafkaException e) {
      log.warn("Tandem {}: hand-off tokens of {} not committed: their next holder cannot wait for "
          + "this instance's unacknowledged changes (handlers may run again)", region,
          tokens.keySet(), e);
    }
    return unwaited;
  }

  /** What is left until {@code deadline} (monotonic), at least {@link #MIN_COMMIT_WAIT}. */
  private Duration remaining(long deadline) {
    return max(MIN_COMMIT_WAIT, Duration.ofNanos(deadline - clock.nanoTime()));
  }

  /** A commit made in a revoke past its deadline still gets this long (a failed one helps nobody). */
  private static final Duration MIN_COMMIT_WAIT = Duration.ofSeconds(1);

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  private static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }

  /** Reads the committed metadata of newly assigned partitions for a previous holder's token. */
  private void readHandoffs(Collection<TopicPartition> partitions) {
    Map<TopicPartition, OffsetAndMetadata> committed;
    try {
      committed = consumer.committed(new HashSet<>(partitions), commitTimeout);
    } catch (WakeupException e) {
      throw e;
    } catch (KafkaException e) {
      log.warn("Tandem {}: committed offsets of {} not readable ({}); those partitions wait",
          region, partitions, e.toString());
      return;
    }
    for (TopicPartition tp : partitions) {
      handoffUnknown.remove(tp);
      OffsetAndMetadata om = committed.get(tp);
      Optional<Handoff> token = om == null ? Optional.empty() : Handoff.decode(om.metadata());
      if (token.isEmpty() || !token.get().region().equals(region)
          || token.get().shard() != tp.partition() || replication.handedOff(token.get())) {
        continue;
      }
      awaitingHandoff.put(tp, new Awaited(token.get(), clock.nanoTime(), om.offset()));
      log.info("Tandem {}: {} was handed over unflushed ({}); claims wait for its marker",
          region, tp, token.get().encode());
    }
  }

  /**
   * Whether this instance may claim in {@code tp}'s shard: no previous holder's hand-off is
   * outstanding, or its marker was read, or {@code handoffTimeout} passed (counted, WARN: the
   * previous holder's unacknowledged changes may be lost, and what it ran may run again).
   */
  private boolean handoffSettled(TopicPartition tp) {
    if (handoffUnknown.contains(tp)) {
      readHandoffs(List.of(tp));
      if (handoffUnknown.contains(tp)) {
        return false;
      }
    }
    Awaited a = awaitingHandoff.get(tp);
    if (a == null) {
      return true;
    }
    long waited = clock.nanoTime() - a.sinceNanos();
    if (replication.handedOff(a.token())) {
      awaitingHandoff.remove(tp);
      Timer.builder("tandem.consumer.handoff.wait").tag("region", region.name())
          .description("how long a received partition waited for its previous holder's marker")
          .register(meters).record(waited, TimeUnit.NANOSECONDS);
      log.info("Tandem {}: hand-off marker of {} read after {} ms; processing", region, tp,
          waited / 1_000_000);
      clearToken(tp, a);
      return true;
    }
    // the bound runs from the token's creation (the physical part of its HLC mark), so a token that
    // lingers (a holder that commits nothing after it, a crashed incarnation's) does not make each
    // next holder wait afresh; and at most handoffTimeout from here (a mark ahead of this clock)
    long age = clock.wallMillis() - Hlc.physicalMillis(a.token().mark());
    if (waited > handoffTimeout.toNanos() || age > handoffTimeout.toMillis()) {
      awaitingHandoff.remove(tp);
      Counter.builder("tandem.consumer.handoffs").tag("region", region.name())
          .tag("side", "expired").register(meters).increment();
      log.warn("Tandem {}: no hand-off marker for {} within {} of the hand-off ({}); processing "
          + "without the previous holder's unacknowledged changes: what it ran may run again",
          region, tp, handoffTimeout, a.token().encode());
      clearToken(tp, a);
      return true;
    }
    return false;
  }

  /**
   * The wait for {@code a} ended: commits the partition's offset again without the token at once
   * (not with the next processed records, which may be long in coming), so no later holder waits
   * for it again. Best effort: if it fails, the next commit of the partition drops the token.
   */
  private void clearToken(TopicPartition tp, Awaited a) {
    if (pending.containsKey(tp)) {
      return; // a commit of this partition is due anyway, without the token
    }
    // follower acknowledgements may have committed past the token's offset meanwhile
    long offset = committedOffsets.getOrDefault(tp, a.offset());
    try {
      consumer.commitSync(Map.of(tp, new OffsetAndMetadata(offset, "")), commitTimeout);
      committedOffsets.put(tp, offset);
    } catch (WakeupException e) {
      throw e;
    } catch (KafkaException e) {
      log.warn("Tandem {}: hand-off token of {} not cleared ({}); the next commit clears it",
          region, tp, e.toString());
    }
  }

  /** The metadata a commit of {@code tp} carries: the awaited previous holder's token, if any. */
  private String carriedMetadata(TopicPartition tp) {
    Awaited a = awaitingHandoff.get(tp);
    return a == null ? "" : a.token().encode();
  }

  /** Stops the loop, commits what is acknowledged, and closes the processor (not the consumer). */
  @Override
  public void close() {
    running = false;
    Thread t = thread;
    if (t != null) {
      consumer.wakeup();
    }
    // the processor first: the handlers of the current batch not started yet answer CLOSED (their
    // claims released), the running ones finish; meanwhile the lease renewer keeps this owner's shard
    // leases, so a batch still running when close() is called is never taken over as silent
    processor.close();
    if (t != null) {
      try {
        stopped.handle((v, e) -> null).get(60, TimeUnit.SECONDS);
        t.join(TimeUnit.SECONDS.toMillis(10));
      } catch (Exception e) {
        log.warn("the poll loop did not stop in time", e);
      }
    }
    renewerStopped = true;
    ScheduledExecutorService s = renewer;
    if (s != null) {
      s.shutdownNow(); // the loop has stopped: from here the lease lapses from the last renewal
    }
  }

  /**
   * Records the follower side of this loop holds now (until the owner's completion replicates, or a
   * takeover): as of the loop's last turn. Any thread.
   */
  public long heldRecords() {
    return heldCount.get();
  }

  /**
   * What the owner-liveness evidence says about the own Kafka broker now, read without asking it
   * (the loop's fetches and end-offset probes record it): true if it answered within the evidence
   * bound, false if a probe failed after its last answer within that bound, empty without such
   * evidence (no ownership, or no probe yet: the loop probes only while this region owns a shard).
   * Any thread.
   */
  public Optional<Boolean> ownBrokerAnswers() {
    if (liveness == null) {
      return Optional.empty();
    }
    return liveness.evidence(OWN_BROKER_PROBE)
        .recent(clock.nanoTime(), liveness.evidenceBound().toNanos());
  }

  /** The topic this loop consumes. */
  public String topic() {
    return topic;
  }

  /** Whether the poll loop's thread is alive (started and not yet stopped). */
  public boolean isRunning() {
    Thread t = thread;
    return t != null && t.isAlive();
  }

  /** Completes when the loop has stopped (exceptionally if it died). */
  public CompletableFuture<Void> stopped() {
    return stopped;
  }

  /** Builds a {@link TandemKafkaConsumer}. */
  public static final class Builder<K, V> {
    private final String topic;
    private final Deserializer<K> keyDeserializer;
    private final Deserializer<V> valueDeserializer;
    private org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer;
    private TandemRecordHandler<K, V> handler;
    private IdempotencyStore store;
    private DeadLetterSink deadLetterSink;
    private ReplicationLog replication;
    private boolean handShards = true;
    private ShardOwnership ownership;
    private OwnershipRequests ownershipRequests;
    private final Map<RegionId, RegionalSink> resendSinks = new HashMap<>();
    private Consumer<OnceProcessor.Builder> processorOptions = b -> {};
    private Duration pollTimeout = Duration.ofMillis(100);
    private Duration heartbeatInterval = Duration.ofSeconds(1);
    private Duration maxHold = Duration.ofSeconds(30);
    private Duration commitTimeout = Duration.ofSeconds(30);
    private Duration restoreTimeout = Duration.ofSeconds(60);
    private Duration handoffTimeout = Duration.ofMinutes(5);
    private Duration revokeTimeout = DEFAULT_REVOKE_TIMEOUT;
    private Duration revokeFlushWait = Duration.ofSeconds(2);
    private Duration handlerTimeout = Duration.ofSeconds(30);
    private TandemClock clock = TandemClock.system();
    private MeterRegistry registry;

    private Builder(String topic, Deserializer<K> kd, Deserializer<V> vd) {
      this.topic = Objects.requireNonNull(topic, "topic");
      this.keyDeserializer = Objects.requireNonNull(kd, "keyDeserializer");
      this.valueDeserializer = Objects.requireNonNull(vd, "valueDeserializer");
    }

    /** The application's consumer (byte-array keys and values, auto commit off; required). */
    public Builder<K, V> consumer(org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> c) {
      this.consumer = Objects.requireNonNull(c, "consumer");
      return this;
    }

    /** The handler (required). */
    public Builder<K, V> handler(TandemRecordHandler<K, V> h) {
      this.handler = Objects.requireNonNull(h, "handler");
      return this;
    }

    /** The store to claim in: the replicated (gated) store for cross-region use (required). */
    public Builder<K, V> store(IdempotencyStore s) {
      this.store = Objects.requireNonNull(s, "store");
      return this;
    }

    /** Where dead letters go (required; e.g. {@link KafkaDeadLetterSink}). */
    public Builder<K, V> deadLetterSink(DeadLetterSink s) {
      this.deadLetterSink = Objects.requireNonNull(s, "deadLetterSink");
      return this;
    }

    /**
     * The store's replication log: offsets are committed after {@code barrier(shard, own region)},
     * and, unless {@code handShards} is false (a log that materialises every shard), Kafka
     * assignments are handed to it (assign → restore, revoke → flush then drop).
     */
    public Builder<K, V> replicationLog(ReplicationLog log, boolean handShards) {
      this.replication = Objects.requireNonNull(log, "replicationLog");
      this.handShards = handShards;
      return this;
    }

    /** Shard ownership across regions (default none: every shard is owned here at epoch 0). */
    public Builder<K, V> ownership(ShardOwnership o) {
      this.ownership = Objects.requireNonNull(o, "ownership");
      return this;
    }

    /**
     * Remote ownership requests this loop acts on for its assigned shards, between batches
     * ({@link OwnershipRequests#act}; default none). Needs {@link #ownership}.
     */
    public Builder<K, V> ownershipRequests(OwnershipRequests r) {
      this.ownershipRequests = Objects.requireNonNull(r, "ownershipRequests");
      return this;
    }

    /** The sink of {@code region}'s topic, for a follower's re-send of a held copy after maxHold. */
    public Builder<K, V> resendSink(RegionId region, RegionalSink sink) {
      resendSinks.put(Objects.requireNonNull(region, "region"), Objects.requireNonNull(sink, "sink"));
      return this;
    }

    /** Options of the {@link OnceProcessor} built underneath (lease, in-progress wait, ...). */
    public Builder<K, V> processorOptions(Consumer<OnceProcessor.Builder> options) {
      this.processorOptions = Objects.requireNonNull(options, "options");
      return this;
    }

    /** Kafka poll timeout (default 100 ms). */
    public Builder<K, V> pollTimeout(Duration d) {
      this.pollTimeout = Objects.requireNonNull(d, "pollTimeout");
      return this;
    }

    /** How often an owner heartbeats its leases (default 1 s); must be well below L. */
    public Builder<K, V> heartbeatInterval(Duration d) {
      this.heartbeatInterval = Objects.requireNonNull(d, "heartbeatInterval");
      return this;
    }

    /** How long a follower holds a copy before re-sending it to the owner region (default 30 s). */
    public Builder<K, V> maxHold(Duration d) {
      this.maxHold = Objects.requireNonNull(d, "maxHold");
      return this;
    }

    /** Bound of offset commits and of the barrier wait on revoke (default 30 s). */
    public Builder<K, V> commitTimeout(Duration d) {
      this.commitTimeout = Objects.requireNonNull(d, "commitTimeout");
      return this;
    }

    /** How long an assignment waits for the restore before the loop goes on (default 60 s). */
    public Builder<K, V> restoreTimeout(Duration d) {
      this.restoreTimeout = Objects.requireNonNull(d, "restoreTimeout");
      return this;
    }

    /**
     * How long a partition received from an instance that gave it up before its changelog writes
     * were acknowledged waits for that instance's hand-off marker before it is processed anyway
     * (default 5 min; past it, what the previous holder ran may run again: counted as {@code
     * tandem.consumer.handoffs{side=expired}} and logged at WARN).
     */
    public Builder<K, V> handoffTimeout(Duration d) {
      Objects.requireNonNull(d, "handoffTimeout");
      if (d.isNegative()) {
        throw new IllegalArgumentException("handoffTimeout must be >= 0, got " + d);
      }
      this.handoffTimeout = d;
      return this;
    }

    /**
     * The bound of the whole revoke callback of a rebalance (default {@value
     * #DEFAULT_REVOKE_TIMEOUT_SECONDS} s): one wait for the pending offsets' and the revoked shards'
     * changelog barriers (at most {@link #revokeFlushWait} and {@code commitTimeout}, and at most half
     * of this), then the offset
     * and hand-off commits share the rest (each at least 1 s). It must stay well below the Kafka
     * consumer's {@code max.poll.interval.ms} (300 s by default; this builder is given the consumer,
     * not its configuration): past that the member is evicted and its commits, hand-off tokens
     * included, fail. A short bound loses nothing: a shard not flushed within it is handed off. The
     * replication log's own revoke (its {@code revokeTimeout}) waits only for shards that are neither
     * flushed nor handed off.
     */
    public Builder<K, V> revokeTimeout(Duration d) {
      Objects.requireNonNull(d, "revokeTimeout");
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("revokeTimeout must be > 0, got " + d);
      }
      this.revokeTimeout = d;
      return this;
    }

    /**
     * How long a revoke waits for the revoked shards' changelog writes to be acknowledged by the own
     * region before it hands the rest off (default 2 s; also bounded by {@code commitTimeout} and
     * half of {@link #revokeTimeout}). Keep it well below the ownership's L + margin: while a
     * rebalance runs, no instance of this region renews the revoked shards' leases, so a long wait
     * reads as silence to the peer region (a stalled own changelog lane made the peer take over a live
     * region). Nothing is lost by a short wait: the next holder waits for the hand-off marker.
     */
    public Builder<K, V> revokeFlushWait(Duration d) {
      Objects.requireNonNull(d, "revokeFlushWait");
      if (d.isNegative()) {
        throw new IllegalArgumentException("revokeFlushWait must be >= 0, got " + d);
      }
      this.revokeFlushWait = d;
      return this;
    }

    /**
     * How long one handler call may run before this owner counts as stuck rather than busy (default
     * 30 s). While the poll loop runs a batch, a background renewer keeps this instance's shard leases
     * (and a witness grant) alive as long as the running handler started less than this ago — however
     * long the batch — and the own broker answers; a handler that has not returned for longer stops
     * the renewals, so the peer region takes the shards over about {@code handlerTimeout + L +
     * margin} after the handler hung (its claims are superseded by the new epoch: that message may
     * run twice, within the reported bound). The same bound applies to a loop that stops turning
     * outside a handler. Set it above the slowest legitimate handler call; it must exceed the
     * heartbeat interval.
     */
    public Builder<K, V> handlerTimeout(Duration d) {
      Objects.requireNonNull(d, "handlerTimeout");
      if (d.isZero() || d.isNegative()) {
        throw new IllegalArgumentException("handlerTimeout must be > 0, got " + d);
      }
      this.handlerTimeout = d;
      return this;
    }

    /** The monotonic clock for holds and heartbeats (default: the system's). */
    public Builder<K, V> clock(TandemClock c) {
      this.clock = Objects.requireNonNull(c, "clock");
      return this;
    }

    /** Where meters go (default: a new {@link SimpleMeterRegistry}). */
    public Builder<K, V> meterRegistry(MeterRegistry r) {
      this.registry = Objects.requireNonNull(r, "meterRegistry");
      return this;
    }

    public TandemKafkaConsumer<K, V> build() {
      Objects.requireNonNull(consumer, "consumer is required");
      Objects.requireNonNull(handler, "handler is required");
      Objects.requireNonNull(store, "store is required");
      Objects.requireNonNull(deadLetterSink, "deadLetterSink is required");
      if (heartbeatInterval.isZero() || heartbeatInterval.isNegative()) {
        throw new IllegalArgumentException("heartbeatInterval must be > 0, got " + heartbeatInterval);
      }
      if (handlerTimeout.compareTo(heartbeatInterval) <= 0) {
        throw new IllegalArgumentException("handlerTimeout " + handlerTimeout
            + " must be longer than heartbeatInterval " + heartbeatInterval);
      }
      if (registry == null) {
        registry = new SimpleMeterRegistry();
      }
      return new TandemKafkaConsumer<>(this);
    }
  }
}
