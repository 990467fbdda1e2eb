package dev.tandem.consumer.ownership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** One broker's evidence: dated by the request, voided by a later failure, never moved back. */
class BrokerEvidenceTest {

  static final long BOUND = Duration.ofSeconds(2).toNanos();
  final ManualClock clock = new ManualClock(0);
  final BrokerEvidence e = new BrokerEvidence();

  private void tick(long millis) {
    clock.advance(Duration.ofMillis(millis));
  }

  @Test
  void theBrokerMustHaveAnsweredWithinTheBoundAndAfterTheLastFailedProbe() {
    assertFalse(e.answeredWithin(clock.nanoTime(), BOUND), "no evidence yet");
    long sent = clock.nanoTime();
    tick(100);
    e.answered(sent);
    tick(1_900);
    assertTrue(e.answeredWithin(clock.nanoTime(), BOUND), "2 s after the request: at the bound");
    tick(1);
    assertFalse(e.answeredWithin(clock.nanoTime(), BOUND), "older than the bound");

    long before = clock.nanoTime();
    tick(10);
    e.failed(clock.nanoTime()); // a probe failed
    e.answered(before); // a late acknowledgement of a write sent before the failure
    assertFalse(e.answeredWithin(clock.nanoTime(), BOUND), "evidence older than a failure");
    tick(10);
    e.answered(clock.nanoTime());
    assertTrue(e.answeredWithin(clock.nanoTime(), BOUND), "answered after the failure");
    e.answered(before); // an older acknowledgement does not move the evidence back
    assertTrue(e.answeredWithin(clock.nanoTime(), BOUND));
  }

  @Test
  void answeredSinceCountsOnlyRequestsSentAfterTheMark() {
    long mark = clock.nanoTime();
    e.answered(mark);
    assertFalse(e.answeredSince(mark), "sent at the mark: not after it");
    tick(1);
    e.answered(clock.nanoTime());
    assertTrue(e.answeredSince(mark));
    e.failed(clock.nanoTime());
    assertFalse(e.answeredSince(mark), "a failure since voids it");
  }

  @Test
  void recentSaysAnsweredFailedOrNothingWithinTheBound() {
    assertEquals(java.util.Optional.empty(), e.recent(clock.nanoTime(), BOUND), "no evidence yet");
    e.answered(clock.nanoTime());
    assertEquals(java.util.Optional.of(true), e.recent(clock.nanoTime(), BOUND));
    tick(10);
    e.failed(clock.nanoTime());
    assertEquals(java.util.Optional.of(false), e.recent(clock.nanoTime(), BOUND),
        "a failure after the last answer");
    tick(2_001);
    assertEquals(java.util.Optional.empty(), e.recent(clock.nanoTime(), BOUND),
        "a failure older than the bound says nothing now");
    e.answered(clock.nanoTime());
    assertEquals(java.util.Optional.of(true), e.recent(clock.nanoTime(), BOUND), "answers again");
  }
}
