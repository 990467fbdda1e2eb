package dev.tandem.publisher;

import dev.tandem.core.Envelope;
import dev.tandem.core.RegionId;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
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
  private final List<RegionId> regions;
  /** Per region (publisher order): the broker's acknowledgement, or null if the copy was spooled. */
  private final SinkAck[] acks;
  /**
   * Per region: the delivery future of a spooled copy (completed by the replay), else null; the whole
   * array is null when every copy was acknowledged (the common case allocates none).
   */
  private final CompletableFuture<SinkAck>[] pending;
  // the views below are built on first use (most callers never ask): benign races, equal results
  private volatile Map<RegionId, SinkAck> acknowledged;
  private volatile Set<RegionId> spooled;

  PublishResult(
      Envelope envelope,
      List<RegionId> regions,
      SinkAck[] acks,
      CompletableFuture<SinkAck>[] pending) {
    this.envelope = envelope;
    this.regions = regions;
    this.acks = acks;
    this.pending = pending;
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
    Map<RegionId, SinkAck> m = acknowledged;
    if (m == null) {
      Map<RegionId, SinkAck> built = new LinkedHashMap<>();
      for (int i = 0; i < acks.length; i++) {
        if (acks[i] != null) {
          built.put(regions.get(i), acks[i]);
        }
      }
      m = Map.copyOf(built);
      acknowledged = m;
    }
    return m;
  }

  /** Regions whose copy waits, fsynced, in the local spool. */
  public Set<RegionId> spooled() {
    Set<RegionId> s = spooled;
    if (s == null) {
      Set<RegionId> built = new HashSet<>();
      for (int i = 0; i < acks.length; i++) {
        if (acks[i] == null) {
          built.add(regions.get(i));
        }
      }
      s = Set.copyOf(built);
      spooled = s;
    }
    return s;
  }

  /** The acknowledgement of {@code region}, if its broker acknowledged already. */
  public Optional<SinkAck> ack(RegionId region) {
    int i = regions.indexOf(region);
    return i < 0 ? Optional.empty() : Optional.ofNullable(acks[i]);
  }

  /** The acknowledgement of the first region (publisher order) that acknowledged, or null. */
  SinkAck firstAck() {
    for (SinkAck a : acks) {
      if (a != null) {
        return a;
      }
    }
    return null;
  }

  /**
   * Completes when {@code region}'s broker holds the copy: at once for an acknowledged region, after
   * the replay for a spooled one. It completes exceptionally with a {@link MessageRejectedException}
   * if the region refused the copy on replay, with a {@link SpoolRecordCorruptException} if its spool
   * record was corrupt when replayed (both removed from the spool, so not delivered), and with a
   * {@link PublisherClosedException} if this publisher closes first (the copy stays in the spool, and a
   * publisher restarted on the same directory replays it). Used, for
   * example, by the store's replication window, which waits for the peer region's acknowledgement.
   */
  public CompletableFuture<SinkAck> delivery(RegionId region) {
    int i = regions.indexOf(region);
    if (i < 0) {
      throw new IllegalArgumentException("no region " + region + " in this publish");
    }
    return acks[i] != null ? CompletableFuture.completedFuture(acks[i]) : pending[i];
  }

  @Override
  public String toString() {
    return "PublishResult[id=" + envelope.id() + ", acknowledged=" + acknowledged().keySet()
        + ", spooled=" + spooled() + "]";
  }
}
