/**
 * Process each message once across regions. The entry point is {@link
 * dev.tandem.consumer.TandemRegion} (one per region and process, configured by {@link
 * dev.tandem.consumer.TandemRegionConfig}'s keys): it wires the store, the replication log and the
 * shard ownership and makes the consumers. Underneath: the transport-neutral {@link
 * dev.tandem.consumer.OnceProcessor} (envelope checks, claim, handler, complete / release / dead
 * letter) and its small SPI ({@link dev.tandem.consumer.DeadLetterSink}, {@link
 * dev.tandem.consumer.ShardFence}). Transports: {@code dev.tandem.consumer.kafka} here, Service Bus
 * and Azure Functions in {@code tandem-azure}. Shard ownership and takeover: {@code
 * dev.tandem.consumer.ownership}. Meter names: {@link dev.tandem.consumer.ConsumerMeterNames}. The
 * parts {@code OnceProcessor} and {@code TandemRegion} compose are in {@code
 * dev.tandem.consumer.internal} (not API).
 */
package dev.tandem.consumer;
