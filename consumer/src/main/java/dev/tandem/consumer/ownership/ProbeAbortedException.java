package dev.tandem.consumer.ownership;

/**
 * Thrown by a {@link BrokerProbe} whose request its caller stopped (e.g. {@code close()} woke the
 * thread asking it): says nothing about the broker. {@link OwnerLiveness#renew} passes it through
 * without recording a failure, counting the probe silent or warning that the peer takes over; the
 * round renews nothing.
 */
public final class ProbeAbortedException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** The probe's request was stopped; {@code cause} is what stopped it. */
  public ProbeAbortedException(String message, Throwable cause) {
    super(message, cause);
  }
}
