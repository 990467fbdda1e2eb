package dev.tandem.consumer.kafka;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.ShardFence;
import dev.tandem.consumer.kafka.internal.AssignedPartitions;
import dev.tandem.consumer.kafka.internal.FollowerHold;
import dev.tandem.consumer.kafka.internal.HandoffGate;
import dev.tandem.consumer.kafka.internal.HeldRecordsGauge;
import dev.tandem.consumer.kafka.internal.LeaseRenewer;
import dev.tandem.consumer.kafka.internal.LoopContext;
import dev.tandem.consumer.kafka.internal.OffsetCommitter;
import dev.tandem.consumer.kafka.internal.OwnerBatch;
import dev.tandem.consumer.kafka.internal.PartitionPauses;
import dev.tandem.consumer.kafka.internal.RebalanceHandler;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.HandlerActivity;
import dev.tandem.consumer.ownership.OwnerLiveness;
import dev.tandem.consumer.ownership.OwnershipRequests;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreException;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;


/**
 * The Kafka poll loop with the full once-across-regions guarantee. (Over 500 lines on purpose: the
 * loop itself is about 330 lines; the rest is its public, documented {@link Builder}, which must stay
 * nested to keep {@code TandemKafkaConsumer.Builder} unchanged for its callers. The machinery is in
 * {@code dev.tandem.consumer.kafka.internal}, one concept per class: {@code OwnerBatch}, {@code
 * FollowerHold}, {@code PartitionPauses}, {@code OffsetCommitter}, {@code HandoffGate}, {@code
 * RebalanceHandler}, {@code LeaseRenewer}; this class composes them.)
 *
 * <p>It wraps the application's
 * {@code Consumer<byte[], byte[]>} (bytes, because the envelope's digest is over the serialized
 * value; the record handed to the handler is deserialized here with the given deserializers) and a
 * {@link TandemRecordHandler}. Kafka partitions are shards.
 *
 * <ul>
 *   <li><b>Owner</b> of a shard (per {@link ShardOwnership}): each poll's records are claimed in one
 *       batch and handled by {@link OnceProcessor}; offsets are committed only after the COMPLETED
 *       records are acknowledged by the own region's changelog ({@code barrier(shard, own region)}),
 *       sent with {@code commitAsync} so the next poll does not wait for the coordinator (the
 *       revoke and the stop commit blocking; see {@code OffsetCommitter}).
 *       The shard is paused while W changes await the peer region. After each successful fetch from
 *       its own broker it heartbeats its leases; while a batch runs, a background renewer does (see
 *       {@link Builder#handlerTimeout}): a busy owner keeps its shards however long the batch, a
 *       stuck one (a handler beyond {@code handlerTimeout}), a dead one or one whose broker stopped
 *       answering loses them once its lease lapses.
 *   <li><b>Follower</b>: a record whose id is already terminal is acknowledged without the handler;
 *       otherwise the partition is paused and its records held (bounded by one poll) until the
 *       completion replicates — acknowledged as soon as it is applied here, the poll cut short —
 *       or this region takes the shard over. After {@code maxHold} the held
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

  /**
   * While a held copy waits for its completion, the longest the loop polls before it looks whether
   * that completion was applied (for a wait under ten times this; then a tenth of the wait): the
   * follower's acknowledgement comes at most this late after it.
   */
  static final Duration HOLD_RECHECK = Duration.ofMillis(10);

  /** Default bound of a revoke callback (seconds): a fifth of Kafka's default max.poll.interval.ms. */
  public static final int DEFAULT_REVOKE_TIMEOUT_SECONDS = 60;
  private static final Duration DEFAULT_REVOKE_TIMEOUT =
      Duration.ofSeconds(DEFAULT_REVOKE_TIMEOUT_SECONDS);

  private final org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer;
  private final String topic;
  private final OnceProcessor processor;
  private final ReplicationLog replication;
  private final ShardOwnership ownership;
  private final Duration pollTimeout;
  private final TandemClock clock;
  private final MeterRegistry meters;
  private final RegionId region;
  /** Busy or stuck: the poll loop's turns and handlers (also the replica's liveness check). */
  private final HandlerActivity activity;
  /** The owner-liveness protocol (null without ownership): when this owner may renew. */
  private final OwnerLiveness liveness;
  /** Remote ownership requests acted on between batches (null: none). */
  private final OwnershipRequests ownershipRequests;

  // the loop's parts (dev.tandem.consumer.kafka.internal), one concept each
  private final AssignedPartitions assigned = new AssignedPartitions();
  private final PartitionPauses pauses;
  private final OffsetCommitter committer;
  private final HandoffGate handoffs;
  private final FollowerHold hold;
  private final OwnerBatch<K, V> owned;
  /** The owner's lease renewals (null without ownership). */
  private final LeaseRenewer renewer;
  private final RebalanceHandler rebalance;
  /** This loop's count in the held-records gauge (registered at build, as before), until it stops. */
  private final HeldRecordsGauge heldGauge;
  /** Polls the follower side ended early: a held copy's completion was applied (counter). */
  private final Counter earlyReleases;
  /** Poll slices that ended empty while a held copy waited (the polls slicing adds; counter). */
  private final Counter holdRechecks;

  private volatile boolean running;
  private volatile Thread thread;
  private final CompletableFuture<Void> stopped = new CompletableFuture<>();

  private TandemKafkaConsumer(Builder<K, V> b) {
    this.consumer = b.consumer;
    this.topic = b.topic;
    this.replication = b.replication;
    this.ownership = b.ownership;
    this.ownershipRequests = b.ownershipRequests;
    this.pollTimeout = b.pollTimeout;
    this.clock = b.clock;
    this.meters = b.registry;
    this.activity = new HandlerActivity(clock, b.handlerTimeout);
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
    LoopContext ctx = new LoopContext(consumer, region, clock, meters);
    this.pauses = new PartitionPauses(ctx);
    // a hand-off wait that ended commits the partition again without the token (the committer is
    // read when a wait ends, on the loop thread, long after construction)
    this.handoffs = new HandoffGate(ctx, replication, b.handoffTimeout, b.commitTimeout,
        this::commitWithoutToken);
    this.committer = new OffsetCommitter(ctx, b.commitTimeout, handoffs);
    this.hold = new FollowerHold(ctx, FollowerHold.Completions.of(processor),
        FollowerHold.Ownership.of(ownership), b.resendSinks, b.maxHold, committer, assigned);
    if (ownership != null) {
      this.renewer = new LeaseRenewer(ctx, ownership, replication, assigned, b.heartbeatInterval,
          processor.owner().toString());
      // the one owner-liveness protocol (shared with the function app's heartbeat timer): the own
      // broker is the one probe here; a fetch that returned records is its evidence, else the loop
      // asks end offsets (the renewer never asks, it only reads the evidence, within the bound
      // max(2 x heartbeatInterval, 2 s, revalidateAfter))
      OwnerLiveness.Builder lb = OwnerLiveness.builder(ownership)
          .probe(BrokerProbe.of(LeaseRenewer.OWN_BROKER_PROBE, renewer::probeOwnBroker));
      if (replication != null) {
        // the own changelog acknowledging the loop's heartbeats is the own broker answering (as
        // for the renewer's): an idle loop then asks no end-offsets probe while they are
        // acknowledged, and a probe timing out under load does not silence a live owner
        ReplicationLog changelog = replication;
        lb.heartbeatsAcknowledgedBy(LeaseRenewer.OWN_BROKER_PROBE,
            shard -> changelog.barrier(shard, region));
      }
      this.liveness = lb
          .probeTimeout(b.heartbeatInterval.compareTo(Duration.ofSeconds(2)) >= 0
              ? b.heartbeatInterval : Duration.ofSeconds(2))
          .heartbeatInterval(b.heartbeatInterval)
          .activity(activity)
          .clock(clock)
          .meterRegistry(b.registry)
          .build();
      renewer.liveness(liveness);
    } else {
      this.renewer = null;
      this.liveness = null;
    }
    this.owned = new OwnerBatch<>(new OwnerBatch.Parts(ctx, processor, ownership, replication,
        pauses, committer, handoffs, assigned, renewer, activity), b.handler, b.keyDeserializer,
        b.valueDeserializer, pollTimeout);
    this.heldGauge = HeldRecordsGauge.add(meters, region, topic, hold::count);
    if (ownership != null) {
      // a held copy is acknowledged when its completion applies here, not at the next loop turn
      hold.completions().attach(b.store);
    }
    this.earlyReleases = Counter.builder(ConsumerMeterNames.FOLLOWER_EARLY_RELEASES)
        .tag("region", region.name())
        .description("polls ended early because a held copy's completion was applied")
        .register(meters);
    this.holdRechecks = Counter.builder(ConsumerMeterNames.FOLLOWER_HOLD_RECHECKS)
        .tag("region", region.name())
        .description("empty poll slices while a held copy waited for its completion")
        .register(meters);
    this.rebalance = new RebalanceHandler(
        new RebalanceHandler.Parts(ctx, processor, ownership, replication,
            b.handShards && b.replication != null, assigned, committer, handoffs, hold, pauses,
            renewer),
        new RebalanceHandler.Bounds(b.revokeTimeout, b.revokeFlushWait, b.commitTimeout,
            b.restoreTimeout));
  }

  private void commitWithoutToken(TopicPartition tp, long tokenOffset) {
    committer.commitWithoutToken(tp, tokenOffset);
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
    if (renewer != null) {
      renewer.start();
    }
    Thread t = new Thread(this::run, "tandem-consumer-" + processor.owner());
    t.setDaemon(true);
    thread = t;
    t.start();
    return this;
  }

  private void run() {
    try {
      consumer.subscribe(List.of(topic), rebalance);
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
      committer.finalCommit();
      // a stopped loop holds nothing: its held copies are not committed, the next holder reads
      // them again; the gauge and heldRecords() say so at once (they reported the last turn's count)
      hold.clear();
      heldGauge.remove();
      stopped.complete(null);
    }
  }

  /**
   * One turn: poll; each fetched partition's records go to the owner's batch or the follower's hold
   * (or join a hold already there); then the hold is looked at again (drain, takeover), due pauses
   * end, hand-off waits settle, barrier-acknowledged offsets are sent (commitAsync, not awaited),
   * the leases renewed when due, and remote ownership requests acted on.
   */
  private void loopOnce() {
    activity.loopTurned();
    ConsumerRecords<byte[], byte[]> records;
    long polledAt = clock.nanoTime();
    try {
      records = poll(pollTimeoutNow(polledAt));
    } catch (WakeupException e) {
      throw e;
    } catch (KafkaException e) {
      log.warn("poll failed; no heartbeat until a fetch succeeds", e);
      return;
    }
    // before the drains of this turn: a completion applied after their look marks it again
    hold.clearCompletionApplied();
    if (!records.isEmpty() && liveness != null) {
      // the own broker answered: the next renewal round needs no probe
      liveness.evidence(LeaseRenewer.OWN_BROKER_PROBE).answered(polledAt);
    }
    boolean mayOwn = revalidateIfSilent(records.partitions());
    // the owned partitions' records of this poll are processed together after this loop: one
    // processAll, so their claims are awaited in the own changelog once, not once per partition
    Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> ownedNow = new LinkedHashMap<>();
    for (TopicPartition tp : records.partitions()) {
      List<ConsumerRecord<byte[], byte[]>> recs = records.records(tp);
      if (!assigned.contains(tp)) {
        continue;
      }
      assigned.fetched(tp, recs.get(0).offset());
      if (hold.holds(tp)) {
        hold.append(tp, recs);
        continue;
      }
      try {
        if (owns(tp.partition()) && !mayOwn) {
          // silent too long and cannot re-read our own changelog: neither process nor acknowledge
          consumer.seek(tp, recs.get(0).offset());
        } else if (owns(tp.partition())) {
          ownedNow.put(tp, recs);
        } else {
          hold.follow(tp, recs);
        }
      } catch (StoreException e) {
        // a shard still restoring, or a store failure: read these records again later
        log.warn("store not ready for {}: {}", tp, e.getMessage());
        consumer.seek(tp, recs.get(0).offset());
      }
    }
    if (!ownedNow.isEmpty()) {
      owned.runOrRedeliver(ownedNow);
    }
    // held records released by a takeover this turn: likewise one processAll for all of them
    Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> released = new LinkedHashMap<>();
    hold.tick(released::put);
    if (!released.isEmpty()) {
      owned.runOrRedeliver(released);
    }
    pauses.resumeDue(tp -> !hold.holds(tp) && assigned.contains(tp));
    // a hand-off wait ends (marker read, or expired) whether or not records arrive: its token is
    // cleared from the committed metadata then, not when this partition next has records
    handoffs.settleAll();
    committer.commitDue(false);
    if (renewer != null) {
      renewer.heartbeatIfDue();
    }
    actOnOwnershipRequests();
  }

  /**
   * How long this turn's poll may block: the configured poll timeout, but no longer than until the
   * next paused partition is due to resume (a retry backoff, a hand-off recheck, a full replication
   * window). A poll whose fetchable partitions are idle blocks its whole timeout and pauses end only
   * between polls, so a record to retry after 300 ms was re-read only after the next full poll
   * timeout (issue 20).
   */
  private Duration pollTimeoutNow(long nowNanos) {
    long bound = pollTimeout.toNanos();
    long nextResume = pauses.nextResumeNanos();
    if (nextResume != Long.MAX_VALUE) {
      bound = Math.min(bound, Math.max(0, nextResume - nowNanos));
    }
    return bound == pollTimeout.toNanos() ? pollTimeout : Duration.ofNanos(bound);
  }

  /**
   * Polls for up to {@code timeout}. While a held copy waits for its completion, in slices of
   * {@link #HOLD_RECHECK} (longer, a tenth of the wait, for a head that has waited over ten times
   * that), ending early once the store listener saw a held copy's completion
   * applied, so the copy is acknowledged (and its partition resumed) then, not when the whole poll
   * timeout ran out on idle partitions (issue 20). Why slices and not {@code consumer.wakeup()}: a
   * wakeup that lands outside the blocking poll — in a rebalance callback's commit, or in a
   * blocking call after the poll returned (a hand-off token's commit, a broker probe) — makes THAT
   * call throw, and Kafka offers no way
   * to withdraw a pending wakeup; {@link #close()} keeps the wakeup for itself. A slice ends only
   * the local wait: fetches in flight stay parked at the broker, so slicing sends nothing more, and it
   * happens only while a copy is held and the poll brings no records (at saturation polls return
   * records within a slice). The number of slices is fixed by the timeout, not by a clock (a consumer
   * whose poll does not block, e.g. Kafka's MockConsumer, turns after that many empty polls).
   */
  private ConsumerRecords<byte[], byte[]> poll(Duration timeout) {
    if (!hold.watching()) {
      return consumer.poll(timeout);
    }
    long left = timeout.toNanos();
    // a tenth of the youngest head's wait, at least HOLD_RECHECK: a copy is acknowledged at most
    // ~10 % later than it had waited, and a head whose owner is silent (dead, starting, taken over
    // soon) costs a bounded number of extra polls, not 100 a second until the takeover: once a
    // tenth of its wait reaches the poll timeout, one poll per turn as before
    long slice = Math.max(HOLD_RECHECK.toNanos(), hold.youngestWaitNanos() / 10);
    while (true) {
      boolean applied = hold.completionApplied();
      long wait = applied ? 0 : Math.min(left, slice);
      ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofNanos(wait));
      left -= wait;
      if (!records.isEmpty() || !running || left <= 0 || !hold.watching()) {
        // records, a stop, the time is up, or the hold ended inside the poll (a revoke): a turn now
        return records;
      }
      if (applied || hold.completionApplied()) {
        earlyReleases.increment();
        log.debug("{}: a held copy's completion was applied; its poll ends early", region);
        return records;
      }
      holdRechecks.increment();
    }
  }

  /**
   * Remote evacuate/return requests for the shards this loop runs: between batches, so a planned
   * handover drains nothing of this loop (it waits for the other consumers' batches of the shard).
   */
  private void actOnOwnershipRequests() {
    if (ownershipRequests == null || ownership == null || assigned.isEmpty()) {
      return;
    }
    ownershipRequests.act(assigned.shards());
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
    return liveness.ensureValid(ownedShards());
  }

  private Set<Integer> ownedShards() {
    Set<Integer> shards = new TreeSet<>();
    for (TopicPartition tp : assigned.all()) {
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
    if (renewer != null) {
      renewer.stop(); // the loop has stopped: from here the lease lapses from the last renewal
    }
    heldGauge.remove(); // also for a loop never started
    // the store outlives this loop: without this, each loop rebuilt on it stays reachable (with its
    // KafkaConsumer) from the store's listener list
    hold.completions().close();
  }

  /**
   * Records the follower side of this loop holds now (until the owner's completion replicates, or a
   * takeover); 0 once the loop stopped. Any thread.
   */
  public long heldRecords() {
    return hold.count();
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
    return liveness.evidence(LeaseRenewer.OWN_BROKER_PROBE)
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

    /**
     * Bound of the blocking offset commits (revoke, stop, hand-off token; a loop turn's commit is
     * sent with {@code commitAsync} and not awaited) and of the barrier wait on revoke (default 30 s).
     */
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
