package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.util.Objects;

/**
 * A broker's acknowledgement of one copy in one region.
 *
 * @param region the region whose broker acknowledged
 * @param destination topic (Kafka) or entity (Service Bus) name
 * @param shard the partition (Kafka) or shard the copy went to
 * @param position the broker's position of the copy: Kafka offset, Service Bus sequence number, or
 *     {@code -1} when the transport reports none
 * @param timestamp the broker's (or producer's) timestamp of the copy, epoch millis, or {@code -1}
 */
public record SinkAck(RegionId region, String destination, int shard, long position, long timestamp) {

  public SinkAck {
    Objects.requireNonNull(region, "region");
    Objects.requireNonNull(destination, "destination");
  }
}
