package dev.tandem.spring.kafka;

import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.OwnershipTicker;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.StoreException;
import dev.tandem.store.replication.ReplicationLog;
import dev.tandem.store.replication.ShardNotReadyException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.springframework.kafka.listener.MessageListenerContainer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One region's Tandem state for its Spring Kafka listener containers: the {@link OnceProcessor} the
 * listeners run in, the follower's holding of records of shards the other region owns, and the lease
 * ticker that plays the part {@code TandemKafkaConsumer}'s poll loop and renewer play — a thread
 * running the consumer module's {@link OwnershipTicker} (the Functions heartbeat runs the same): it
 * renews this region's shard leases (probe: this region's own changelog), lets {@link
 * dev.tandem.consumer.ownership.OwnershipPollLoop#observe} decide a takeover of a followed shard from how long a record of it has been
 * held, and acts on remote evacuate/return requests ({@code tandem evacuate}) for the partitions
 * assigned to this application's Tandem containers: a planned handover drains the shard's running
 * listeners (each runs between {@link dev.tandem.consumer.ownership.OwnershipPollLoop#beginWork} and {@code endWork}). Made once per
 * region by {@link TandemListenerContainers#support}; closing it stops the ticker (register it as a
 * bean so it closes with the application context, before the region). Slightly over 500 lines: the
 * per-record path, the follower's holding and the ticker's hook read and write the same per-shard
 * state (held records, positions); the record conversion ({@link ListenerRecords}) and the
 * container-thread bookkeeping ({@link ListenerThreads}) are classes of their own.
 *
 * <p>Per record ({@link #handle}): the owner claims, runs the listener and completes in the {@link
 * OnceProcessor} (completed ids skipped, failures released and dead-lettered after {@code
 * maxAttempts}); the container's commit of it then waits until the completion is acknowledged by
 * the own region's changelog ({@link TandemCommitGate}); a follower returns
 * (acknowledge) only for an id that is terminal, else throws {@link HeldRecordException}; whatever
 * must run again throws {@link TandemRetryException}.
 */
public final class TandemListenerSupport implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(TandemListenerSupport.class);
  /** The probe name of this region's own changelog broker. */
  static final String CHANGELOG_PROBE = OwnershipTicker.CHANGELOG_PROBE;
  /** Wait before a record whose processing failed (store, shard not restored) is delivered again. */
  static final Duration PROCESSING_RETRY_BACKOFF = Duration.ofMillis(500);
  /** Wait before a held record is delivered again (re-checked: completed elsewhere, or ours now). */
  static final Duration HOLD_RECHECK = Duration.ofMillis(200);

  private final TandemRegion region;
  private final RegionId self;
  private final ShardOwnership ownership;
  private final ReplicationLog replication;
  private final OnceProcessor processor;
  /** The ownership tick (null under detect-only); the {@link #ticker} thread runs it. */
  private final OwnershipTicker ownershipTicker;
  /** The Tandem listener containers of this region: their assigned partitions are the served shards. */
  private final List<MessageListenerContainer> containers = new CopyOnWriteArrayList<>();
  private final TandemClock clock = TandemClock.system();
  /** Per container thread: its shards, and its running listener (for the stuck check). */
  private final ListenerThreads threads = new ListenerThreads(clock);
  private final int shardCount;
  private final Duration commitTimeout;
  private final Duration handlerTimeout;
  private final Duration maxHold;
  private final ScheduledExecutorService ticker;
  private volatile boolean closed;
  /** Per shard: settled copies while owner (the position its heartbeats carry). */
  private final Map<Integer, AtomicLong> positions = new ConcurrentHashMap<>();
  /** Per shard: {offset, since nanos, re-sent (0/1)} of the record this follower holds at the head. */
  private final Map<Integer, long[]> held = new ConcurrentHashMap<>();
  private final List<TakeoverReport> takeovers = new CopyOnWriteArrayList<>();

  private final Counter followerAcks;
  private final Counter heldRedeliveries;
  private final Counter resends;
  private final Timer holdTime;
  private final Counter renewed;
  private final Counter withheldStuck;
  private final Counter withheldBroker;
  private final MeterRegistry meters;
  /** Ends a held record's back-off when its completion applies (the error handler's wait). */
  private final HeldRecordRelease release;

  TandemListenerSupport(TandemRegion region) {
    this.region = region;
    this.self = region.region();
    this.ownership = region.ownership();
    this.replication = region.replicationLog();
    this.shardCount = region.shardCount();
    TandemRegionConfig c = region.config();
    this.commitTimeout = c.duration(TandemRegionConfig.COMMIT_TIMEOUT_MS_CONFIG);
    this.handlerTimeout = c.duration(TandemRegionConfig.HANDLER_TIMEOUT_MS_CONFIG);
    this.maxHold = c.duration(TandemRegionConfig.MAX_HOLD_MS_CONFIG);
    this.meters = region.meterRegistry();
    // the region's processor: replicated store, ownership fence, claims durable before handlers,
    // the region's claim lease, STALE margin and maxAttempts; dead letters to <topic>.tandem-dlq
    this.processor = region.register(region.processorBuilder(region.kafkaDeadLetters()).build());
    Duration heartbeat = region.heartbeatInterval();
    this.ownershipTicker = ownership == null ? null
        : OwnershipTicker.builder(ownership, replication, new ListenerWork())
            .shardCount(shardCount)
            .requests(region.ownershipRequests())
            .probeTimeout(max(Duration.ofSeconds(2), heartbeat))
            .heartbeatInterval(heartbeat)
            .clock(clock)
            .meterRegistry(meters)
            .build();
    String r = self.name();
    // the names of TandemKafkaConsumer's meters: one dashboard for both consumers
    followerAcks = Counter.builder("tandem.consumer.follower.acknowledged").tag("region", r)
        .description("records a follower acknowledged because the owner completed them")
        .register(meters);
    holdTime = Timer.builder("tandem.consumer.follower.hold").tag("region", r)
        .description("how long a follower held a record until its completion replicated")
        .register(meters);
    heldRedeliveries = Counter.builder("tandem.consumer.follower.held").tag("region", r)
        .description("deliveries of a record a follower held (not acknowledged: the other region "
            + "owns its shard and has not completed it yet)")
        .register(meters);
    resends = Counter.builder("tandem.consumer.follower.resent").tag("region", r)
        .description("held copies re-sent to the owner region after maxHold").register(meters);
    release = new HeldRecordRelease(Counter.builder("tandem.consumer.follower.early.releases")
        .tag("region", r)
        .description("held records whose back-off ended early because the owner's completion "
            + "was applied in this region's store")
        .register(meters));
    if (ownership != null) {
      release.completions().attach(region.store()); // its listener removed on close
    }
    renewed = renewals(r, "renewed");
    withheldStuck = renewals(r, "withheld_stuck");
    withheldBroker = renewals(r, "withheld_broker");
    if (ownership != null) {
      ScheduledExecutorService s = Executors.newSingleThreadScheduledExecutor(t -> {
        Thread th = new Thread(t, "tandem-spring-lease-ticker-" + r + "-" + region.instance());
        th.setDaemon(true);
        return th;
      });
      long period = heartbeat.toNanos();
      s.scheduleWithFixedDelay(this::tick, 0, period, TimeUnit.NANOSECONDS);
      ticker = s;
    } else {
      ticker = null;
    }
  }

  private Counter renewals(String region, String outcome) {
    return Counter.builder("tandem.consumer.lease.renewer").tag("region", region)
        .tag("outcome", outcome)
        .description("rounds of the background lease renewer while the poll loop runs a batch:"
            + " renewed, or withheld because the loop is stuck (handlerTimeout) or the own broker"
            + " did not answer")
        .register(meters);
  }

  private static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }

  /** The region this support serves. */
  public TandemRegion region() {
    return region;
  }

  /** The back-off wait of held records, ended by their completion (the error handler's). */
  HeldRecordRelease holdRelease() {
    return release;
  }

  /** The processor the listeners run in. */
  public OnceProcessor processor() {
    return processor;
  }

  /** The takeovers this region's ticker made (each with its duplicate bound), oldest first. */
  public List<TakeoverReport> takeovers() {
    return List.copyOf(takeovers);
  }

  /** Runs the listener for one record, or holds it; see the class doc. */
  @FunctionalInterface
  public interface Invoker {
    /** Calls the application's listener with the record (or the list of one record). */
    void invoke() throws Exception;
  }

  /**
   * Handles one record: returns when the container may acknowledge it, throws {@link
   * HeldRecordException} or {@link TandemRetryException} when it must be delivered again.
   * {@code record}'s transient raw-bytes headers are removed before {@code listener} runs.
   */
  public void handle(ConsumerRecord<?, ?> record, Invoker listener) {
    if (closed) {
      throw new TandemRetryException("Tandem listener support of " + self + " is closed",
          PROCESSING_RETRY_BACKOFF, null);
    }
    String undeserializable = ListenerRecords.deserializationFailure(record);
    IncomingMessage m = ListenerRecords.toMessage(record);
    int shard = record.partition();
    threads.given(shard);
    try {
      if (ownership != null && !ownership.owns(shard)) {
        follow(record, m);
        return;
      }
      held.remove(shard);
      Outcome o = processOwned(record, m, undeserializable == null ? listener : () -> {
        // as TandemKafkaConsumer, where deserializing is part of the handler: a failure like any
        // other, released and retried, dead-lettered (bytes as published) after maxAttempts
        throw new org.apache.kafka.common.errors.SerializationException(
            "Tandem " + self + ": cannot deserialize the " + undeserializable);
      });
      if (o instanceof Outcome.RetryLater r) {
        throw new TandemRetryException("Tandem " + self + ": " + record.topic() + "-" + shard + "@"
            + record.offset() + " to run again (" + r.reason() + "): " + r.detail(), r.after(), null);
      }
      // the container commits the offset after this returns, through TandemCommitGate: only once
      // the completion (or the skip's terminal record) is acknowledged by the own changelog
      position(shard).incrementAndGet();
    } catch (HeldRecordException | TandemRetryException e) {
      throw e;
    } catch (RuntimeException e) {
      String reason = e instanceof ShardNotReadyException ? "shard-not-ready"
          : e instanceof StoreException ? "store" : "error";
      Counter.builder("tandem.consumer.processing.failures").tag("region", self.name())
          .tag("reason", reason)
          .description("batches whose processing failed; their records were sought back and read again")
          .register(meters).increment();
      log.warn("Tandem {}: processing {}-{}@{} failed; it is delivered again (offset not committed "
          + "past it): {}", self, record.topic(), shard, record.offset(), e.toString());
      throw new TandemRetryException("processing failed: " + e, PROCESSING_RETRY_BACKOFF, e);
    }
  }

  private Outcome processOwned(ConsumerRecord<?, ?> record, IncomingMessage m, Invoker listener) {
    int shard = record.partition();
    MessageHandler h = ctx -> {
      // busy, not stuck, while the listener runs within handlerTimeout: the ticker renews the lease
      threads.started();
      try {
        listener.invoke();
      } finally {
        threads.ended();
      }
    };
    if (ownership == null) {
      return processor.process(m, 0L, h);
    }
    // after a silence (own broker down, just started) the view is re-read before processing: the
    // other region may have taken the shard over meanwhile
    if (!ownershipTicker.ensureValid()) {
      throw new TandemRetryException("Tandem " + self + ": own changelog not re-read after a silence",
          PROCESSING_RETRY_BACKOFF, null);
    }
    // a planned handover drains the shard: it waits for this record, and admits none after it
    if (!ownership.pollLoop().beginWork(shard)) {
      throw new TandemRetryException("Tandem " + self + ": shard " + shard + " is being handed over",
          HOLD_RECHECK, null);
    }
    try {
      if (!ownership.owns(shard)) {
        // handed over between the check in handle and beginWork: a follower's record now
        throw new TandemRetryException("Tandem " + self + ": shard " + shard + " was handed over",
            HOLD_RECHECK, null);
      }
      long room = ownership.pollLoop().windowRoom(shard);
      if (room < 2 && room < ownership.window()) {
        // replication window W: no room for a claim and its completion while changes await the peer
        throw new TandemRetryException("Tandem " + self + ": replication window of shard " + shard
            + " full (the peer region trails)", HOLD_RECHECK, null);
      }
      return processor.process(m, ownership.epoch(shard), h);
    } finally {
      ownership.pollLoop().endWork(shard);
    }
  }

  /**
   * Waits until the own region's changelog has acknowledged every change so far of {@code shards}
   * (the barrier {@code TandemKafkaConsumer} commits behind), bounded by {@code
   * tandem.commit.timeout.ms} in all.
   *
   * @throws org.apache.kafka.common.KafkaException when it does not come in time (nothing may be
   *     committed then)
   */
  void awaitDurable(Set<Integer> shards) {
    long deadline = System.nanoTime() + commitTimeout.toNanos();
    for (int shard : shards) {
      if (shard < 0 || shard >= shardCount) {
        continue; // not a Tandem shard (another topic of a shared consumer factory)
      }
      try {
        replication.barrier(shard, self)
            .get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new org.apache.kafka.common.errors.InterruptException(e);
      } catch (ExecutionException | TimeoutException e) {
        Counter.builder("tandem.consumer.processing.failures").tag("region", self.name())
            .tag("reason", "commit-barrier")
            .description("batches whose processing failed; their records were sought back and read again")
            .register(meters).increment();
        throw new org.apache.kafka.common.KafkaException("Tandem " + self + ": changes of shard "
            + shard + " not acknowledged by the own changelog within " + commitTimeout
            + "; offsets not committed: " + (e.getCause() != null ? e.getCause() : e), e);
      }
    }
  }

  /** Follower: acknowledge what is terminal (completed somewhere), hold what is not. */
  private void follow(ConsumerRecord<?, ?> record, IncomingMessage m) {
    int shard = record.partition();
    long now = clock.nanoTime();
    Optional<dev.tandem.core.Envelope> env = processor.envelopeOf(m);
    // an unreadable copy is dead-lettered by the owner in its region; here it is only acknowledged
    boolean acknowledge = env.isEmpty() || processor.terminalPhase(m).isPresent();
    if (!acknowledge) {
      // watched before the error handler's back-off, then looked at once more: a completion
      // applied between the first look and the watch would otherwise wait the whole back-off.
      // Held: watched until the back-off ends; terminal or the look failed: no watch left
      acknowledge = !release.holdUnlessTerminal(env.get().id(),
          () -> processor.terminalPhase(m).isPresent());
    }
    if (acknowledge) {
      long[] h = held.get(shard);
      if (h != null && h[0] == record.offset()) {
        holdTime.record(now - h[1], TimeUnit.NANOSECONDS);
        held.remove(shard);
      }
      followerAcks.increment();
      return;
    }
    String owner;
    try {
      long[] h = held.compute(shard, (s, v) -> v == null || v[0] != record.offset()
          ? new long[] {record.offset(), now, 0} : v);
      heldRedeliveries.increment();
      if (now - h[1] > maxHold.toNanos() && h[2] == 0) {
        h[2] = 1; // once per held record, as TandemKafkaConsumer
        resend(record, m);
      }
      owner = ownership.lease(shard).owner().name();
    } catch (RuntimeException | Error e) {
      // not thrown as held: its back-off would not end the watch (see holdUnlessTerminal)
      release.unwatch(env.get().id());
      throw e;
    }
    throw new HeldRecordException(record.topic(), shard, record.offset(), env.get().id(), owner);
  }

  /**
   * After {@code maxHold}: the owner region may never have received its copy (a publish that reached
   * only this region); send ours to the owner's topic, same id and envelope, as {@code
   * TandemKafkaConsumer} does. The owner runs it once (or skips it when it had its own copy); this
   * copy stays held until that completion replicates here.
   */
  private void resend(ConsumerRecord<?, ?> record, IncomingMessage m) {
    Optional<dev.tandem.core.Envelope> env = processor.envelopeOf(m);
    RegionId owner = ownership.lease(record.partition()).owner();
    if (env.isEmpty() || owner.equals(self)) {
      return;
    }
    @SuppressWarnings("unchecked")
    ConsumerRecord<byte[], byte[]> raw = (ConsumerRecord<byte[], byte[]>) m.transportMessage();
    dev.tandem.publisher.OutboundMessage.Builder b = dev.tandem.publisher.OutboundMessage
        .builder(raw.topic(), raw.partition()).key(raw.key()).value(raw.value()).envelope(env.get());
    for (Header hd : raw.headers()) {
      if (!hd.key().startsWith("tandem-")) {
        b.header(hd.key(), hd.value());
      }
    }
    String id = env.get().id().toString();
    try {
      region.resendSink(owner).send(b.build()).whenComplete((ack, e) -> {
        if (e != null) {
          log.warn("Tandem {}: re-send of {} to {} failed; holding it on", self, id, owner, e);
        }
      });
      resends.increment();
      log.info("Tandem follower {} re-sends {} (held over {}) to {}", self, id, maxHold, owner);
    } catch (RuntimeException e) {
      log.warn("Tandem {}: re-send of {} to {} failed; holding it on: {}", self, id, owner,
          e.toString());
    }
  }

  /**
   * A container gave up {@code partitions} (revoked or lost; its rebalance listener): their held
   * records are no longer held here, so they stop counting for the shard's hold time (which the
   * ticker weighs for a takeover). Per shard, as the hold is kept: a shard whose partition of
   * another topic is still held here starts its hold time again at that record's next delivery
   * (within a back-off) — later, never wrongly early.
   */
  void givenUp(java.util.Collection<org.apache.kafka.common.TopicPartition> partitions) {
    for (var tp : partitions) {
      held.remove(tp.partition());
    }
  }

  /** How long this follower has held the head record of {@code shard} (zero if none). */
  Duration heldFor(int shard) {
    long[] h = held.get(shard);
    return h == null ? Duration.ZERO : Duration.ofNanos(clock.nanoTime() - h[1]);
  }

  // ------------------------------------------------------------------ the ticker

  /**
   * Registers a Tandem listener container of this region: the partitions assigned to it are shards
   * this application serves, whose evacuate/return requests its ticker acts on.
   */
  void serve(MessageListenerContainer container) {
    if (!containers.contains(container)) {
      containers.add(container);
    }
  }

  /** What the ownership ticker needs from the listener containers (the drain hook). */
  private final class ListenerWork implements OwnershipTicker.Work {

    /** The shards of the partitions assigned to this application's Tandem containers now. */
    @Override
    public Set<Integer> served(Set<Integer> leaseOwned) {
      Set<Integer> served = new TreeSet<>();
      for (MessageListenerContainer c : containers) {
        var assigned = c.getAssignedPartitions();
        if (assigned != null) {
          assigned.forEach(tp -> served.add(tp.partition()));
        }
      }
      served.retainAll(leaseOwned);
      return served;
    }

    /**
     * A listener beyond handlerTimeout is stuck, and with it every shard of its container thread:
     * their leases are not renewed (they lapse and the peer takes them over), this region does not
     * take over by what that thread holds, and they are not handed over (the drain would wait for
     * the stuck listener) — as a stuck TandemKafkaConsumer loop neither renews nor observes.
     */
    @Override
    public Set<Integer> stuck() {
      Set<Integer> stuck = new TreeSet<>();
      for (ListenerThreads.Stuck t : threads.stuck(handlerTimeout).values()) {
        stuck.addAll(t.shards());
        withheldStuck.increment();
        log.warn("Tandem {}: a listener of thread {} has run for {} (> handlerTimeout {}); the "
            + "leases of its shards {} are not renewed", self, t.thread().getName(), t.ran(),
            handlerTimeout, t.shards());
      }
      return stuck;
    }

    @Override
    public Duration heldFor(int shard) {
      return TandemListenerSupport.this.heldFor(shard);
    }

    @Override
    public long position(int shard) {
      return TandemListenerSupport.this.position(shard).get();
    }
  }

  /**
   * One round of the {@link OwnershipTicker}: renew this region's leases (unless a listener is
   * stuck), observe the followed shards, act on evacuate/return requests for the served shards.
   */
  void tick() {
    if (closed) {
      return;
    }
    try {
      OwnershipTicker.Round r = ownershipTicker.tick();
      if (!r.owned().isEmpty()) {
        if (r.silent() != null) {
          withheldBroker.increment();
          log.warn("Tandem {}: no heartbeat: {}", self, r.silent());
        } else {
          renewed.increment();
        }
      }
      for (TakeoverReport t : r.takeovers()) {
        takeovers.add(t);
        held.remove(t.shard()); // ours now: the held record runs on its next delivery
        log.warn("Tandem {}: took shard {} over: {}", self, t.shard(), t);
      }
    } catch (RuntimeException e) {
      if (!closed) {
        log.warn("Tandem {}: lease ticker round failed: {}", self, e.toString());
      }
    }
  }

  private AtomicLong position(int shard) {
    return positions.computeIfAbsent(shard, s -> new AtomicLong());
  }

  /** Stops the lease ticker (this region's shards are then taken over by the peer after the lease). */
  @Override
  public void close() {
    closed = true;
    release.completions().close(); // the store listener removed, every watch ended
    if (ownershipTicker != null) {
      ownershipTicker.close(); // a round in progress aborts its changelog probe
    }
    if (ticker != null) {
      ticker.shutdown(); // a round in progress ends (bounded by its probe timeout)
      try {
        if (!ticker.awaitTermination(5, TimeUnit.SECONDS)) {
          ticker.shutdownNow();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    TandemListenerContainers.forget(this);
  }
}
