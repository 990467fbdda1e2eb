package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import java.util.Objects;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;

/**
 * A region's cluster refused this process's credentials or TLS handshake (Kafka's {@link
 * AuthenticationException}: a wrong SASL password, an untrusted certificate) while the changelog
 * topic was ensured. Not retried: another attempt with the same settings gets the same answer, so the
 * replication log's build fails with it for the own region and for a peer alike, naming the region.
 */
public final class RegionAuthenticationException extends IllegalStateException {

  private static final long serialVersionUID = 1L;

  private final transient RegionId region;

  /** {@code cause}: Kafka's answer ({@link AuthenticationException} or a subclass). */
  public RegionAuthenticationException(RegionId region, String message,
      AuthenticationException cause) {
    super(message, Objects.requireNonNull(cause, "cause"));
    this.region = Objects.requireNonNull(region, "region");
  }

  /** The region whose cluster refused. */
  public RegionId region() {
    return region;
  }

  /** Whether the TLS handshake failed (else SASL authentication). */
  public boolean tls() {
    return getCause() instanceof SslAuthenticationException;
  }

  /** The {@link AuthenticationException} in {@code e}'s cause chain, or null. */
  public static AuthenticationException authenticationCause(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof AuthenticationException a) {
        return a;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return null;
  }
}
