package dev.tandem.azure.servicebus;

import dev.tandem.core.RegionId;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Cancelling a scheduled message failed in some regions; the copies there may still be enqueued at
 * their time. Retrying the cancellation is safe.
 */
public class CancelScheduledException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final transient Map<RegionId, Throwable> failures;

  public CancelScheduledException(String id, Map<RegionId, Throwable> failures) {
    super("cancelling scheduled message " + id + " failed in " + failures.entrySet().stream()
        .map(e -> e.getKey() + " (" + e.getValue() + ")").collect(Collectors.joining(", ")));
    this.failures = Map.copyOf(failures);
    failures.values().forEach(this::addSuppressed);
  }

  /** Each failed region and why. */
  public Map<RegionId, Throwable> failures() {
    return failures;
  }
}
