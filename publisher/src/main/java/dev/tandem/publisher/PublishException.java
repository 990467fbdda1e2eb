package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;

/**
 * A publish did not meet its {@link AckPolicy}. The message names each failed region and why; {@link
 * #failures()} holds the causes (a timeout, the transport's error, a {@link SpoolFullException}, a
 * {@link MessageRejectedException}). {@link #spooled()} says which copies are nevertheless safe in the
 * spool and will be replayed: re-publishing with the same id is then safe, consumers skip duplicates;
 * {@link #delivery} tells when (or whether) such a copy reached its region's broker.
 */
public class PublishException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final String id;
  private final transient Map<RegionId, Throwable> failures;
  private final transient Set<RegionId> spooled;
  private final transient Set<RegionId> acknowledged;
  private final transient Map<RegionId, CompletableFuture<SinkAck>> deliveries;

  public PublishException(
      String id,
      AckPolicy policy,
      Map<RegionId, Throwable> failures,
      Set<RegionId> acknowledged,
      Set<RegionId> spooled) {
    this(id, policy, failures, acknowledged, spooled, Map.of());
  }

  /**
   * As above, with the delivery future of each spooled copy (see {@link #delivery}).
   *
   * @param deliveries per region of {@code spooled}, the future the spool's replay completes
   */
  public PublishException(
      String id,
      AckPolicy policy,
      Map<RegionId, Throwable> failures,
      Set<RegionId> acknowledged,
      Set<RegionId> spooled,
      Map<RegionId, CompletableFuture<SinkAck>> deliveries) {
    super(message(id, policy, failures, acknowledged, spooled), failures.values().stream().findFirst().orElse(null));
    this.id = id;
    this.failures = Map.copyOf(failures);
    this.spooled = Set.copyOf(spooled);
    this.acknowledged = Set.copyOf(acknowledged);
    this.deliveries = Map.copyOf(deliveries);
    failures.values().stream().skip(1).forEach(this::addSuppressed);
  }

  private static String message(
      String id,
      AckPolicy policy,
      Map<RegionId, Throwable> failures,
      Set<RegionId> acknowledged,
      Set<RegionId> spooled) {
    String why =
        failures.entrySet().stream()
            .sorted(Map.Entry.comparingByKey())
            .map(e -> "region " + e.getKey() + ": " + describe(e.getValue()))
            .collect(Collectors.joining("; "));
    return "publish of " + id + " did not meet ack policy " + policy + " (" + why
        + "); acknowledged by " + acknowledged + ", spooled for replay to " + spooled;
  }

  private static String describe(Throwable t) {
    return t.getClass().getSimpleName() + (t.getMessage() == null ? "" : " " + t.getMessage());
  }

  /** The Tandem id of the message. */
  public String id() {
    return id;
  }

  /** The regions that failed, with why. */
  public Map<RegionId, Throwable> failures() {
    return failures;
  }

  /** Regions whose copy is safe in the spool (replayed later) although the publish failed. */
  public Set<RegionId> spooled() {
    return spooled;
  }

  /** Regions whose broker acknowledged the copy. */
  public Set<RegionId> acknowledged() {
    return acknowledged;
  }

  /**
   * Completes when the spooled copy for {@code region} is on its broker (replayed). It completes
   * exceptionally with a {@link MessageRejectedException} if the region refused it on replay: the
   * publisher then removed it from the spool ({@code tandem.publisher.spool.rejected}, {@link
   * RegionListener#onCopyRejected}), so an empty spool does not mean the copy was delivered. Likewise
   * with a {@link SpoolRecordCorruptException} if its spool record was corrupt when replayed (removed
   * from the spool, {@code tandem.publisher.spool.corrupt}). It also completes exceptionally, with a
   * {@link PublisherClosedException}, if this publisher closes first (the copy stays in the spool).
   *
   * @throws IllegalArgumentException if {@code region} is not in {@link #spooled()}
   * @throws IllegalStateException if this exception was built without delivery futures
   */
  public CompletableFuture<SinkAck> delivery(RegionId region) {
    if (!spooled.contains(region)) {
      throw new IllegalArgumentException("the copy for region " + region + " was not spooled; spooled: "
          + spooled);
    }
    CompletableFuture<SinkAck> f = deliveries.get(region);
    if (f == null) {
      throw new IllegalStateException("no delivery future for the spooled copy of " + id + " in region "
          + region + " (this exception was not built by the publisher)");
    }
    return f;
  }
}
