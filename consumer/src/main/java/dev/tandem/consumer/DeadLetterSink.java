package dev.tandem.consumer;

import java.util.concurrent.CompletableFuture;

/**
 * SPI: where dead-lettered messages go (Kafka: {@code <topic>.tandem-dlq} in the own region, see
 * {@code KafkaDeadLetterSink}; Service Bus: the entity's dead-letter sub-queue). The future completes
 * when the dead letter is durably stored; only then is the original acknowledged. A failed future
 * leaves the original to be redelivered, and the dead letter is sent again then.
 */
@FunctionalInterface
public interface DeadLetterSink {

  /** Stores {@code letter} durably. */
  CompletableFuture<Void> send(DeadLetter letter);
}
