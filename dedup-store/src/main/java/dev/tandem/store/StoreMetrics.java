package dev.tandem.store;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.cache.CacheMeterBinder;
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

  /**
   * The terminal cache's meters, by Micrometer's cache binder (the names and tags the Caffeine
   * binder gave them: {@code cache.size}, {@code cache.gets} tagged {@code result} hit/miss, {@code
   * cache.puts}, {@code cache.evictions}, tag {@code cache=}{@value #CACHE}). {@code cache.puts} now
   * counts puts (the Caffeine binder reported its loads there, always 0 for this cache); Caffeine's
   * own {@code cache.eviction.weight} (equal to the evictions) and {@code cache.load*} (always 0)
   * are gone with it.
   */
  void cache(RecordCaches caches) {
    Set<Meter.Id> before = new HashSet<>();
    registry.getMeters().forEach(m -> before.add(m.getId()));
    new TerminalCacheMeters(caches, CACHE, tags).bindTo(registry);
    for (Meter m : registry.getMeters()) {
      if (!before.contains(m.getId()) && CACHE.equals(m.getId().getTag("cache"))) {
        owned.add(m);
      }
    }
  }

  /** Micrometer's cache meters over {@link RecordCaches#figures()} (read at scrape time only). */
  private static final class TerminalCacheMeters extends CacheMeterBinder<RecordCaches> {

    TerminalCacheMeters(RecordCaches caches, String name, Tags tags) {
      super(caches, name, tags);
    }

    private RecordCaches.Figures figures() {
      RecordCaches c = getCache();
      return c == null ? new RecordCaches.Figures(0, 0, 0, 0, 0) : c.figures();
    }

    @Override
    protected Long size() {
      return figures().size();
    }

    @Override
    protected long hitCount() {
      return figures().hits();
    }

    @Override
    protected Long missCount() {
      return figures().misses();
    }

    @Override
    protected Long evictionCount() {
      return figures().evictions();
    }

    @Override
    protected long putCount() {
      return figures().puts();
    }

    @Override
    protected void bindImplementationSpecificMetrics(MeterRegistry registry) {
      // none: the cache has no loads and weighs every entry 1
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
