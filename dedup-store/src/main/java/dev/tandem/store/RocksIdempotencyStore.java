package dev.tandem.store;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * The {@link IdempotencyStore} on RocksDB: WAL on, records in time-bucketed column families (TTL by
 * dropping whole buckets), a size-bounded cache of terminal records in front, Micrometer meters.
 *
 * <pre>{@code
 * IdempotencyStore store = IdempotencyStore.builder()
 *     .region(RegionId.of("westeurope"))
 *     .instance("orders-7f9c")
 *     .directory(Path.of("/var/lib/tandem/store"))
 *     .meterRegistry(registry)
 *     .build();
 * }</pre>
 */
public final class RocksIdempotencyStore {

  /** Default record time-to-live: 7 days. */
  public static final Duration DEFAULT_TTL = Duration.ofDays(7);
  /** Default number of claims of one generation before it is dead-lettered. */
  public static final int DEFAULT_MAX_ATTEMPTS = 5;
  /** Default size bound of the terminal-record cache, in entries. */
  public static final long DEFAULT_CACHE_MAX_ENTRIES = 100_000;
  /** Default largest stored result, in bytes. */
  public static final int DEFAULT_MAX_RESULT_BYTES = 64 * 1024;
  /** Number of TTL buckets per TTL: the bucket width is {@code ttl / TTL_BUCKETS}. */
  public static final int TTL_BUCKETS = 7;

  private RocksIdempotencyStore() {}

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Builds a store; {@code region}, {@code instance} and {@code directory} are required. */
  public static final class Builder {
    RegionId region;
    String instance;
    Path directory;
    TandemClock clock = TandemClock.system();
    Duration ttl = DEFAULT_TTL;
    boolean sync = false;
    long cacheMaxEntries = DEFAULT_CACHE_MAX_ENTRIES;
    int maxAttempts = DEFAULT_MAX_ATTEMPTS;
    int maxResultBytes = DEFAULT_MAX_RESULT_BYTES;
    MeterRegistry meterRegistry;
    /** Tests only: a hand-driven TTL waker, used whatever the clock ({@link ExpiryWatch}). */
    ExpiryWatch.Scheduler ttlWaker;
    /**
     * RocksDB's own counters for the store's database, or null (the default: collecting them costs
     * every write a few atomic adds). Package-private: tests read the bytes and keys a store writes
     * per operation from it (issue 20's put anatomy), nothing public depends on it.
     */
    org.rocksdb.Statistics statistics;

    Builder() {}

    /** This store's region (required). */
    public Builder region(RegionId region) {
      this.region = Objects.requireNonNull(region, "region");
      return this;
    }

    /** This store's instance name, e.g. a pod name (required; 1-128 characters). */
    public Builder instance(String instance) {
      this.instance = Owner.validateInstance(instance);
      return this;
    }

    /** The RocksDB directory (required); created if absent. */
    public Builder directory(Path directory) {
      this.directory = Objects.requireNonNull(directory, "directory");
      return this;
    }

    /** The clocks (default: the system's); tests pass a {@code ManualClock}. */
    public Builder clock(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Record time-to-live (default 7 days); must exceed cross-region lag + redelivery delay. */
    public Builder ttl(Duration ttl) {
      if (ttl == null || ttl.compareTo(Duration.ofSeconds(TTL_BUCKETS)) < 0) {
        throw new IllegalArgumentException("ttl must be at least " + TTL_BUCKETS + "s, got " + ttl);
      }
      this.ttl = ttl;
      return this;
    }

    /**
     * Whether each write is fsynced before it returns (RocksDB {@code WriteOptions.setSync}); default
     * false: the WAL is on either way, so a process crash loses nothing, a machine crash may lose the
     * last writes (which replication restores).
     */
    public Builder sync(boolean sync) {
      this.sync = sync;
      return this;
    }

    /**
     * Bound of the terminal-record cache, in records (default 100 000; 0 disables it). A value above
     * 2^30 (1,073,741,824) is clamped to 2^30 (the bound is exact: the ring of cached ids grows to it).
     *
     * @throws IllegalArgumentException if negative
     */
    public Builder cacheMaxEntries(long cacheMaxEntries) {
      if (cacheMaxEntries < 0) {
        throw new IllegalArgumentException("cacheMaxEntries must be >= 0, got " + cacheMaxEntries);
      }
      this.cacheMaxEntries = cacheMaxEntries;
      return this;
    }

    /** Claims of one generation before it is dead-lettered (default 5). */
    public Builder maxAttempts(int maxAttempts) {
      if (maxAttempts < 1) {
        throw new IllegalArgumentException("maxAttempts must be >= 1, got " + maxAttempts);
      }
      this.maxAttempts = maxAttempts;
      return this;
    }

    /** Largest result {@code complete} accepts (default 64 KiB). */
    public Builder maxResultBytes(int maxResultBytes) {
      if (maxResultBytes < 0) {
        throw new IllegalArgumentException("maxResultBytes must be >= 0, got " + maxResultBytes);
      }
      this.maxResultBytes = maxResultBytes;
      return this;
    }

    /** Where meters go (default: a new {@link SimpleMeterRegistry}). */
    public Builder meterRegistry(MeterRegistry meterRegistry) {
      this.meterRegistry = Objects.requireNonNull(meterRegistry, "meterRegistry");
      return this;
    }

    /**
     * Opens (or creates) the store.
     *
     * @throws StoreException if the directory is corrupt, foreign, or not a store
     */
    public IdempotencyStore build() {
      Objects.requireNonNull(region, "region is required");
      Objects.requireNonNull(instance, "instance is required");
      Objects.requireNonNull(directory, "directory is required");
      if (meterRegistry == null) {
        meterRegistry = new SimpleMeterRegistry();
      }
      return new RocksStore(this);
    }
  }
}
