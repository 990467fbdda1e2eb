package dev.tandem.publisher;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts operations in flight so that {@link #awaitAllBegun()} (a flush) waits for exactly those
 * begun before it, without keeping a set of futures (a concurrent set cost more than the counting).
 * Operations count into the current epoch; a flush closes the epoch, opens a new one for later
 * operations, and waits until the closed epoch's count reaches zero.
 *
 * <p>{@link #begin()} takes no lock (it runs once per record): it counts into the epoch it read and
 * then checks that epoch is still open. A flush first swaps in the new epoch, then marks the old one
 * closed, then reads its count. Both sides are volatile/atomic, so either the flush sees the new
 * count (and waits for it) or the operation sees the epoch closed, takes its count back and counts
 * into the new epoch instead.
 */
final class InFlightTracker {

  /** Ends one operation; call exactly once. */
  interface Ticket {
    void end();
  }

  /** One generation of operations; drained when closed and its count is zero. Is its own ticket. */
  private static final class Epoch implements Ticket {
    final AtomicLong open = new AtomicLong();
    final CompletableFuture<Void> drained = new CompletableFuture<>();
    volatile boolean closed;

    @Override
    public void end() {
      // closed is read after the decrement: a flush that closes meanwhile sees zero itself
      if (open.decrementAndGet() == 0 && closed) {
        drained.complete(null);
      }
    }
  }

  private final Object swap = new Object();
  private volatile Epoch current = new Epoch();

  /** Begins an operation in the current epoch. */
  Ticket begin() {
    while (true) {
      Epoch e = current;
      e.open.incrementAndGet();
      if (!e.closed) {
        return e;
      }
      e.end(); // a flush closed it meanwhile: count into the epoch that replaced it
    }
  }

  /** Waits until every operation begun before this call has ended. */
  void awaitAllBegun() throws InterruptedException {
    Epoch old;
    synchronized (swap) {
      old = current;
      current = new Epoch();
    }
    old.closed = true;
    if (old.open.get() == 0) {
      old.drained.complete(null);
    }
    try {
      old.drained.get();
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot happen: drained completes normally", e);
    }
  }
}
