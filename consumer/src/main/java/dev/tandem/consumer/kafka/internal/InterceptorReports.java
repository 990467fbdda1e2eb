package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;

/**
 * What {@code TandemConsumerInterceptor} counts and reports: its counters ({@code
 * tandem.consumer.interceptor.*}), and the WARN lines about records passed unchecked (a shard still
 * restoring) and store failures, at most one of each per {@link #LOG_INTERVAL} with the number left
 * unlogged since (a failing store would otherwise log once per poll). Not thread-safe (the
 * interceptor's calls are serialised).
 */
public final class InterceptorReports {

  /** Minimum time between two WARN lines of one kind of one interceptor. */
  public static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

  public final Counter dropped;
  public final Counter passed;
  public final Counter conflicts;
  public final Counter invalid;
  public final Counter completed;
  public final Counter untracked;
  public final Counter readFailures;
  public final Counter restoring;
  public final Counter completeFailures;
  /** The interceptor's logger: the WARN lines keep the category operators filter on. */
  private final Logger log;
  private final RegionId region;
  private Path directory;
  private long lastRestoringLog = System.nanoTime() - LOG_INTERVAL.toNanos();
  private long unloggedRestoring;
  private long lastFailureLog = System.nanoTime() - LOG_INTERVAL.toNanos();
  private long unloggedFailures;

  public InterceptorReports(RegionId region, MeterRegistry meters, Logger log) {
    this.region = region;
    this.log = log;
    String r = region.name();
    dropped = Counter.builder(ConsumerMeterNames.INTERCEPTOR_DROPPED).tag("region", r)
        .description("records dropped because their id was already terminal in the replica")
        .register(meters);
    passed = Counter.builder(ConsumerMeterNames.INTERCEPTOR_PASSED).tag("region", r)
        .description("records passed on to the application").register(meters);
    conflicts = Counter.builder(ConsumerMeterNames.INTERCEPTOR_CONFLICTS).tag("region", r)
        .description("completed ids seen again with another payload digest (passed on)")
        .register(meters);
    invalid = Counter.builder(ConsumerMeterNames.INTERCEPTOR_INVALID).tag("region", r)
        .description("records whose tandem-id header the store refuses (empty, oversized, a control "
            + "character): passed on, never tracked")
        .register(meters);
    completed = Counter.builder(ConsumerMeterNames.INTERCEPTOR_COMPLETED).tag("region", r)
        .description("passed records completed because Kafka committed an offset past them")
        .register(meters);
    untracked = Counter.builder(ConsumerMeterNames.INTERCEPTOR_UNTRACKED).tag("region", r)
        .description("passed records evicted from the bounded tracking before this consumer saw a "
            + "commit covering them: it records no completion for them (expected for a partition "
            + "lost in a rebalance, whose new owner completes them; otherwise a missed completion)")
        .register(meters);
    readFailures = Counter.builder(ConsumerMeterNames.INTERCEPTOR_STORE_FAILURES).tag("region", r)
        .tag("operation", "read")
        .description("failed lookups (a poll's, or a record's of a partition beyond tandem.shards): "
            + "their records were passed on")
        .register(meters);
    restoring = Counter.builder(ConsumerMeterNames.INTERCEPTOR_RESTORING).tag("region", r)
        .description("records of a shard whose replica was still restoring: passed on unchecked (they "
            + "may be duplicates), tracked, completed at a commit once the shard is restored")
        .register(meters);
    completeFailures = Counter.builder(ConsumerMeterNames.INTERCEPTOR_STORE_FAILURES)
        .tag("region", r).tag("operation", "complete")
        .description("completions of a committed partition that failed in the store (one per "
            + "partition and commit): its records stay tracked and are retried at its next commit")
        .register(meters);
  }

  /** The replica's store directory, named in the log lines (null: attached directly, in tests). */
  public void directory(Path dir) {
    this.directory = dir;
  }

  /** {@code unchecked} records passed because their shard (false in {@code shards}) restores. */
  public void restoringPassed(int unchecked, Map<Integer, Boolean> shards) {
    restoring.increment(unchecked);
    unloggedRestoring += unchecked;
    long now = System.nanoTime();
    if (now - lastRestoringLog >= LOG_INTERVAL.toNanos()) {
      List<Integer> waiting = new ArrayList<>();
      shards.forEach((shard, done) -> {
        if (!done) {
          waiting.add(shard);
        }
      });
      log.warn("Tandem interceptor ({}, store {}): shards {} are still restoring: {} records passed "
          + "unchecked since the last report (they may be duplicates; counted in "
          + "tandem.consumer.interceptor.restoring)", region, directory, waiting, unloggedRestoring);
      lastRestoringLog = now;
      unloggedRestoring = 0;
    }
  }

  /** A store failure (already counted by the caller): {@code what} happened because of {@code e}. */
  public void storeFailure(String what, RuntimeException e) {
    unloggedFailures++;
    long now = System.nanoTime();
    if (now - lastFailureLog >= LOG_INTERVAL.toNanos()) {
      log.warn("Tandem interceptor ({}, store {}): {}: {} ({} store failures since the last report, "
          + "counted in tandem.consumer.interceptor.store.failures)", region, directory, what,
          e.toString(), unloggedFailures, e);
      lastFailureLog = now;
      unloggedFailures = 0;
    }
  }
}
