package dev.tandem.spring.kafka;

import dev.tandem.store.IdRecord;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import io.micrometer.core.instrument.Counter;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.kafka.listener.BackOffHandler;
import org.springframework.kafka.listener.ListenerUtils;
import org.springframework.kafka.listener.MessageListenerContainer;

/**
 * The error handler's back-off wait ({@link BackOffHandler}, Spring Kafka's extension point for it)
 * that ends a held record's wait as soon as its owner's completion is applied in this region's
 * store, instead of sleeping the whole {@link TandemListenerSupport#HOLD_RECHECK}.
 *
 * <p>{@link TandemListenerSupport} watches the id of each record it holds ({@link #watch}) before it
 * looks at the store once more (a completion applied between the look and the watch is then not
 * missed), and throws {@link HeldRecordException}; the store listener ({@link #listener()}) opens
 * the id's latch when a record of a watched id is written terminal (COMPLETED or DEAD_LETTERED, any
 * origin). The back-off of a {@link HeldRecordException} waits on that latch, bounded by the
 * back-off interval, in slices of at most {@value #SLICE_MS} ms that check {@code
 * container.isRunning()} — the stop responsiveness of Spring's own {@code DefaultBackOffHandler}
 * ({@code ListenerUtils.stoppableSleep} sleeps 10 ms slices for an interval up to 500 ms). Every
 * other exception's back-off is Spring's default sleep. Not API.
 */
final class HeldRecordRelease implements BackOffHandler {

  private static final Logger log = LoggerFactory.getLogger(HeldRecordRelease.class);
  /** The longest wait between two looks at {@code container.isRunning()}. */
  static final long SLICE_MS = 10;

  /** Held ids waiting for their completion; the latch opens when it is applied. */
  private final Map<String, CountDownLatch> watched = new ConcurrentHashMap<>();
  private final Counter earlyReleases;
  private final StoreListener listener = new StoreListener() {
    @Override
    public void onRecord(IdRecord record, WriteOrigin origin) {
      // called on the store's writing thread: one isEmpty() when nothing is held, never blocks
      if (!watched.isEmpty() && record.phase().isTerminal()) {
        CountDownLatch l = watched.get(record.id());
        if (l != null) {
          l.countDown();
        }
      }
    }
  };

  /** {@code earlyReleases} counts back-offs ended by a completion before their interval. */
  HeldRecordRelease(Counter earlyReleases) {
    this.earlyReleases = earlyReleases;
  }

  /** The store listener to add to (and remove from, on close) the region's store. */
  StoreListener listener() {
    return listener;
  }

  /** Watches {@code id}: its completion applied from now on opens its back-off. */
  void watch(String id) {
    watched.computeIfAbsent(id, k -> new CountDownLatch(1));
  }

  /** Stops watching {@code id} (acknowledged, or the back-off ended). */
  void unwatch(String id) {
    watched.remove(id);
  }

  /** Number of watched ids (tests). */
  int watching() {
    return watched.size();
  }

  /** Forgets every watch (close). */
  void clear() {
    watched.clear();
  }

  @Override
  public void onNextBackOff(MessageListenerContainer container, Exception exception,
      long nextBackOff) {
    HeldRecordException held = held(exception);
    CountDownLatch latch = held == null ? null : watched.get(held.id());
    try {
      if (latch == null) {
        // not a held record (or nothing to wait for): Spring's default back-off
        if (container == null) {
          Thread.sleep(nextBackOff);
        } else {
          ListenerUtils.stoppableSleep(container, nextBackOff);
        }
        return;
      }
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(nextBackOff);
      for (long left = deadline - System.nanoTime(); left > 0
          && (container == null || container.isRunning()); left = deadline - System.nanoTime()) {
        if (latch.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(SLICE_MS)),
            TimeUnit.NANOSECONDS)) {
          earlyReleases.increment();
          log.debug("Tandem: held record {} released {} ms before its back-off's end: its owner's "
              + "completion applied", held.id(), TimeUnit.NANOSECONDS.toMillis(left));
          break;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt(); // as Spring's DefaultBackOffHandler
    } finally {
      if (latch != null) {
        watched.remove(held.id(), latch); // the next delivery looks at the store, and watches again
      }
    }
  }

  private static HeldRecordException held(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof HeldRecordException h) {
        return h;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return null;
  }
}
