package dev.tandem.consumer.ownership;

/**
 * What an owner knows about one broker it depends on: the newest request it answered and the last
 * failed probe, on the owner's monotonic clock. Written by whoever has evidence (a fetch that
 * returned records, a probe, an acknowledged changelog write), read by {@link OwnerLiveness}.
 *
 * <p>Invariants: evidence is dated by when its request was <em>sent</em> (an answer proves the
 * broker was up then, not later); a later failure voids every answer to a request sent before it;
 * an older answer never moves the evidence back. Thread-safe.
 */
public final class BrokerEvidence {

  private boolean answeredOnce;
  private long answeredNanos;
  private boolean failedOnce;
  private long failedNanos;

  /** No evidence yet (an owner's probes make theirs; an integration recording its own, too). */
  public BrokerEvidence() {}

  /** The broker answered a request sent at {@code sentAtNanos} (monotonic). */
  public synchronized void answered(long sentAtNanos) {
    if (!answeredOnce || sentAtNanos - answeredNanos > 0) {
      answeredNanos = sentAtNanos;
      answeredOnce = true;
    }
  }

  /** A probe of the broker failed at {@code nowNanos}: no earlier answer counts any more. */
  public synchronized void failed(long nowNanos) {
    failedNanos = nowNanos;
    failedOnce = true;
  }

  /** The newest answer, if it is not voided by a later failure; else {@code null}. */
  private synchronized Long validAnswer() {
    if (!answeredOnce || (failedOnce && failedNanos - answeredNanos >= 0)) {
      return null;
    }
    return answeredNanos;
  }

  /** Whether the broker answered a request sent after {@code sinceNanos}, with no failure since. */
  public boolean answeredSince(long sinceNanos) {
    Long at = validAnswer();
    return at != null && at - sinceNanos > 0;
  }

  /**
   * What the evidence says now, for a health check: true when the broker answered a request sent at
   * most {@code boundNanos} before {@code nowNanos} (and no failure since); false when a probe failed
   * within that bound after the last answer; empty when there is no evidence that recent.
   */
  public synchronized java.util.Optional<Boolean> recent(long nowNanos, long boundNanos) {
    Long at = validAnswer();
    if (at != null && nowNanos - at <= boundNanos) {
      return java.util.Optional.of(true);
    }
    if (failedOnce && (!answeredOnce || failedNanos - answeredNanos >= 0)
        && nowNanos - failedNanos <= boundNanos) {
      return java.util.Optional.of(false);
    }
    return java.util.Optional.empty();
  }

  /** Whether a probe of the broker failed after {@code sinceNanos}. */
  public synchronized boolean failedSince(long sinceNanos) {
    return failedOnce && failedNanos - sinceNanos > 0;
  }

  /** Whether the broker answered a request sent at most {@code boundNanos} before {@code nowNanos}. */
  public boolean answeredWithin(long nowNanos, long boundNanos) {
    Long at = validAnswer();
    return at != null && nowNanos - at <= boundNanos;
  }
}
