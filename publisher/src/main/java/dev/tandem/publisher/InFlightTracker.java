package dev.tandem.publisher;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Counts operations in flight so that {@link #awaitAllBegun()} (a flush) waits for exactly those
 * begun before it, without keeping a set of futures (a concurrent set cost more than the counting).
 * Operations count into the current epoch; a flush closes the epoch, opens a new one for later
 * operations, and waits until the closed epoch's count reaches zero.
 */
final class InFlightTracker {

  /** One generation of operations; drained when closed and its count is zero. */
  private static final class Epoch {
    final AtomicLong open = new AtomicLong();
    final CompletableFuture<Void> drained = new CompletableFuture<>();
    volatile boolean closed;

    void end() {
      // closed is read after the decrement: a flush that closes meanwhile sees zero itself
      if (open.decrementAndGet() == 0 && closed) {
        drained.complete(null);
      }
    }
  }

  /** Ends one operation; call exactly once. */
  interface Ticket {
    void end();
  }

  private final ReentrantReadWriteLock swap = new ReentrantReadWriteLock();
  private Epoch current = new Epoch(); // guarded by swap

  /** Begins an operation in the current epoch. */
  Ticket begin() {
    swap.readLock().lock();
    try {
      Epoch e = current;
      e.open.incrementAndGet();
      return e::end;
    } finally {
      swap.readLock().unlock();
    }
  }

  /** Waits until every operation begun before this call has ended. */
  void awaitAllBegun() throws InterruptedException {
    Epoch old;
    swap.writeLock().lock();
    try {
      old = current;
      current = new Epoch();
    } finally {
      swap.writeLock().unlock();
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
