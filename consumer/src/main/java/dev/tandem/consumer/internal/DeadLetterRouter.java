package dev.tandem.consumer.internal;

import dev.tandem.consumer.DeadLetter;
import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.Outcome;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes copies to the dead-letter path: marks the id DEAD_LETTERED in the store when the record's
 * fate is decided here ({@link #deadLetterRecord}), then hands the copy to the {@link DeadLetterSink}
 * and waits for it to be stored. A sink that fails or times out answers {@code DEAD_LETTER_FAILED}
 * (try later): the copy is redelivered, never dropped — sending twice after a crash is possible,
 * never zero times.
 */
public final class DeadLetterRouter {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.OnceProcessor.class);

  private final IdempotencyStore store;
  private final DeadLetterSink sink;
  private final Duration timeout;
  private final Duration retryBackoff;
  private final ConsumerMetrics metrics;

  public DeadLetterRouter(IdempotencyStore store, DeadLetterSink sink, Duration timeout,
      Duration retryBackoff, ConsumerMetrics metrics) {
    this.store = store;
    this.sink = sink;
    this.timeout = timeout;
    this.retryBackoff = retryBackoff;
    this.metrics = metrics;
  }

  /**
   * Marks the id DEAD_LETTERED in the store (every region learns it), then routes the copy. A STALE
   * copy whose id completed meanwhile is a duplicate instead: completion beats a dead letter.
   */
  public Outcome deadLetterRecord(ClaimAttempt r, DeadLetterReason reason, String detail) {
    String id = r.id();
    IdRecord rec = store.deadLetter(id, r.shard(), reason.name());
    if (rec.phase() == Phase.COMPLETED && reason == DeadLetterReason.STALE) {
      // completion beats a dead letter: this stale copy is a duplicate of a processed message
      metrics.duplicatesSuppressed.increment();
      return new Outcome.Skipped(id, Phase.COMPLETED);
    }
    return send(r.message, id, reason, detail);
  }

  /**
   * Sends {@code m} to the sink without touching its record; logged at WARN and counted ({@code
   * tandem.consumer.dead.letters}, tag {@code reason}) once stored.
   *
   * @param id the copy's id, or null when it has none that can be read
   */
  public Outcome send(IncomingMessage m, String id, DeadLetterReason reason, String detail) {
    log.warn("Tandem dead letter {} (shard {}, id {}): {}", reason, m.shard(), id, detail);
    try {
      sink.send(new DeadLetter(id, reason, detail, m))
          .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return failed(id, reason, e);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      return failed(id, reason, e instanceof ExecutionException ? e.getCause() : e);
    }
    metrics.deadLetters(reason).increment();
    return new Outcome.DeadLettered(id, reason, detail);
  }

  private Outcome failed(String id, DeadLetterReason reason, Throwable e) {
    log.error("Tandem could not store the dead letter of {} ({}); it will be redelivered", id, reason,
        e);
    return new Outcome.RetryLater(id, Outcome.RetryReason.DEAD_LETTER_FAILED, retryBackoff,
        "dead-letter sink failed: " + e);
  }

  /**
   * The reason a DEAD_LETTERED record names; one written by an operator or a newer version reads as
   * {@link DeadLetterReason#MAX_ATTEMPTS}.
   */
  public static DeadLetterReason reasonOf(IdRecord rec) {
    String r = rec.reason();
    if (r != null) {
      try {
        return DeadLetterReason.valueOf(r.toUpperCase(Locale.ROOT).replace('-', '_'));
      } catch (IllegalArgumentException ignored) {
        // a reason written by an operator or a newer version: reported as max attempts
      }
    }
    return DeadLetterReason.MAX_ATTEMPTS;
  }
}
