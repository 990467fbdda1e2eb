package dev.tandem.publisher;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One copy sent straight to a region's sink and not yet settled, with its deadline. Either the sink's
 * answer or the deadline settles it, whichever comes first ({@link #claim}); the other is ignored.
 * Copies of one lane are created in order under the ordering lock with the same timeout, so their
 * deadlines only grow: the lane keeps them in a FIFO and the timer looks only at its head.
 */
final class DirectCopy {

  final Publication publication;
  final long startNanos;
  final long deadlineNanos;
  private final AtomicBoolean settled = new AtomicBoolean();

  DirectCopy(Publication publication, long startNanos, long deadlineNanos) {
    this.publication = publication;
    this.startNanos = startNanos;
    this.deadlineNanos = deadlineNanos;
  }

  /** True for exactly one caller: the one that settles this copy. */
  boolean claim() {
    return settled.compareAndSet(false, true);
  }

  boolean isSettled() {
    return settled.get();
  }
}
