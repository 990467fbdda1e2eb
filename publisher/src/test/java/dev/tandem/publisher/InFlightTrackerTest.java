package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Flush waits for exactly the operations begun before it. */
class InFlightTrackerTest {

  @Test
  void awaitsOperationsBegunBeforeAndNotThoseBegunAfter() throws Exception {
    InFlightTracker tracker = new InFlightTracker();
    InFlightTracker.Ticket first = tracker.begin();
    InFlightTracker.Ticket second = tracker.begin();
    CountDownLatch flushing = new CountDownLatch(1);
    CompletableFuture<Void> flush = CompletableFuture.runAsync(() -> {
      flushing.countDown();
      try {
        tracker.awaitAllBegun();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    assertTrue(flushing.await(5, TimeUnit.SECONDS));
    first.end();
    assertFalse(flush.isDone(), "the second operation is still open");
    second.end();
    flush.get(5, TimeUnit.SECONDS);
    // an operation begun now belongs to the next flush only
    InFlightTracker.Ticket later = tracker.begin();
    CompletableFuture<Void> nextFlush = CompletableFuture.runAsync(() -> {
      try {
        tracker.awaitAllBegun();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    assertFalse(nextFlush.isDone());
    later.end();
    nextFlush.get(5, TimeUnit.SECONDS);
  }

  @Test
  void flushWithNothingInFlightReturnsAtOnce() throws Exception {
    InFlightTracker tracker = new InFlightTracker();
    tracker.begin().end();
    CompletableFuture.runAsync(() -> {
      try {
        tracker.awaitAllBegun();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    }).get(5, TimeUnit.SECONDS);
  }
}
