package dev.tandem.consumer.ownership;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Busy versus stuck (issue 14 defect 2) on a manual clock: a handler within handlerTimeout is busy
 * however long the batch; a handler beyond it, or a loop that stopped turning, is stuck. Moved here
 * with the class from the Kafka package (was {@code kafka.OwnerLivenessTest}).
 */
class HandlerActivityTest {

  final ManualClock clock = new ManualClock(0);
  final HandlerActivity l = new HandlerActivity(clock, Duration.ofSeconds(30));

  private void tick(long millis) {
    clock.advance(Duration.ofMillis(millis));
  }

  @Test
  void aBatchOfManyHandlersLongerThanLPlusMarginIsBusyNotStuck() {
    l.loopTurned();
    // 500 handlers of 30 ms: 15 s without a loop turn, three times L + margin of the old defaults
    for (int i = 0; i < 500; i++) {
      l.handlerStarted();
      tick(30);
      assertTrue(l.alive(clock.nanoTime()), "handler " + i + " runs for 30 ms: busy");
      l.handlerEnded();
    }
    assertTrue(l.alive(clock.nanoTime()));
  }

  @Test
  void aHandlerThatHasNotReturnedForHandlerTimeoutIsStuck() {
    l.loopTurned();
    l.handlerStarted();
    tick(29_999);
    assertTrue(l.alive(clock.nanoTime()), "29.999 s into one handler call: still busy");
    tick(1);
    assertFalse(l.alive(clock.nanoTime()), "30 s into one handler call: stuck");
    l.handlerEnded();
    assertTrue(l.alive(clock.nanoTime()), "it returned: the loop moves again");
  }

  @Test
  void aLoopThatStoppedTurningOutsideAHandlerIsStuck() {
    l.loopTurned();
    l.handlerStarted();
    tick(10);
    l.handlerEnded();
    tick(29_000);
    assertTrue(l.alive(clock.nanoTime()));
    tick(1_000);
    assertFalse(l.alive(clock.nanoTime()), "no turn, no handler for 30 s");
  }

  @Test
  void aBoundedWaitIsAliveForItsBoundPlusHandlerTimeoutAndEndsAtTheFirstHandler() {
    l.loopTurned();
    l.waitStarted(Duration.ofSeconds(60)); // e.g. claims durable in the own changelog
    tick(89_999);
    assertTrue(l.alive(clock.nanoTime()), "within the wait's bound plus handlerTimeout: waiting");
    tick(1);
    assertFalse(l.alive(clock.nanoTime()), "a wait beyond its own bound plus handlerTimeout: stuck");

    l.waitStarted(Duration.ofSeconds(60));
    l.handlerStarted(); // the wait is over
    l.handlerEnded();
    tick(30_000);
    assertFalse(l.alive(clock.nanoTime()), "after the wait, handlerTimeout alone applies again");

    l.waitStarted(Duration.ofSeconds(60));
    l.waitEnded();
    tick(30_000);
    assertFalse(l.alive(clock.nanoTime()), "an ended wait adds nothing");
  }
}
