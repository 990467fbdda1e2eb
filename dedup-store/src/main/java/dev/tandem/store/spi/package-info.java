/**
 * The replica SPI of the idempotency store ({@link dev.tandem.store.spi.ReplicaStore}): what
 * replication calls besides the user's {@link dev.tandem.store.IdempotencyStore}. A user of Tandem
 * does not call it; an alternative replication would.
 */
package dev.tandem.store.spi;
