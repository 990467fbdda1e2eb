package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.ownership.OwnerLiveness;
import dev.tandem.consumer.ownership.ProbeAbortedException;
import dev.tandem.consumer.ownership.RenewalOutcome;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.store.StoreException;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The owner's lease renewals, through the one owner-liveness protocol ({@link OwnerLiveness}): the
 * loop's round between batches ({@link #heartbeatIfDue}: probe the own broker, revalidate after a
 * silence, heartbeat, fail back) and the background round while a batch runs ({@link #renewRound},
 * its own daemon thread). Invariant: the background round renews only shards assigned here whose
 * lease names this region as the loop last saw them ({@code renewable}), and a revoked partition
 * leaves that set before the rebalance listener gives it up (under {@code renewLock}, so no round
 * renews it after). The background round never touches the Kafka consumer (not thread-safe).
 */
public final class LeaseRenewer {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.kafka.TandemKafkaConsumer.class);

  /** The liveness probe of this region's Kafka broker (the consumed cluster). */
  public static final String OWN_BROKER_PROBE = "kafka";

  private final LoopContext ctx;
  private final ShardOwnership ownership;
  private final ReplicationLog replication;
  private final AssignedPartitions assigned;
  private final Duration heartbeatInterval;
  /** Who renews, for log lines and the renewer thread's name. */
  private final String owner;
  /** The liveness protocol; set once by {@link #liveness(OwnerLiveness)} before the loop starts. */
  private volatile OwnerLiveness liveness;
  private final Counter renewedInBatch;
  private final Counter withheldStuck;
  private final Counter withheldBroker;
  /**
   * Shards assigned to this instance whose lease names this region, as the loop last saw them: what
   * the background renewer may renew. Cleared for revoked partitions before they are given up.
   */
  private final Set<Integer> renewable = ConcurrentHashMap.newKeySet();
  /** Serialises a renewer round with the removal of revoked shards from {@link #renewable}. */
  private final Object renewLock = new Object();
  /** The partitions the own-broker probe asks end offsets of (set by the loop before a round). */
  private Collection<TopicPartition> probeTargets = List.of();
  /** Last successful heartbeat round of the loop, monotonic. */
  private long lastHeartbeatNanos;
  /** When the loop last ran a heartbeat round (whatever its outcome): the renewer stays out then. */
  private volatile long loopRoundNanos;
  private volatile boolean withheld;
  private volatile ScheduledExecutorService executor;
  /** Set once the loop has stopped: no renewal after it. */
  private volatile boolean stopped;

  public LeaseRenewer(LoopContext ctx, ShardOwnership ownership, ReplicationLog replication,
      AssignedPartitions assigned, Duration heartbeatInterval, String owner) {
    this.ctx = ctx;
    this.ownership = ownership;
    this.replication = replication;
    this.assigned = assigned;
    this.heartbeatInterval = heartbeatInterval;
    this.owner = owner;
    String r = ctx.region().name();
    renewedInBatch = counter(r, "renewed");
    withheldStuck = counter(r, "withheld_stuck");
    withheldBroker = counter(r, "withheld_broker");
  }

  private Counter counter(String region, String outcome) {
    return Counter.builder(ConsumerMeterNames.LEASE_RENEWER).tag("region", region)
        .tag("outcome", outcome)
        .description("rounds of the background lease renewer while the poll loop runs a batch:"
            + " renewed, or withheld because the loop is stuck (handlerTimeout) or the own broker"
            + " did not answer")
        .register(ctx.meters());
  }

  /** The liveness protocol this renews through (its probe is {@link #probeOwnBroker}). */
  public void liveness(OwnerLiveness l) {
    this.liveness = l;
  }

  /** Starts the background round, every heartbeatInterval on its own daemon thread. */
  public void start() {
    ScheduledExecutorService s = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread rt = new Thread(r, "tandem-shard-lease-renewer-" + owner);
      rt.setDaemon(true);
      return rt;
    });
    long period = heartbeatInterval.toNanos();
    s.scheduleWithFixedDelay(this::renewRound, period, period, TimeUnit.NANOSECONDS);
    executor = s;
  }

  /**
   * The loop has stopped: no renewal from here, the leases lapse from the last one; no failback
   * starts, and the one running (if any) has ended when this returns (bounded by catchUpTimeout).
   */
  public void stop() {
    stopped = true;
    ScheduledExecutorService s = executor;
    if (s != null) {
      s.shutdownNow();
    }
    OwnerLiveness l = liveness;
    if (l != null) {
      // a failback's handover runs on a thread of its own (it ran on the loop thread before): the
      // region closes the store and the changelog once the loops stopped, so wait for it here
      l.stopFailbacks();
    }
  }

  /** A batch of {@code shard} starts: the background round may keep its lease meanwhile. */
  public void mayRenew(int shard) {
    renewable.add(shard);
  }

  /** Revoked or lost partitions: no renewal of theirs may run once the listener gives them up. */
  public void stopRenewing(Collection<TopicPartition> partitions) {
    synchronized (renewLock) {
      for (TopicPartition tp : partitions) {
        renewable.remove(tp.partition());
      }
    }
  }

  /**
   * The loop's renewal round, every heartbeatInterval between batches: {@link OwnerLiveness#renew}
   * for the assigned shards whose lease names this region (own broker answered since the last
   * round, revalidation after a silence, then ownerAlive, heartbeats, one failback).
   */
  public void heartbeatIfDue() {
    long now = ctx.clock().nanoTime();
    if (now - lastHeartbeatNanos < heartbeatInterval.toNanos()) {
      return;
    }
    loopRoundNanos = now;
    List<TopicPartition> leaseOwned = new ArrayList<>();
    Set<Integer> shards = new TreeSet<>();
    for (TopicPartition tp : assigned.all()) {
      try {
        if (ownership.lease(tp.partition()).owner().equals(ctx.region())) {
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
      r = liveness.renew(shards, assigned::position);
    } catch (ProbeAbortedException e) {
      // close() woke the loop inside the probe: not a broker outage; the loop stops as on any wakeup
      throw (WakeupException) e.getCause();
    }
    if (!r.silent()) {
      lastHeartbeatNanos = now;
    } else {
      // the own broker did not answer, or the changelogs could not be re-read: stay silent, so
      // the follower can take over; the next turn tries again
      log.debug("Tandem {} renews nothing this round: {}", owner, r.reason());
    }
  }

  /**
   * The own-broker probe (on the loop thread only, where the consumer may be used): an idle poll
   * returns nothing whether or not the broker is up, so ask it for end offsets.
   */
  public boolean probeOwnBroker(Duration timeout) {
    try {
      ctx.consumer().endOffsets(probeTargets, timeout);
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
  void renewRound() {
    try {
      long now = ctx.clock().nanoTime();
      // the loop runs its own rounds between batches (they also probe the broker, revalidate and
      // fail back); the renewer steps in only once the loop has missed one, i.e. during a batch
      if (stopped || now - loopRoundNanos < heartbeatInterval.toNanos() * 3 / 2) {
        return;
      }
      RenewalOutcome r;
      synchronized (renewLock) {
        if (renewable.isEmpty()) {
          return;
        }
        r = liveness.renewWhileBusy(Set.copyOf(renewable), assigned::position);
      }
      if (r.kind() == RenewalOutcome.Kind.STUCK) {
        withhold(withheldStuck, r.reason());
        return;
      }
      if (r.silent()) {
        withhold(withheldBroker, r.reason());
        return;
      }
      if (withheld) {
        withheld = false;
        log.info("Tandem {} renews its shard leases again", owner);
      }
      if (!r.renewed().isEmpty()) {
        renewedInBatch.increment();
      }
      if (replication != null) {
        // the own changelog acknowledging this renewal is the own broker answering, so a batch
        // keeps its evidence fresh; an acknowledgement that never comes lets the evidence age out
        for (int shard : r.renewed()) {
          replication.barrier(shard, ctx.region()).whenComplete((v, e) -> {
            if (e == null) {
              liveness.evidence(OWN_BROKER_PROBE).answered(now);
            }
          });
        }
      }
    } catch (RuntimeException | Error e) {
      // a scheduled task that throws is never run again: log and keep renewing
      log.warn("Tandem lease renewer round of {} failed", owner, e);
    }
  }

  private void withhold(Counter counter, String why) {
    counter.increment();
    if (!withheld) {
      withheld = true;
      log.warn("Tandem {} stops renewing its shard leases {}: {}; the peer region takes the shards"
          + " over once the lease lapses (L + margin)", owner, renewable, why);
    }
  }
}
