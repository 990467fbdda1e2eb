package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.StoreMeterNames;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Replication lag from heartbeats: for each origin region, applied-at − sent-at of its newest
 * heartbeat per shard (wall clocks of two machines: a metric, never a correctness input; a negative
 * difference from clock skew counts as 0), and the records this replica has not read yet.
 *
 * <p>Meters: {@code tandem.replication.lag} (timer, tags {@code region} = this replica's region,
 * {@code origin}; p50/p99 published), {@code tandem.replication.records.behind} (gauge, tag
 * {@code region}), {@code tandem.replication.heartbeat.age} (gauge, seconds since the newest
 * heartbeat of {@code origin} was applied).
 */
final class LagTracker {

  private final RegionId localRegion;
  private final TandemClock clock;
  private final MeterRegistry meters;
  private final Map<RegionId, Origin> origins = new ConcurrentHashMap<>();
  private final AtomicLong recordsBehind = new AtomicLong();

  LagTracker(RegionId localRegion, TandemClock clock, MeterRegistry meters) {
    this.localRegion = localRegion;
    this.clock = clock;
    this.meters = meters;
    Gauge.builder(StoreMeterNames.REPLICATION_RECORDS_BEHIND, recordsBehind, AtomicLong::get)
        .tag("region", localRegion.name())
        .description("changelog records this replica has not read yet (end offset - position)")
        .register(meters);
  }

  /** One origin's figures. */
  private final class Origin {
    final Timer timer;
    /** Newest lag per shard, millis. */
    final Map<Integer, Long> lagByShard = new ConcurrentHashMap<>();
    final AtomicLong lastAppliedNanos = new AtomicLong(Long.MIN_VALUE);
    final AtomicLong count = new AtomicLong();

    Origin(RegionId origin) {
      timer = Timer.builder(StoreMeterNames.REPLICATION_LAG)
          .tag("region", localRegion.name())
          .tag("origin", origin.name())
          .description("heartbeat applied-at minus sent-at")
          .publishPercentiles(0.5, 0.99)
          .register(meters);
      Gauge.builder(StoreMeterNames.REPLICATION_HEARTBEAT_AGE, this, o -> o.ageSeconds())
          .tag("region", localRegion.name())
          .tag("origin", origin.name())
          .register(meters);
    }

    double ageSeconds() {
      long last = lastAppliedNanos.get();
      return last == Long.MIN_VALUE ? Double.NaN : (clock.nanoTime() - last) / 1e9;
    }
  }

  private Origin origin(RegionId region) {
    return origins.computeIfAbsent(region, Origin::new);
  }

  /** A heartbeat was applied just now. */
  void onHeartbeat(ChangelogEntry.Heartbeat hb) {
    long lag = Math.max(0, clock.wallMillis() - hb.sentAtMillis());
    Origin o = origin(hb.origin());
    o.lagByShard.put(hb.shard(), lag);
    o.timer.record(lag, TimeUnit.MILLISECONDS);
    o.lastAppliedNanos.set(clock.nanoTime());
    o.count.incrementAndGet();
  }

  void recordsBehind(long n) {
    recordsBehind.set(n);
  }

  ReplicationLag lag(RegionId region) {
    Origin o = origins.get(region);
    if (o == null || o.count.get() == 0) {
      return new ReplicationLag(region, null, recordsBehind.get(), null, 0);
    }
    long max = o.lagByShard.values().stream().mapToLong(Long::longValue).max().orElse(0);
    return new ReplicationLag(
        region,
        Duration.ofMillis(max),
        recordsBehind.get(),
        Duration.ofNanos(clock.nanoTime() - o.lastAppliedNanos.get()),
        o.count.get());
  }
}
