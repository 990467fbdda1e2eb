package dev.tandem.store;

import dev.tandem.core.TandemClock;
import java.util.concurrent.ConcurrentHashMap;

/**
 * When this store first saw each live claim version, on its own monotonic clock. A claim's lease is
 * counted from that moment, never from the claimer's wall clock: two machines' wall clocks are never
 * compared. A claim version is (generation, attempt, hlc) of a CLAIMED head — a renewal has a new HLC
 * stamp, so it restarts the count. In memory only: after a restart counting starts at the first sight
 * after the restart, which only makes expiry later (conservative), never earlier.
 *
 * <p>Invariant: holds an entry only for keys whose latest seen head was CLAIMED; entries are removed
 * when the head moves on, when the shard is dropped, and by {@link #prune} once older than the TTL.
 */
final class ClaimSightings {

  private record Sighting(long generation, int attempt, long hlc, long firstSeenNanos) {}

  private final ConcurrentHashMap<RecordKey, Sighting> seen = new ConcurrentHashMap<>();
  private final TandemClock clock;

  ClaimSightings(TandemClock clock) {
    this.clock = clock;
  }

  /** Notes the head of {@code record} as seen now (if it is a claim version not seen before). */
  void observe(RecordKey key, IdRecord record) {
    if (record.phase() != Phase.CLAIMED) {
      seen.remove(key);
      return;
    }
    firstSeenNanos(key, record);
  }

  /** How long the claim {@code record} stays live, in millis, as judged by this store (may be <= 0). */
  long remainingMillis(RecordKey key, IdRecord record) {
    long elapsedNanos = clock.nanoTime() - firstSeenNanos(key, record);
    return record.leaseMillis() - elapsedNanos / 1_000_000L;
  }

  private long firstSeenNanos(RecordKey key, IdRecord r) {
    // the common cases without compute's lambda: the version seen before, or a first sighting
    Sighting known = seen.get(key);
    if (known != null && known.generation == r.generation() && known.attempt == r.attempt()
        && known.hlc == r.hlc()) {
      return known.firstSeenNanos;
    }
    if (known == null) {
      Sighting first = new Sighting(r.generation(), r.attempt(), r.hlc(), clock.nanoTime());
      Sighting raced = seen.putIfAbsent(key, first);
      if (raced == null) {
        return first.firstSeenNanos;
      }
    }
    Sighting s =
        seen.compute(
            key,
            (k, old) ->
                old != null
                        && old.generation == r.generation()
                        && old.attempt == r.attempt()
                        && old.hlc == r.hlc()
                    ? old
                    : new Sighting(r.generation(), r.attempt(), r.hlc(), clock.nanoTime()));
    return s.firstSeenNanos;
  }

  void dropShard(int shard) {
    seen.keySet().removeIf(k -> k.shard() == shard);
  }

  /** Forgets sightings older than {@code maxAgeNanos} (their records have expired by TTL). */
  void prune(long maxAgeNanos) {
    long now = clock.nanoTime();
    seen.values().removeIf(s -> now - s.firstSeenNanos > maxAgeNanos);
  }

  int size() {
    return seen.size();
  }
}
