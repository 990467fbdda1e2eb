package dev.tandem.azure.functions;

import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.OwnerLiveness;
import dev.tandem.consumer.ownership.OwnershipRequests;
import dev.tandem.consumer.ownership.OwnershipTicker;
import dev.tandem.consumer.ownership.RenewalOutcome;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives a {@link ShardOwnership} for a function app, where no poll loop exists: a timer-triggered
 * function calls {@link #tick()}, and the processing path calls {@link #ensureRenewed()} before an
 * owner processes. Each tick is one round of the consumer module's {@link OwnershipTicker} (the
 * Spring listener containers run the same); this class adds what is the function app's: the copies
 * a follower holds, the positions, the {@code tandem.functions.*} meters. It plays the part the poll
 * loop plays in {@code TandemKafkaConsumer}:
 *
 * <ul>
 *   <li>Owner: renews through {@link OwnerLiveness}, the protocol the Kafka poll loop uses too. Its
 *       probes are this region's own changelog broker (a catch-up of the owned shards to the current
 *       end offsets) and every trigger probe: a region whose changelog broker or trigger broker (its
 *       Service Bus namespace) is down stays silent, and the follower takes over. After a silence
 *       longer than {@code revalidateAfter} (or before the first renewal) it re-reads the changelogs
 *       before it heartbeats or processes again. A shard whose home region recovered is failed back
 *       (with {@code ShardOwnership.Builder.failbackAfter}) by a tick only, never by the renewal an
 *       invocation runs: the planned handover waits for the invocations of the shard in flight
 *       (each runs between {@code beginWork} and {@code endWork}), so nothing runs twice.
 *   <li>Follower: {@link dev.tandem.consumer.ownership.OwnershipPollLoop#observe} for every shard it does not own, with how long it has
 *       held the oldest copy it could not settle; the policy decides on a takeover.
 *   <li>Remote evacuate/return requests ({@link OwnershipRequests}, when the configuration was made
 *       from a {@code TandemRegion}): a planned handover of each of this region's shards asked for,
 *       which drains the invocations of the shard in flight on this host (each runs between {@code
 *       beginWork} and {@code endWork}); see {@code docs/design.md} for what it cannot drain on the
 *       app's other hosts.
 * </ul>
 *
 * <p>Thread-safe: ticks are serialised, and a renewal from the processing path never runs beside
 * the owner half of a tick.
 */
final class ShardHeartbeats {

  private static final Logger log = LoggerFactory.getLogger(ShardHeartbeats.class);
  /** Ids tracked per shard as held; beyond this the oldest already drive heldFor, so new ones are not added. */
  static final int MAX_HELD_PER_SHARD = 10_000;

  private final RegionId self;
  private final TandemClock clock;
  /** The rounds: renewal, failback, observation, remote requests. */
  private final OwnershipTicker ticker;
  /** The probe name of this region's own changelog broker. */
  static final String CHANGELOG_PROBE = OwnershipTicker.CHANGELOG_PROBE;
  private final long heldExpiryNanos;

  /** Monotonic time the last tick began; valid only when {@link #tickedOnce}. */
  private volatile long lastTickNanos;
  private volatile boolean tickedOnce;

  /**
   * Per shard: copies this instance settled while owning it, the "position" its heartbeats carry (a
   * follower sees the owner progressing when it changes). Per instance: when several instances of a
   * region renew, the positions they write differ, which a follower also reads as progress — it can
   * then miss a stuck owner, never invent one.
   */
  private final Map<Integer, AtomicLong> positions = new ConcurrentHashMap<>();
  /** Per shard, per id: {first, last} monotonic time this follower could not settle the copy. */
  private final Map<Integer, Map<String, long[]>> held = new ConcurrentHashMap<>();

  private final Counter renewedHeartbeats;
  private final Counter silentHeartbeats;
  private final Counter takeovers;

  /**
   * @param requests the region's remote ownership requests, acted on by each tick; null when the
   *     configuration has none (built from parts, not from a {@code TandemRegion})
   */
  ShardHeartbeats(ShardOwnership ownership, ReplicationLog replication, int shardCount,
      TandemClock clock, Duration probeTimeout, List<BrokerProbe> triggerProbes,
      Duration heldExpiry, MeterRegistry registry, OwnershipRequests requests) {
    this.self = ownership.self();
    this.clock = clock;
    // a failback and a handover wait for the invocations in flight on the shard: the ticker starts
    // them from tick() only, outside its renewal lock, never from the renewal an invocation runs
    // on its own thread (it would wait for itself)
    OwnershipTicker.Builder tb = OwnershipTicker.builder(ownership, replication,
            new OwnershipTicker.Work() {
              // served: every shard of the region — a function host may be invoked for any shard
              @Override
              public Duration heldFor(int shard) {
                return ShardHeartbeats.this.heldFor(shard);
              }

              @Override
              public long position(int shard) {
                return ShardHeartbeats.this.position(shard).get();
              }
            })
        .shardCount(shardCount).requests(requests)
        .probeTimeout(probeTimeout).clock(clock).meterRegistry(registry);
    triggerProbes.forEach(tb::probe);
    this.ticker = tb.build();
    this.heldExpiryNanos = heldExpiry.toNanos();
    String region = self.name();
    renewedHeartbeats = Counter.builder("tandem.functions.heartbeats").tag("region", region)
        .tag("outcome", "renewed").description("shard leases renewed by the heartbeat function")
        .register(registry);
    silentHeartbeats = Counter.builder("tandem.functions.heartbeats").tag("region", region)
        .tag("outcome", "silent")
        .description("owned shards left without a heartbeat: this region's broker did not answer")
        .register(registry);
    takeovers = Counter.builder("tandem.functions.takeovers").tag("region", region)
        .description("shards this region's heartbeat function took over").register(registry);
    Gauge.builder("tandem.functions.heartbeat.tick.age", this, ShardHeartbeats::tickAgeSeconds)
        .tag("region", region).baseUnit("seconds")
        .description("time since the heartbeat function last ran (NaN before its first run)")
        .register(registry);
    Gauge.builder("tandem.functions.held", this, h -> h.heldCount()).tag("region", region)
        .description("copies of other regions' shards this follower could not settle yet")
        .register(registry);
  }

  RegionId region() {
    return self;
  }

  /**
   * One timer tick: renew the owned shards' leases, fail one back if due, observe the followed ones,
   * act on remote evacuate/return requests.
   */
  HeartbeatReport tick() {
    long t0 = clock.nanoTime();
    lastTickNanos = t0;
    tickedOnce = true;
    OwnershipTicker.Round r = ticker.tick();
    count(r.owned(), r.renewed(), r.silent());
    for (TakeoverReport t : r.takeovers()) {
      takeovers.increment();
      held.remove(t.shard()); // ours now: the held copies are processed on their next delivery
    }
    HeartbeatReport report = new HeartbeatReport(self, r.renewed(), r.followed(), r.takeovers(),
        r.notReady(), r.silent(), Duration.ofNanos(clock.nanoTime() - t0));
    if (r.silent() != null || !r.takeovers().isEmpty()) {
      log.warn("{}", report);
    } else {
      log.debug("{}", report);
    }
    return report;
  }

  /**
   * Called by the processing path before an owner processes: renews now when the last renewal is
   * older than {@code revalidateAfter} (or never happened). Never fails a shard back nor hands one
   * over: that is the tick's, whose handover waits for the invocation that called this.
   *
   * @return null when this region may process its shards; else why not (its own changelog did not
   *     answer)
   */
  String ensureRenewed() {
    return ticker.ensureRenewed().map(n -> {
      RenewalOutcome o = n.outcome();
      count(n.owned(), o.renewed(), o.silent() ? o.reason() : null);
      return o.silent() ? o.reason() : null;
    }).orElse(null);
  }

  /** The heartbeat meters of one renewal: each owned shard renewed, or left silent. */
  private void count(java.util.Set<Integer> owned, java.util.Set<Integer> renewed, String silent) {
    if (silent != null) {
      silentHeartbeats.increment(owned.size());
    } else {
      renewedHeartbeats.increment(renewed.size());
    }
  }

  private AtomicLong position(int shard) {
    return positions.computeIfAbsent(shard, s -> new AtomicLong());
  }

  /** A copy of {@code shard} was settled here; {@code asOwner} counts it as the owner's progress. */
  void settled(int shard, String id, boolean asOwner) {
    if (asOwner) {
      position(shard).incrementAndGet();
    }
    if (id != null) {
      Map<String, long[]> ids = held.get(shard);
      if (ids != null) {
        ids.remove(id);
      }
    }
  }

  /** This follower could not settle a copy of {@code shard} (its owner has not completed it yet). */
  void holding(int shard, String id) {
    if (id == null) {
      return;
    }
    long now = clock.nanoTime();
    Map<String, long[]> ids = held.computeIfAbsent(shard, s -> new ConcurrentHashMap<>());
    ids.compute(id, (k, v) -> {
      if (v == null) {
        return ids.size() >= MAX_HELD_PER_SHARD ? null : new long[] {now, now};
      }
      v[1] = now;
      return v;
    });
  }

  /**
   * How long this follower has held the oldest copy of {@code shard} it could not settle. A copy not
   * redelivered within {@code heldExpiry} is forgotten (the trigger gave it up, e.g. to its
   * dead-letter queue), so it cannot make an idle owner look stuck forever.
   */
  Duration heldFor(int shard) {
    Map<String, long[]> ids = held.get(shard);
    if (ids == null || ids.isEmpty()) {
      return Duration.ZERO;
    }
    long now = clock.nanoTime();
    long oldest = Long.MAX_VALUE;
    for (var it = ids.values().iterator(); it.hasNext(); ) {
      long[] v = it.next();
      if (now - v[1] > heldExpiryNanos) {
        it.remove();
      } else if (v[0] < oldest) {
        oldest = v[0];
      }
    }
    return oldest == Long.MAX_VALUE ? Duration.ZERO : Duration.ofNanos(now - oldest);
  }

  private double heldCount() {
    long n = 0;
    for (Map<String, long[]> ids : held.values()) {
      n += ids.size();
    }
    return n;
  }

  private double tickAgeSeconds() {
    return tickedOnce ? (clock.nanoTime() - lastTickNanos) / 1e9 : Double.NaN;
  }
}
