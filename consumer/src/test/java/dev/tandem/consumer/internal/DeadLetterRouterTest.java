package dev.tandem.consumer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.DeadLetter;
import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.Outcome;
import dev.tandem.core.Envelope;
import dev.tandem.core.ManualClock;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link DeadLetterRouter} with an in-memory sink whose answer each test chooses, over one local
 * store (temp dir, no replication, no Kafka).
 */
class DeadLetterRouterTest {

  @TempDir Path dir;
  IdempotencyStore store;
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final List<DeadLetter> stored = new CopyOnWriteArrayList<>();
  /** What the sink answers for a letter. */
  volatile Function<DeadLetter, CompletableFuture<Void>> answer = l -> {
    stored.add(l);
    return CompletableFuture.completedFuture(null);
  };
  DeadLetterRouter router;
  ConsumerMetrics metrics;

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(TestRegions.A).instance("i1").directory(dir)
        .clock(new ManualClock(1_000_000L)).build();
    metrics = new ConsumerMetrics(registry, "region-a");
    DeadLetterSink sink = l -> answer.apply(l);
    router = new DeadLetterRouter(store, sink, Duration.ofMillis(200), Duration.ofSeconds(1),
        metrics);
  }

  @AfterEach
  void close() {
    store.close();
  }

  static ClaimAttempt copy(String id) {
    byte[] p = id.getBytes(StandardCharsets.UTF_8);
    Envelope e = Envelope.forPayload(id, p, 0, 0L);
    return new ClaimAttempt(IncomingMessage.of(h -> null, p, 0, 1, null), e, false);
  }

  @Test
  void aStoredLetterIsCountedUnderItsReason() {
    Outcome o = router.send(copy("a").message, "a", DeadLetterReason.DIGEST_MISMATCH, "bad");
    assertEquals(DeadLetterReason.DIGEST_MISMATCH,
        assertInstanceOf(Outcome.DeadLettered.class, o).reason());
    assertEquals(1, stored.size());
    assertEquals(1.0, metrics.deadLetters(DeadLetterReason.DIGEST_MISMATCH).count());
  }

  @Test
  void aFailingOrSilentSinkAnswersTryLaterAndCountsNothing() {
    answer = l -> CompletableFuture.failedFuture(new IllegalStateException("sink down"));
    Outcome failed = router.send(copy("a").message, "a", DeadLetterReason.CONFLICT, "x");
    assertEquals(Outcome.RetryReason.DEAD_LETTER_FAILED,
        assertInstanceOf(Outcome.RetryLater.class, failed).reason());
    answer = l -> new CompletableFuture<>(); // never answers: the timeout applies
    Outcome silent = router.send(copy("b").message, "b", DeadLetterReason.CONFLICT, "x");
    assertEquals(Outcome.RetryReason.DEAD_LETTER_FAILED,
        assertInstanceOf(Outcome.RetryLater.class, silent).reason());
    answer = l -> {
      throw new IllegalStateException("sink throws");
    };
    assertInstanceOf(Outcome.RetryLater.class,
        router.send(copy("c").message, "c", DeadLetterReason.CONFLICT, "x"));
    assertEquals(0.0, metrics.deadLetters(DeadLetterReason.CONFLICT).count());
  }

  @Test
  void deadLetterRecordMarksTheStoreThenRoutes() {
    ClaimAttempt c = copy("d");
    Outcome o = router.deadLetterRecord(c, DeadLetterReason.STALE, "old");
    assertInstanceOf(Outcome.DeadLettered.class, o);
    IdRecord rec = store.get("d", 0).orElseThrow();
    assertEquals(Phase.DEAD_LETTERED, rec.phase());
    assertEquals(DeadLetterReason.STALE, DeadLetterRouter.reasonOf(rec));
    assertEquals(1, stored.size());
  }

  @Test
  void aStaleCopyOfACompletedIdIsADuplicateNotADeadLetter() {
    ClaimAttempt c = copy("e");
    store.claim("e", 0, c.envelope.digest(), 0L, Duration.ofSeconds(30));
    store.complete("e", 0, null);
    Outcome o = router.deadLetterRecord(c, DeadLetterReason.STALE, "old");
    assertEquals(Phase.COMPLETED, assertInstanceOf(Outcome.Skipped.class, o).phase());
    assertTrue(stored.isEmpty(), "nothing routed");
    assertEquals(1.0, metrics.duplicatesSuppressed.count());
  }
}
