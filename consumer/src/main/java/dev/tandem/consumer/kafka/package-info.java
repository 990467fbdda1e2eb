/**
 * Kafka integration. {@link dev.tandem.consumer.kafka.TandemKafkaConsumer} (the poll loop) gives the
 * full once-across-regions guarantee; {@link dev.tandem.consumer.kafka.TandemConsumerInterceptor}
 * alone (a plain {@code KafkaConsumer} configured by properties, {@code tandem.guarantee=detect-only})
 * drops ids completed in either region and completes what Kafka commits: duplicates only inside the
 * replication lag, each detected and counted, no takeover and no bound (see its Javadoc for exactly
 * what it does and does not guarantee); {@link dev.tandem.consumer.kafka.KafkaDeadLetterSink} writes
 * {@code <topic>.tandem-dlq}. Their machinery is in {@code dev.tandem.consumer.kafka.internal} (not
 * API).
 */
package dev.tandem.consumer.kafka;
