package dev.tandem.store.internal;

import dev.tandem.store.IdRecord;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The store's listeners, told of every write after RocksDB accepted it. A listener that throws is
 * counted and logged, and the others are still told: the write stands whatever a listener does.
 */
public final class StoreListeners {

  /** The store's log category, where operators already look for these lines. */
  private static final Logger LOG = LoggerFactory.getLogger("dev.tandem.store.RocksStore");

  private final List<StoreListener> listeners = new CopyOnWriteArrayList<>();
  private final Runnable onFailure;

  /** @param onFailure counts a listener failure (a metric) */
  public StoreListeners(Runnable onFailure) {
    this.onFailure = onFailure;
  }

  public void add(StoreListener listener) {
    listeners.add(Objects.requireNonNull(listener, "listener"));
  }

  /** Removes one registration of {@code listener}; nothing if it was not added. */
  public void remove(StoreListener listener) {
    listeners.remove(listener);
  }

  public void record(IdRecord r, WriteOrigin origin) {
    for (StoreListener l : listeners) {
      try {
        l.onRecord(r, origin);
      } catch (RuntimeException | Error e) {
        // Error too: escaping, it would hide the write from the listeners after this one (the
        // changelog writer among them: a change never replicated) and fail a write that stands
        onFailure.run();
        LOG.warn("store listener {} failed on {} ({}); the write stands", l, r, origin, e);
      }
    }
  }

  public void lease(ShardLease lease, WriteOrigin origin) {
    for (StoreListener l : listeners) {
      try {
        l.onLease(lease, origin);
      } catch (RuntimeException | Error e) { // as in record
        onFailure.run();
        LOG.warn("store listener {} failed on {} ({}); the write stands", l, lease, origin, e);
      }
    }
  }
}
