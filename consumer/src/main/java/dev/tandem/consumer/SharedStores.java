package dev.tandem.consumer;

import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * One {@link IdempotencyStore} per directory per process, shared by reference count. RocksDB allows a
 * directory to be opened once per process, while Kafka builds one interceptor instance per consumer
 * (and a Functions host one middleware per function), so every user of a directory must get the same
 * store; the last {@link #release} closes it. The store may be a replica ({@code ReplicatedStore}: the
 * store behind its replication log, whose {@code close} closes the log, then the store), as the Kafka
 * interceptor opens it: then every user of the directory shares the replication log too.
 */
public final class SharedStores {

  private static final Map<Path, Entry> STORES = new HashMap<>();

  private static final class Entry {
    final IdempotencyStore store;
    final RegionId region;
    final String instance;
    int references;

    Entry(IdempotencyStore store, RegionId region, String instance) {
      this.store = store;
      this.region = region;
      this.instance = instance;
    }
  }

  private SharedStores() {}

  /**
   * The store of {@code directory}, opened with {@code opener} on first use. Later callers must name
   * the same region and instance (a directory is one replica).
   *
   * @throws IllegalStateException if the directory is already open as another region or instance
   */
  public static synchronized IdempotencyStore acquire(
      Path directory, RegionId region, String instance, Supplier<IdempotencyStore> opener) {
    Path key = directory.toAbsolutePath().normalize();
    Entry e = STORES.get(key);
    if (e == null) {
      e = new Entry(Objects.requireNonNull(opener.get(), "opener returned null"), region, instance);
      STORES.put(key, e);
    } else if (!e.region.equals(region) || !e.instance.equals(instance)) {
      throw new IllegalStateException("store " + key + " is open as " + e.region + "/" + e.instance
          + ", not " + region + "/" + instance);
    }
    e.references++;
    return e.store;
  }

  /** Gives one reference back; the last one closes the store. */
  public static synchronized void release(Path directory) {
    Path key = directory.toAbsolutePath().normalize();
    Entry e = STORES.get(key);
    if (e == null) {
      return;
    }
    if (--e.references == 0) {
      STORES.remove(key);
      e.store.close();
    }
  }

  /** References held on {@code directory}'s store (0 when it is not open). */
  public static synchronized int references(Path directory) {
    Entry e = STORES.get(directory.toAbsolutePath().normalize());
    return e == null ? 0 : e.references;
  }
}
