package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;

/**
 * A snapshot of one region as the publisher sees it.
 *
 * @param region the region
 * @param circuit its circuit breaker's state
 * @param spooling whether new copies for it go to the spool (its spool is not empty, or its circuit
 *     is not closed), which keeps per-partition order while it catches up
 * @param spoolDepth copies waiting in the spool for it
 * @param spoolBytes their approximate size
 */
public record RegionStatus(
    RegionId region, CircuitBreaker.State circuit, boolean spooling, long spoolDepth, long spoolBytes) {}
