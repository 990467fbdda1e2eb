package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;

/**
 * Callbacks about region health, for logging or alerting. Called on publisher threads: keep them
 * short and never block. Every method has an empty default.
 */
public interface RegionListener {

  /** The region's circuit breaker moved from {@code from} to {@code to}. */
  default void onCircuitTransition(RegionId region, CircuitBreaker.State from, CircuitBreaker.State to) {}

  /** New copies for {@code region} now go to the spool (a copy failed or the circuit opened). */
  default void onSpoolingStarted(RegionId region, Throwable cause) {}

  /** The spool for {@code region} drained; new copies go straight to its broker again. */
  default void onSpoolDrained(RegionId region, long replayed) {}

  /**
   * {@code region} refused a spooled copy on replay for its content ({@link
   * MessageRejectedException}: too large, or a message the broker does not accept). The copy is moved
   * out of the spool so that it never blocks the copies behind it (logged at ERROR with the reason,
   * counted in {@code tandem.publisher.spool.rejected}); its publisher may be long gone, so this is
   * where an application keeps it (a dead-letter store) or alerts. It is the only way to recover the
   * copy: once this returns, the spool deletes it.
   *
   * <p>Called synchronously on the region's replay thread, before the copy is deleted from the spool:
   * keep it fast (hand the copy to a queue or store; do not block), since replay of the region waits
   * for it. Delivery is at-least-once: if the process stops after this call and before the deletion,
   * the copy is replayed, rejected and handed over again on the next start.
   */
  default void onCopyRejected(RegionId region, OutboundMessage message,
      MessageRejectedException cause) {}
}
