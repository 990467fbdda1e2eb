package dev.tandem.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** {@link TwoRegions#close()}'s mechanism, without clusters: both closes, at the same time. */
class TwoRegionsCloseTest {

  @Test
  void bothClosesRunAtTheSameTime() {
    CountDownLatch firstStarted = new CountDownLatch(1);
    CountDownLatch secondStarted = new CountDownLatch(1);
    AtomicBoolean firstSawSecond = new AtomicBoolean();
    AtomicBoolean secondSawFirst = new AtomicBoolean();
    // each close waits (bounded) for the other to have started: only true when they overlap
    TwoRegions.closeBoth(() -> {
      firstStarted.countDown();
      firstSawSecond.set(secondStarted.await(10, TimeUnit.SECONDS));
    }, () -> {
      secondStarted.countDown();
      secondSawFirst.set(firstStarted.await(10, TimeUnit.SECONDS));
    });
    assertTrue(firstSawSecond.get() && secondSawFirst.get(), "the two closes overlapped");
  }

  @Test
  void whenOneCloseThrowsTheOtherStillRunsAndEndsBeforeTheFailureIsThrown() {
    AtomicBoolean secondDone = new AtomicBoolean();
    IllegalStateException boom = new IllegalStateException("first failed");
    IllegalStateException thrown = assertThrows(IllegalStateException.class,
        () -> TwoRegions.closeBoth(() -> {
          throw boom;
        }, () -> {
          Thread.sleep(200); // a slower close: closeBoth must still wait for it, not leak it
          secondDone.set(true);
        }));
    assertSame(boom, thrown);
    assertTrue(secondDone.get(), "the second close ran to its end before closeBoth returned");

    AtomicBoolean firstDone = new AtomicBoolean();
    IllegalStateException other = new IllegalStateException("second failed");
    assertSame(other, assertThrows(IllegalStateException.class,
        () -> TwoRegions.closeBoth(() -> firstDone.set(true), () -> {
          throw other;
        })));
    assertTrue(firstDone.get());
  }

  @Test
  void whenBothThrowTheSecondFailureIsSuppressedInTheFirst() {
    IllegalStateException a = new IllegalStateException("a");
    IllegalStateException b = new IllegalStateException("b");
    IllegalStateException thrown = assertThrows(IllegalStateException.class,
        () -> TwoRegions.closeBoth(() -> {
          throw a;
        }, () -> {
          throw b;
        }));
    assertSame(a, thrown);
    assertEquals(1, thrown.getSuppressed().length);
    assertSame(b, thrown.getSuppressed()[0]);
  }
}
