package dev.tandem.store;

import com.github.benmanes.caffeine.cache.Cache;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.cache.CaffeineCacheMetrics;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToDoubleFunction;

/**
 * The store's meters, all tagged {@code region}; their names are in {@link StoreMeterNames} (the
 * aliases here keep the code short). Every meter this store registers is removed again
 * on close, so a registry does not keep a closed store (and its native handles' owner) alive.
 */
final class StoreMetrics {

  static final String CLAIMS = StoreMeterNames.CLAIMS;
  static final String CLAIM_LATENCY = StoreMeterNames.CLAIM_LATENCY;
  static final String COMPLETES = StoreMeterNames.COMPLETES;
  static final String COMPLETE_LATENCY = StoreMeterNames.COMPLETE_LATENCY;
  static final String RELEASES = StoreMeterNames.RELEASES;
  static final String DEAD_LETTERS = StoreMeterNames.DEAD_LETTERS;
  static final String REDRIVES = StoreMeterNames.REDRIVES;
  static final String CONFLICTS = StoreMeterNames.CONFLICTS;
  static final String DETECTED_DUPLICATES = StoreMeterNames.DETECTED_DUPLICATES;
  static final String REMOTE_APPLIED = StoreMeterNames.REMOTE_APPLIED;
  static final String LISTENER_ERRORS = StoreMeterNames.LISTENER_ERRORS;
  static final String BUCKETS_DROPPED = StoreMeterNames.TTL_BUCKETS_DROPPED;
  static final String SIZE = StoreMeterNames.SIZE;
  static final String BUCKETS = StoreMeterNames.TTL_BUCKETS;
  static final String CACHE = StoreMeterNames.CACHE;

  private final MeterRegistry registry;
  private final Tags tags;
  private final List<Meter> owned = new ArrayList<>();

  final Counter acquired;
  final Counter alreadyCompleted;
  final Counter inProgress;
  final Counter conflict;
  final Counter deadLettered;
  final Timer claimLatency;
  final Counter completes;
  final Timer completeLatency;
  final Counter releases;
  final Counter deadLetters;
  final Counter redrives;
  final Counter conflicts;
  final Counter remoteChanged;
  final Counter remoteUnchanged;
  final Counter remoteExpired;
  final Counter listenerErrors;
  final Counter bucketsDropped;

  StoreMetrics(MeterRegistry registry, String region) {
    this.registry = registry;
    this.tags = Tags.of("region", region);
    acquired = claims("acquired");
    alreadyCompleted = claims("already_completed");
    inProgress = claims("in_progress");
    conflict = claims("conflict");
    deadLettered = claims("dead_lettered");
    claimLatency =
        own(Timer.builder(CLAIM_LATENCY).description("time to answer a claim").tags(tags)
            .register(registry));
    completes = counter(COMPLETES, "completions written by this store");
    completeLatency =
        own(Timer.builder(COMPLETE_LATENCY).description("time to write a completion").tags(tags)
            .register(registry));
    releases = counter(RELEASES, "claims released by failed handlers");
    deadLetters = counter(DEAD_LETTERS, "ids dead-lettered by this store");
    redrives = counter(REDRIVES, "dead letters re-driven into a new generation");
    conflicts = counter(CONFLICTS, "claims refused because the id carried another payload digest");
    remoteChanged = remote("changed");
    remoteUnchanged = remote("unchanged");
    remoteExpired = remote("expired");
    listenerErrors = counter(LISTENER_ERRORS, "store listeners that threw");
    bucketsDropped = counter(BUCKETS_DROPPED, "TTL buckets dropped whole");
  }

  private Counter claims(String outcome) {
    return own(Counter.builder(CLAIMS).description("claims by outcome").tags(tags)
        .tag("outcome", outcome).register(registry));
  }

  private Counter remote(String outcome) {
    return own(Counter.builder(REMOTE_APPLIED).description("remote records merged, by outcome")
        .tags(tags).tag("outcome", outcome).register(registry));
  }

  private Counter counter(String name, String description) {
    return own(Counter.builder(name).description(description).tags(tags).register(registry));
  }

  /** A gauge, not a counter: it follows the records held (shard moves and the TTL lower it). */
  void detectedDuplicates(AtomicLong held) {
    own(Gauge.builder(DETECTED_DUPLICATES, held, AtomicLong::get)
        .description("ids processed in two regions (records with completers from two regions) among"
            + " the records this store holds")
        .tags(tags).register(registry));
  }

  <T> void gauge(String name, String description, T target, ToDoubleFunction<T> f) {
    own(Gauge.builder(name, target, f).description(description).tags(tags).register(registry));
  }

  void cache(Cache<?, ?> cache) {
    Set<Meter.Id> before = new HashSet<>();
    registry.getMeters().forEach(m -> before.add(m.getId()));
    CaffeineCacheMetrics.monitor(registry, cache, CACHE, tags);
    for (Meter m : registry.getMeters()) {
      if (!before.contains(m.getId()) && CACHE.equals(m.getId().getTag("cache"))) {
        owned.add(m);
      }
    }
  }

  private <M extends Meter> M own(M meter) {
    owned.add(meter);
    return meter;
  }

  void close() {
    for (Meter m : owned) {
      registry.remove(m);
    }
    owned.clear();
  }
}
