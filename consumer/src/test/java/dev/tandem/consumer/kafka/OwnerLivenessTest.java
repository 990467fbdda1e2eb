package dev.tandem.consumer.kafka;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The renewer's decision (issue 14 defect 2) on a manual clock: busy (a handler within
 * handlerTimeout, however long the batch) renews, stuck (a handler beyond it, or a loop that stopped
 * turning) does not, and neither does an owner whose own broker has not answered recently.
 */
class OwnerLivenessTest {

  static final Duration HANDLER_TIMEOUT = Duration.ofSeconds(30);
  static final Duration BROKER_BOUND = Duration.ofSeconds(2);

  final ManualClock clock = new ManualClock(0);
  final OwnerLiveness l = new OwnerLiveness(clock, HANDLER_TIMEOUT, BROKER_BOUND);

  private void tick(long millis) {
    clock.advance(Duration.ofMillis(millis));
  }

  @Test
  void aBatchOfManyHandlersLongerThanLPlusMarginIsBusyNotStuck() {
    l.loopTurned();
    l.brokerAnswered(clock.nanoTime()); // the batch's records were fetched
    // 500 handlers of 30 ms: 15 s without a loop turn, three times L + margin of the old defaults
    for (int i = 0; i < 500; i++) {
      l.handlerStarted();
      tick(30);
      assertTrue(l.alive(clock.nanoTime()), "handler " + i + " runs for 30 ms: busy");
      l.handlerEnded();
      if (i % 33 == 0) {
        l.brokerAnswered(clock.nanoTime()); // the own changelog acknowledged a renewal
      }
    }
    assertTrue(l.mayRenew(clock.nanoTime()));
  }

  @Test
  void aHandlerThatHasNotReturnedForHandlerTimeoutIsStuck() {
    l.loopTurned();
    l.handlerStarted();
    tick(29_999);
    l.brokerAnswered(clock.nanoTime());
    assertTrue(l.mayRenew(clock.nanoTime()), "29.999 s into one handler call: still busy");
    tick(1);
    l.brokerAnswered(clock.nanoTime());
    assertFalse(l.alive(clock.nanoTime()), "30 s into one handler call: stuck");
    assertFalse(l.mayRenew(clock.nanoTime()));
    l.handlerEnded();
    assertTrue(l.mayRenew(clock.nanoTime()), "it returned: the loop moves again");
  }

  @Test
  void aLoopThatStoppedTurningOutsideAHandlerIsStuck() {
    l.loopTurned();
    l.handlerStarted();
    tick(10);
    l.handlerEnded();
    tick(29_000);
    l.brokerAnswered(clock.nanoTime());
    assertTrue(l.alive(clock.nanoTime()));
    tick(1_000);
    assertFalse(l.alive(clock.nanoTime()), "no turn, no handler for 30 s");
  }

  @Test
  void theOwnBrokerMustHaveAnsweredWithinTheBoundAndAfterTheLastFailedProbe() {
    l.loopTurned();
    assertFalse(l.brokerAnsweredRecently(clock.nanoTime()), "no evidence yet");
    long sent = clock.nanoTime();
    tick(100);
    l.brokerAnswered(sent);
    assertTrue(l.mayRenew(clock.nanoTime()));
    tick(1_900);
    assertTrue(l.brokerAnsweredRecently(clock.nanoTime()), "2 s after the request: at the bound");
    tick(1);
    assertFalse(l.brokerAnsweredRecently(clock.nanoTime()), "older than the bound");

    long before = clock.nanoTime();
    tick(10);
    l.brokerSilent(); // a probe failed
    l.brokerAnswered(before); // a late acknowledgement of a write sent before the failure
    assertFalse(l.brokerAnsweredRecently(clock.nanoTime()), "evidence older than a failure");
    tick(10);
    l.brokerAnswered(clock.nanoTime());
    assertTrue(l.brokerAnsweredRecently(clock.nanoTime()), "answered after the failure");
    l.brokerAnswered(before); // an older acknowledgement does not move the evidence back
    assertTrue(l.brokerAnsweredRecently(clock.nanoTime()));
  }

  @Test
  void theBuilderRefusesAHandlerTimeoutNotAboveTheHeartbeatInterval(@TempDir Path dir) {
    var b = TandemKafkaConsumer.builder("t", new StringDeserializer(), new StringDeserializer());
    assertThrows(IllegalArgumentException.class, () -> b.handlerTimeout(Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> b.handlerTimeout(Duration.ofSeconds(-1)));
    try (IdempotencyStore store = IdempotencyStore.builder().region(RegionId.of("region-a"))
        .instance("i1").directory(dir).build()) {
      b.consumer(new MockConsumer<>("earliest")).handler((r, c) -> {}).store(store)
          .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
          .heartbeatInterval(Duration.ofSeconds(2)).handlerTimeout(Duration.ofSeconds(2));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
      assertTrue(e.getMessage().contains("handlerTimeout"), e.getMessage());
    }
  }
}
