package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.ownership.HandoverReport;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.ReplicationLag;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Automatic failback (not API): a shard this region owns although another region is its initial
 * owner goes home by a planned {@link Handover} (zero duplicates) once the home region has been
 * healthy for {@code failbackAfter} — its replica's heartbeats fresh here (within {@code
 * failbackMaxSilence}; they flow only while its consumers run) and its changelog reachable. A
 * failed attempt is retried after {@code failbackAfter} again; a shard an operator evacuated from
 * its home region stays until a return ({@link Evacuations}).
 *
 * <p>Two halves: {@link #due} decides and waits for nothing; {@link #failBack} is the handover,
 * which waits up to {@code catchUpTimeout} — so a renewal round decides and runs the handover
 * elsewhere ({@code OwnerLiveness#failBackOne}), never in its own path (issue 21).
 */
public final class Failback {

  private static final Logger log = LoggerFactory.getLogger(ShardOwnership.class);

  private final OwnershipContext ctx;
  private final LeaseView leases;
  private final Handover handover;
  /** Null: failback off (only by command). */
  private final Duration failbackAfter;
  private final Duration failbackMaxSilence;
  /** Per region: since when (monotonic) its replica's heartbeats have been fresh; absent if not. */
  private final Map<RegionId, Long> healthySince = new ConcurrentHashMap<>();
  /** Per shard: when a failback was last tried (monotonic), so a failed one is not retried at once. */
  private final Map<Integer, Long> tried = new ConcurrentHashMap<>();
  /** Per shard: the epoch whose failback an evacuation held (logged and counted once per epoch). */
  private final Map<Integer, Long> held = new ConcurrentHashMap<>();
  private final Counter moved;
  private final Counter aborted;
  private final Counter heldCount;

  public Failback(OwnershipContext ctx, LeaseView leases, Handover handover,
      Duration failbackAfter, Duration failbackMaxSilence) {
    this.ctx = ctx;
    this.leases = leases;
    this.handover = handover;
    this.failbackAfter = failbackAfter;
    this.failbackMaxSilence = failbackMaxSilence;
    this.moved = counter("moved");
    this.aborted = counter("aborted");
    this.heldCount = counter("held");
  }

  private Counter counter(String outcome) {
    return Counter.builder(ConsumerMeterNames.FAILBACKS).tag("region", ctx.self().name())
        .tag("outcome", outcome).description("shards handed back to their recovered home region")
        .register(ctx.registry());
  }

  /**
   * The home region to hand {@code shard} back to when a failback is due now (the attempt is
   * recorded, so a failed one is retried only after {@code failbackAfter}); empty otherwise. Waits
   * for nothing.
   */
  public Optional<RegionId> due(int shard) {
    if (failbackAfter == null) {
      return Optional.empty();
    }
    RegionId self = ctx.self();
    RegionId home = leases.initialOwner(shard);
    ShardLease l = leases.lease(shard);
    if (home.equals(self) || !l.owner().equals(self)) {
      return Optional.empty();
    }
    if (Evacuations.from(l).filter(home::equals).isPresent()) {
      // an operator evacuated the home region: only a return (a new lease) ends that
      if (!Long.valueOf(l.epoch()).equals(held.put(shard, l.epoch()))) {
        heldCount.increment();
        log.info("Tandem {} keeps shard {} (epoch {}): {} was evacuated by an operator, no automatic"
            + " failback until it is returned", self, shard, l.epoch(), home);
      }
      return Optional.empty();
    }
    if (!healthyFor(home, failbackAfter)) {
      return Optional.empty();
    }
    long now = ctx.clock().nanoTime();
    Long last = tried.get(shard);
    if (last != null && now - last < failbackAfter.toNanos()) {
      return Optional.empty();
    }
    tried.put(shard, now);
    return Optional.of(home);
  }

  /** The planned handover of {@code shard} back to {@code home}: waits up to catchUpTimeout. */
  public HandoverReport failBack(int shard, RegionId home) {
    log.info("Tandem {} fails shard {} back to {}: healthy for {}", ctx.self(), shard, home,
        failbackAfter);
    HandoverReport r = handover.handOver(shard, home, ctx.catchUpTimeout(), false);
    (r.moved() ? moved : aborted).increment();
    return r;
  }

  /** Whether {@code region}'s replica has looked healthy from here for at least {@code d}. */
  private boolean healthyFor(RegionId region, Duration d) {
    ReplicationLag lag;
    try {
      lag = ctx.replication().lag(region);
    } catch (RuntimeException e) {
      healthySince.remove(region);
      return false;
    }
    // the age of its newest heartbeat = how late it was applied here + how long ago: a backlog
    // applied late must not look like a live region (a liveness heuristic, never a safety input)
    boolean fresh = lag.sinceLastHeartbeat() != null && lag.timeLag() != null
        && lag.sinceLastHeartbeat().plus(lag.timeLag()).compareTo(failbackMaxSilence) <= 0
        && ctx.replication().peerReachable();
    long now = ctx.clock().nanoTime();
    if (!fresh) {
      healthySince.remove(region);
      return false;
    }
    long since = healthySince.computeIfAbsent(region, r -> now);
    return now - since >= d.toNanos();
  }
}
