package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.util.concurrent.CompletableFuture;

/**
 * SPI: one region's transport (a Kafka producer for one cluster, a Service Bus sender for one
 * namespace). {@link DualPublisher} owns one sink per region and calls it from its fan-out and from its
 * spool replayer.
 *
 * <p>Contract:
 *
 * <ul>
 *   <li>{@link #send} completes only when the region's broker acknowledged the copy durably (Kafka:
 *       the producer callback under {@code acks=all}; Service Bus: the send call returned), never while
 *       the copy sits in a client buffer. It completes exceptionally with {@link
 *       MessageRejectedException} when the message itself is refused (not worth replaying), and with
 *       any other exception when the region failed (the copy is then spooled and replayed).
 *   <li>Sends issued one after another from one thread reach the broker in that order for the same
 *       {@link OutboundMessage#shard()} (Kafka: idempotent producer; Service Bus: sequential sends).
 *       {@link DualPublisher} relies on this for per-partition order.
 *   <li>The sink writes the {@link OutboundMessage#envelope()} headers (e.g. via {@link
 *       KafkaEnvelopeHeaders}) and the message's other headers unchanged. A Service Bus sink also sets
 *       {@code MessageId} to the envelope id, and takes its shard from the message (computed by the
 *       caller with {@code Shards.forKey(sessionId or id, n)}); it has no partitions of its own.
 *   <li>{@code send} must not block for long (it is called under the publisher's ordering lock):
 *       queue the copy and complete the future from the transport's callback thread.
 *   <li>Futures may be completed on the transport's I/O thread; work chained on them must be short.
 * </ul>
 */
public interface RegionalSink extends AutoCloseable {

  /** The region this sink writes to. */
  RegionId region();

  /** Sends one copy; see the interface contract for when the future completes. */
  CompletableFuture<SinkAck> send(OutboundMessage message);

  /**
   * A cheap health probe the replayer calls while a region's circuit is half-open and its spool holds
   * nothing to replay (otherwise the replay itself is the probe). Completes normally when the region
   * answers. The default reports healthy and leaves probing to the next real send.
   */
  default CompletableFuture<Void> probe() {
    return CompletableFuture.completedFuture(null);
  }

  /** Blocks until every copy sent so far is acknowledged or failed. */
  void flush();

  /** Releases the transport (a sink built from an existing client closes it only if it owns it). */
  @Override
  void close();
}
