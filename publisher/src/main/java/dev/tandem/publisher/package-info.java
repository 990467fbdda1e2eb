/**
 * The Tandem publisher: write every message to every region with one envelope, lose nothing.
 *
 * <ul>
 *   <li>{@link dev.tandem.publisher.DualPublisher} — fan-out to one {@link
 *       dev.tandem.publisher.RegionalSink} per region, completion by {@link
 *       dev.tandem.publisher.AckPolicy}, a Resilience4j circuit breaker per region, and a durable
 *       RocksDB spool replayed in publish order when a region recovers.
 *   <li>{@link dev.tandem.publisher.RegionalSink} — the SPI a transport implements ({@link
 *       dev.tandem.publisher.KafkaRegionalSink} here; Service Bus in {@code tandem-azure}).
 *   <li>{@link dev.tandem.publisher.TandemKafkaProducer} — a drop-in Kafka {@code Producer} over it.
 *   <li>{@link dev.tandem.publisher.KafkaEnvelopeHeaders} — the envelope in Kafka headers, for
 *       consumers too.
 * </ul>
 */
package dev.tandem.publisher;
