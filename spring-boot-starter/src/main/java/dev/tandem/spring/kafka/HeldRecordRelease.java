package dev.tandem.spring.kafka;

import dev.tandem.consumer.kafka.internal.CompletionWatch;
import dev.tandem.store.StoreListener;
import io.micrometer.core.instrument.Counter;
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
 * missed), and throws {@link HeldRecordException}; the ids are watched by the consumer module's
 * {@link CompletionWatch} (the mechanism {@code TandemKafkaConsumer}'s hold uses too), whose store
 * listener ({@link #listener()}) wakes a watched id's waiter when a record of it is written terminal
 * (COMPLETED or DEAD_LETTERED, any origin). The back-off of a {@link HeldRecordException} waits on that latch, bounded by the
 * back-off interval, in slices of at most {@value #SLICE_MS} ms that check {@code
 * container.isRunning()} — the stop responsiveness of Spring's own {@code DefaultBackOffHandler}
 * ({@code ListenerUtils.stoppableSleep} sleeps 10 ms slices for an interval up to 500 ms). Every
 * other exception's back-off is Spring's default sleep. Not API.
 */
final class HeldRecordRelease implements BackOffHandler {

  private static final Logger log = LoggerFactory.getLogger(HeldRecordRelease.class);
  /** The longest wait between two looks at {@code container.isRunning()}. */
  static final long SLICE_MS = 10;

  /**
   * Held ids waiting for their completion, one count per watch: {@link #watch} by the delivery that
   * holds the record, {@link #unwatch} when that delivery acknowledges it after all or its back-off
   * ends (two container threads holding the same id each keep their own count).
   */
  private final CompletionWatch watched = new CompletionWatch();
  private final Counter earlyReleases;

  /** {@code earlyReleases} counts back-offs ended by a completion before their interval. */
  HeldRecordRelease(Counter earlyReleases) {
    this.earlyReleases = earlyReleases;
  }

  /** The store listener to add to (and remove from, on close) the region's store. */
  StoreListener listener() {
    return watched.listener();
  }

  /** The watch behind this back-off: attached to the region's store, closed with the support. */
  CompletionWatch completions() {
    return watched;
  }

  /**
   * Watches {@code id}, then asks {@code terminal} once more (a completion applied between the
   * caller's first look and the watch is then not missed).
   *
   * @return true: still not terminal, the record is held and {@code id} stays watched until its
   *     back-off ends ({@link #onNextBackOff}); false: terminal now, nothing watched
   * @throws RuntimeException whatever the look throws, with the watch ended: the record is then
   *     delivered again after a retry back-off, which is not a held record's and would not end it
   *     (before, the id stayed watched until acknowledged here — for a revoked partition, until
   *     close)
   */
  boolean holdUnlessTerminal(String id, java.util.function.BooleanSupplier terminal) {
    watched.watch(id);
    boolean done;
    try {
      done = terminal.getAsBoolean();
    } catch (RuntimeException | Error e) {
      watched.unwatch(id);
      throw e;
    }
    if (done) {
      watched.unwatch(id);
    }
    return !done;
  }

  /** Watches {@code id}: its completion applied from now on opens its back-off. */
  void watch(String id) {
    watched.watch(id);
  }

  /** Stops one watch of {@code id} (acknowledged after all, or its back-off ended). */
  void unwatch(String id) {
    watched.unwatch(id);
  }

  /** Number of watched ids (tests). */
  int watching() {
    return watched.watchedIds();
  }

  @Override
  public void onNextBackOff(MessageListenerContainer container, Exception exception,
      long nextBackOff) {
    HeldRecordException held = held(exception);
    boolean waits = held != null && watched.watches(held.id());
    try {
      if (!waits) {
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
        if (watched.await(held.id(), Math.min(left, TimeUnit.MILLISECONDS.toNanos(SLICE_MS)),
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
      if (waits) {
        watched.unwatch(held.id()); // the next delivery looks at the store, and watches again
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
