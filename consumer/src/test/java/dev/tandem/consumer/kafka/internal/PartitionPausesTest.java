package dev.tandem.consumer.kafka.internal;

import static dev.tandem.consumer.kafka.internal.Fakes.P0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** {@link PartitionPauses} alone: seek back, pause, resume once due (ManualClock, MockConsumer). */
class PartitionPausesTest {

  final ManualClock clock = Fakes.clock();
  final Fakes.Kafka kafka = new Fakes.Kafka(P0);
  final PartitionPauses pauses =
      new PartitionPauses(Fakes.ctx(kafka, clock, new SimpleMeterRegistry()));

  long at(Duration d) {
    return clock.nanoTime() + d.toNanos();
  }

  @Test
  void aPausedPartitionIsSoughtBackAndResumedOnlyOnceItsTimeCame() {
    kafka.seek(P0, 10);
    pauses.pauseUntil(P0, 4, at(Duration.ofMillis(500)));
    assertEquals(4, kafka.position(P0), "read again from the record to retry");
    assertTrue(kafka.paused().contains(P0));

    clock.advance(Duration.ofMillis(499));
    pauses.resumeDue(tp -> true);
    assertTrue(kafka.paused().contains(P0), "not yet");
    assertTrue(pauses.isPaused(P0));

    clock.advance(Duration.ofMillis(1));
    pauses.resumeDue(tp -> true);
    assertFalse(kafka.paused().contains(P0));
    assertFalse(pauses.isPaused(P0));
  }

  @Test
  void aPartitionSomethingElseKeepsPausedIsNotResumed() {
    pauses.pauseUntil(P0, 0, at(Duration.ZERO));
    pauses.resumeDue(tp -> false); // e.g. the follower holds it now
    assertTrue(kafka.paused().contains(P0), "the hold resumes it when it ends");
    assertFalse(pauses.isPaused(P0), "the pause itself is over");
  }

  @Test
  void aForgottenPartitionIsNeverResumedByThePause() {
    pauses.pauseUntil(P0, 0, at(Duration.ofMillis(10)));
    pauses.forget(P0);
    clock.advance(Duration.ofSeconds(1));
    pauses.resumeDue(tp -> true);
    assertTrue(kafka.paused().contains(P0));
  }
}
