package dev.tandem.consumer;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/** A {@link DeadLetterSink} that keeps letters in memory (the Kafka sink has its own test). */
final class CollectingDeadLetterSink implements DeadLetterSink {

  final List<DeadLetter> letters = new CopyOnWriteArrayList<>();
  volatile boolean failing;

  @Override
  public CompletableFuture<Void> send(DeadLetter letter) {
    if (failing) {
      return CompletableFuture.failedFuture(new IllegalStateException("sink down (test)"));
    }
    letters.add(letter);
    return CompletableFuture.completedFuture(null);
  }
}
