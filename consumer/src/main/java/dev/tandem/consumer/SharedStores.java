package dev.tandem.consumer;

import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * One {@link IdempotencyStore} per directory per process, shared by reference count. RocksDB allows a
 * directory to be opened once per process, while Kafka builds one interceptor instance per consumer
 * (and a Functions host one middleware per function), so every user of a directory must get the same
 * store; the last {@link #release} closes it. The store may be a replica ({@code ReplicatedStore}: the
 * store behind its replication log) owned by another object, e.g. the {@link TandemRegion} the Kafka
 * interceptor opens ({@link #acquireOwned}): then every user of the directory shares the replication
 * log too, and the last release closes that owner.
 */
public final class SharedStores {

  private static final Map<Path, Entry> STORES = new HashMap<>();

  private static final class Entry {
    final IdempotencyStore store;
    /** What the last release closes: the store itself, or the object that owns it. */
    final AutoCloseable owner;
    final RegionId region;
    final String instance;
    int references;

    Entry(IdempotencyStore store, AutoCloseable owner, RegionId region, String instance) {
      this.store = store;
      this.owner = owner;
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
      IdempotencyStore store = Objects.requireNonNull(opener.get(), "opener returned null");
      e = new Entry(store, store, region, instance);
      STORES.put(key, e);
    } else if (!e.region.equals(region) || !e.instance.equals(instance)) {
      throw new IllegalStateException("store " + key + " is open as " + e.region + "/" + e.instance
          + ", not " + region + "/" + instance);
    }
    e.references++;
    return e.store;
  }

  /**
   * The store of {@code directory} as {@code storeOf} finds it in the object that owns it (e.g. a
   * {@link TandemRegion} of detect-only: its replicated store, whose replication log and store it
   * closes in order), opened with {@code opener} on first use; the last {@link #release} closes that
   * owner. Later callers of either {@code acquire} get the same store.
   *
   * @param instance the instance the caller expects, or null for whichever the owner opened (e.g. the
   *     id persisted in its state directory)
   * @throws IllegalStateException if the directory is already open as another region or instance
   */
  public static synchronized <T extends AutoCloseable> IdempotencyStore acquireOwned(Path directory,
      RegionId region, String instance, Supplier<T> opener, Function<? super T, IdempotencyStore> storeOf) {
    return acquireOwned(directory, region, instance, null, opener, storeOf, owner -> {});
  }

  /**
   * As {@link #acquireOwned(Path, RegionId, String, Supplier, Function)}; when the directory is
   * already open by an owner of {@code ownerType}, {@code sameAs} first checks that owner against the
   * caller's expectation (e.g. the same shard count and TTL) and throws to refuse it; a refused
   * caller holds no reference. (An owner of another type is not checked: the caller sees its store.)
   */
  public static synchronized <T extends AutoCloseable> IdempotencyStore acquireOwned(Path directory,
      RegionId region, String instance, Class<T> ownerType, Supplier<T> opener,
      Function<? super T, IdempotencyStore> storeOf, Consumer<? super T> sameAs) {
    Path key = directory.toAbsolutePath().normalize();
    Entry existing = STORES.get(key);
    if (existing != null && ownerType != null && ownerType.isInstance(existing.owner)
        && existing.region.equals(region) && (instance == null || existing.instance.equals(instance))) {
      sameAs.accept(ownerType.cast(existing.owner));
    }
    Entry e = STORES.get(key);
    if (e == null) {
      T owner = Objects.requireNonNull(opener.get(), "opener returned null");
      IdempotencyStore store;
      try {
        store = Objects.requireNonNull(storeOf.apply(owner), "storeOf returned null");
      } catch (RuntimeException ex) {
        closeQuietly(owner, ex);
        throw ex;
      }
      if (!store.owner().region().equals(region)
          || (instance != null && !store.owner().instance().equals(instance))) {
        IllegalStateException ex = new IllegalStateException("store " + key + " opened as "
            + store.owner() + ", not " + region + "/" + (instance == null ? "*" : instance));
        closeQuietly(owner, ex);
        throw ex;
      }
      e = new Entry(store, owner, region, store.owner().instance());
      STORES.put(key, e);
    } else if (!e.region.equals(region) || (instance != null && !e.instance.equals(instance))) {
      throw new IllegalStateException("store " + key + " is open as " + e.region + "/" + e.instance
          + ", not " + region + "/" + (instance == null ? "*" : instance));
    }
    e.references++;
    return e.store;
  }

  private static void closeQuietly(AutoCloseable c, RuntimeException cause) {
    try {
      c.close();
    } catch (Exception suppressed) {
      cause.addSuppressed(suppressed);
    }
  }

  /** Gives one reference back; the last one closes the store (or the object that owns it). */
  public static synchronized void release(Path directory) {
    Path key = directory.toAbsolutePath().normalize();
    Entry e = STORES.get(key);
    if (e == null) {
      return;
    }
    if (--e.references == 0) {
      STORES.remove(key);
      try {
        e.owner.close();
      } catch (RuntimeException ex) {
        throw ex;
      } catch (Exception ex) {
        throw new IllegalStateException("closing the owner of store " + key + " failed", ex);
      }
    }
  }

  /** References held on {@code directory}'s store (0 when it is not open). */
  public static synchronized int references(Path directory) {
    Entry e = STORES.get(directory.toAbsolutePath().normalize());
    return e == null ? 0 : e.references;
  }
}
