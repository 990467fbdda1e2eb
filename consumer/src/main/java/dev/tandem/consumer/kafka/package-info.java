/**
 * Kafka integration. {@link dev.tandem.consumer.kafka.TandemKafkaConsumer} (the poll loop) gives the
 * full once-across-regions guarantee; {@link dev.tandem.consumer.kafka.TandemConsumerInterceptor}
 * alone only filters ids already completed in the local store (see its Javadoc for exactly what it
 * does and does not guarantee); {@link dev.tandem.consumer.kafka.KafkaDeadLetterSink} writes
 * {@code <topic>.tandem-dlq}.
 */
package dev.tandem.consumer.kafka;
