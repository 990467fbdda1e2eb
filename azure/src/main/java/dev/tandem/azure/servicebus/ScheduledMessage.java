package dev.tandem.azure.servicebus;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.PublishResult;
import dev.tandem.publisher.SinkAck;
import java.time.OffsetDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A message scheduled in every region: its Tandem id, the enqueue time, and each region's sequence
 * number, which {@code cancelScheduledMessage} needs to cancel every copy.
 *
 * <p>A region that was down at scheduling time holds its copy in the publisher's spool; its sequence
 * number is known once the copy is replayed ({@link #sequenceNumber(RegionId)} completes then). To
 * cancel later from another process, persist {@link #knownSequenceNumbers()} once every region is
 * known ({@link #allKnown()}).
 */
public final class ScheduledMessage {

  private final PublishResult result;
  private final OffsetDateTime enqueueAt;
  private final List<RegionId> regions;

  ScheduledMessage(PublishResult result, OffsetDateTime enqueueAt, List<RegionId> regions) {
    this.result = result;
    this.enqueueAt = enqueueAt;
    this.regions = List.copyOf(regions);
  }

  /** The Tandem id (and {@code MessageId}) of every copy. */
  public String id() {
    return result.id();
  }

  /** When the copies are enqueued. */
  public OffsetDateTime scheduledEnqueueTime() {
    return enqueueAt;
  }

  /** The publish outcome (which regions acknowledged, which copies wait in the spool). */
  public PublishResult publishResult() {
    return result;
  }

  /** The regions of this message. */
  public List<RegionId> regions() {
    return regions;
  }

  /** The sequence numbers known now (regions whose namespace acknowledged the scheduled copy). */
  public Map<RegionId, Long> knownSequenceNumbers() {
    Map<RegionId, Long> known = new LinkedHashMap<>();
    for (RegionId r : regions()) {
      CompletableFuture<SinkAck> d = result.delivery(r);
      if (d.isDone() && !d.isCompletedExceptionally()) {
        known.put(r, d.join().position());
      }
    }
    return known;
  }

  /** Whether every region's sequence number is known. */
  public boolean allKnown() {
    return knownSequenceNumbers().size() == regions().size();
  }

  /** Completes with {@code region}'s sequence number when its copy is scheduled there. */
  public CompletableFuture<Long> sequenceNumber(RegionId region) {
    return result.delivery(region).thenApply(SinkAck::position);
  }

  @Override
  public String toString() {
    return "ScheduledMessage[id=" + id() + ", at=" + enqueueAt + ", sequenceNumbers="
        + knownSequenceNumbers() + "]";
  }
}
