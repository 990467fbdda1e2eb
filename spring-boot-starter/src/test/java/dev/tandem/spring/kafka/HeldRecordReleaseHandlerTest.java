package dev.tandem.spring.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.when;

import dev.tandem.store.IdRecord;
import dev.tandem.store.Phase;
import dev.tandem.store.WriteOrigin;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.springframework.kafka.listener.ListenerExecutionFailedException;
import org.springframework.kafka.listener.MessageListenerContainer;

/** {@link HeldRecordRelease} without Kafka: what ends a held record's back-off, and what does not. */
class HeldRecordReleaseHandlerTest {

  private final Counter early = new SimpleMeterRegistry().counter("early");
  private final HeldRecordRelease release = new HeldRecordRelease(early);

  private static IdRecord record(String id, Phase phase) {
    IdRecord r = mock(IdRecord.class);
    when(r.id()).thenReturn(id);
    when(r.phase()).thenReturn(phase);
    return r;
  }

  private static Exception held(String id) {
    return new ListenerExecutionFailedException("Listener failed",
        new HeldRecordException("t", 0, 7, id, "region-a"));
  }

  private static MessageListenerContainer container(AtomicBoolean running) {
    MessageListenerContainer c = mock(MessageListenerContainer.class);
    when(c.isRunning()).thenAnswer(i -> running.get());
    return c;
  }

  @Test
  void theCompletionOfTheHeldIdEndsItsBackOffAndIsCounted() throws Exception {
    release.watch("x");
    MessageListenerContainer c = container(new AtomicBoolean(true));
    long t0 = System.nanoTime();
    var waiting = CompletableFuture.runAsync(() -> release.onNextBackOff(c, held("x"), 60_000));
    release.listener().onRecord(record("y", Phase.COMPLETED), WriteOrigin.REMOTE); // not watched
    release.listener().onRecord(record("x", Phase.CLAIMED), WriteOrigin.REMOTE); // not terminal
    assertTrue(!waiting.isDone(), "only a terminal write of the watched id ends the wait");
    release.listener().onRecord(record("x", Phase.COMPLETED), WriteOrigin.REMOTE);
    waiting.get(30, TimeUnit.SECONDS);
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(30), "ended before its 60 s");
    assertEquals(1.0, early.count(), "counted as an early release");
    assertEquals(0, release.watching(), "the watch ends with its back-off");
  }

  @Test
  void aCompletionAppliedBeforeTheBackOffBeganEndsItAtOnce() {
    release.watch("x");
    release.listener().onRecord(record("x", Phase.COMPLETED), WriteOrigin.REMOTE);
    release.onNextBackOff(container(new AtomicBoolean(true)), held("x"), 60_000);
    assertEquals(1.0, early.count());
  }

  @Test
  void aStoppingContainerEndsTheWaitWithoutAnEarlyRelease() throws Exception {
    release.watch("x");
    AtomicBoolean running = new AtomicBoolean(true);
    MessageListenerContainer c = container(running);
    var waiting = CompletableFuture.runAsync(() -> release.onNextBackOff(c, held("x"), 60_000));
    running.set(false);
    waiting.get(30, TimeUnit.SECONDS);
    assertEquals(0.0, early.count(), "a stop is no early release");
  }

  @Test
  void otherExceptionsSleepTheirWholeBackOff() {
    release.watch("x");
    release.listener().onRecord(record("x", Phase.COMPLETED), WriteOrigin.REMOTE);
    long t0 = System.nanoTime();
    release.onNextBackOff(container(new AtomicBoolean(true)),
        new TandemRetryException("retry", java.time.Duration.ofMillis(50), null), 50);
    assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(50), "slept its back-off");
    assertEquals(0.0, early.count());
  }
}
