package dev.tandem.publisher;

import dev.tandem.core.Envelope;
import dev.tandem.core.RegionId;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The outcome of one {@link DualPublisher#publish}: the envelope (and so the id) every copy carries,
 * the regions whose broker acknowledged their copy, and the regions whose copy was fsynced into the
 * local spool instead (to be replayed to that region when it recovers).
 *
 * <p>Every region appears in exactly one of {@link #acknowledged()} and {@link #spooled()}.
 */
public final class PublishResult {

  private final Envelope envelope;
  private final Map<RegionId, SinkAck> acknowledged;
  private final Set<RegionId> spooled;
  private final Map<RegionId, CompletableFuture<SinkAck>> deliveries;

  PublishResult(
      Envelope envelope,
      Map<RegionId, SinkAck> acknowledged,
      Set<RegionId> spooled,
      Map<RegionId, CompletableFuture<SinkAck>> deliveries) {
    this.envelope = envelope;
    this.acknowledged = Map.copyOf(acknowledged);
    this.spooled = Set.copyOf(spooled);
    this.deliveries = Map.copyOf(deliveries);
  }

  /** The Tandem id of every copy. */
  public String id() {
    return envelope.id();
  }

  /** The envelope every copy carries (signed if the publisher signs). */
  public Envelope envelope() {
    return envelope;
  }

  /** Regions whose broker acknowledged the copy, with the broker's acknowledgement. */
  public Map<RegionId, SinkAck> acknowledged() {
    return acknowledged;
  }

  /** Regions whose copy waits, fsynced, in the local spool. */
  public Set<RegionId> spooled() {
    return spooled;
  }

  /** The acknowledgement of {@code region}, if its broker acknowledged already. */
  public Optional<SinkAck> ack(RegionId region) {
    return Optional.ofNullable(acknowledged.get(region));
  }

  /**
   * Completes when {@code region}'s broker holds the copy: at once for an acknowledged region, after
   * the replay for a spooled one. It completes exceptionally if this publisher closes first (the copy
   * stays in the spool, and a publisher restarted on the same directory replays it). Used, for
   * example, by the store's replication window, which waits for the peer region's acknowledgement.
   */
  public CompletableFuture<SinkAck> delivery(RegionId region) {
    CompletableFuture<SinkAck> f = deliveries.get(region);
    if (f == null) {
      throw new IllegalArgumentException("no region " + region + " in this publish");
    }
    return f;
  }

  @Override
  public String toString() {
    return "PublishResult[id=" + envelope.id() + ", acknowledged=" + acknowledged.keySet()
        + ", spooled=" + spooled + "]";
  }
}
