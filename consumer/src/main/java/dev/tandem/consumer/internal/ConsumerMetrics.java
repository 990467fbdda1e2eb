package dev.tandem.consumer.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.DeadLetterReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.EnumMap;
import java.util.Map;

/**
 * The consumer's Micrometer meters for one region, created once so the hot path only increments.
 * Not public API (it is public only so the Kafka and ownership packages can share it).
 *
 * <p>Names (constants in {@link ConsumerMeterNames}): {@code tandem.consumer.messages} (tag {@code outcome}: processed, duplicate, retry,
 * dead_lettered, passed_through), {@code tandem.consumer.duplicates.suppressed}, {@code
 * tandem.consumer.conflicts}, {@code tandem.consumer.claims.lost}, {@code
 * tandem.consumer.reclaimed.expired}, {@code
 * tandem.consumer.handler.failures}, {@code tandem.consumer.in.progress}, {@code
 * tandem.consumer.dead.letters} (tag {@code reason}), timer {@code tandem.consumer.handler}; every
 * meter is tagged {@code region}.
 */
public final class ConsumerMetrics {

  public final MeterRegistry registry;
  public final String region;
  public final Counter processed;
  public final Counter duplicates;
  public final Counter retries;
  public final Counter deadLettered;
  public final Counter passedThrough;
  public final Counter duplicatesSuppressed;
  public final Counter conflicts;
  public final Counter claimsLost;
  public final Counter reclaimedExpired;
  public final Counter handlerFailures;
  public final Counter inProgress;
  public final Timer handler;
  private final Map<DeadLetterReason, Counter> deadLetters = new EnumMap<>(DeadLetterReason.class);

  public ConsumerMetrics(MeterRegistry registry, String region) {
    this.registry = registry;
    this.region = region;
    processed = outcome("processed");
    duplicates = outcome("duplicate");
    retries = outcome("retry");
    deadLettered = outcome("dead_lettered");
    passedThrough = outcome("passed_through");
    duplicatesSuppressed = counter(ConsumerMeterNames.DUPLICATES_SUPPRESSED,
        "copies skipped because their id was already terminal");
    conflicts = counter(ConsumerMeterNames.CONFLICTS, "ids seen with two different payloads");
    claimsLost = counter(ConsumerMeterNames.CLAIMS_LOST,
        "claims superseded (lease expired or takeover) while their handler ran");
    reclaimedExpired = counter(ConsumerMeterNames.RECLAIMED_EXPIRED,
        "handlers run again after an earlier claim of the id expired without completion (its "
            + "claimant died or hung, maybe inside the handler): possible duplicates");
    handlerFailures = counter(ConsumerMeterNames.HANDLER_FAILURES, "handler exceptions");
    inProgress = counter(ConsumerMeterNames.IN_PROGRESS,
        "copies that met another owner's live claim (try later, not a duplicate)");
    handler = Timer.builder(ConsumerMeterNames.HANDLER).tag("region", region)
        .description("handler run time").register(registry);
    for (DeadLetterReason r : DeadLetterReason.values()) {
      deadLetters.put(r, Counter.builder(ConsumerMeterNames.DEAD_LETTERS).tag("region", region)
          .tag("reason", r.name()).description("messages sent to the dead-letter path")
          .register(registry));
    }
  }

  public Counter deadLetters(DeadLetterReason reason) {
    return deadLetters.get(reason);
  }

  private Counter outcome(String outcome) {
    return Counter.builder(ConsumerMeterNames.MESSAGES).tag("region", region).tag("outcome", outcome)
        .description("messages by outcome").register(registry);
  }

  private Counter counter(String name, String description) {
    return Counter.builder(name).tag("region", region).description(description).register(registry);
  }
}
