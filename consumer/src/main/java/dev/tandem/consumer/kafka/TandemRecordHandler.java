package dev.tandem.consumer.kafka;

import dev.tandem.consumer.ProcessingContext;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The application's handler for one Kafka record, run by {@link TandemKafkaConsumer} at most once per
 * id across regions (see there for the exact guarantee). Throwing releases the claim: the record is
 * redelivered as the next attempt, and dead-lettered after {@code maxAttempts}.
 */
@FunctionalInterface
public interface TandemRecordHandler<K, V> {

  /** Handles {@code record}; {@code context} carries the id, shard, attempt and lease epoch. */
  void handle(ConsumerRecord<K, V> record, ProcessingContext context) throws Exception;
}
