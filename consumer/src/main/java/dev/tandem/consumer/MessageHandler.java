package dev.tandem.consumer;

/**
 * The application's code for one message. Throwing releases the claim, so a redelivery retries the
 * message as the next attempt (after {@code maxAttempts} it is dead-lettered); returning normally
 * completes it in every region.
 */
@FunctionalInterface
public interface MessageHandler {

  /** Handles one message; {@code context} names the id, shard, attempt and shard lease epoch. */
  void handle(ProcessingContext context) throws Exception;
}
