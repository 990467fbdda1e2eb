package dev.tandem.publisher.internal;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.PartitionCountMismatchException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;

/**
 * One partition for both regions' copies of a record (not API; {@code TandemKafkaProducer} uses it):
 * the copies of a message must land in the same partition number in every region, because the
 * partition is the shard, the unit of ownership and of the idempotency store's replication. So a
 * topic is used only once its partition count is known and the same in every region that answers
 * ({@link PartitionCountMismatchException} otherwise), regions that did not answer are checked again
 * every {@code recheck} in the background (a later mismatch fails later sends), and the partition is
 * chosen once per record from that count: the record's own, Kafka's key hash
 * ({@link BuiltInPartitioner#partitionForKey}, what a plain producer picks), or for records without
 * key a partition kept for {@code stickyRecords} records before moving on.
 */
public final class TopicLayouts {

  /** Partition count of a topic, as checked across regions. */
  public static final class Layout {
    final int partitions;
    final Map<String, Integer> counts;
    final List<RegionId> unverified;
    final AtomicLong sticky = new AtomicLong();
    volatile long nextCheckNanos;
    volatile PartitionCountMismatchException mismatch;
    /** One TopicPartition per partition, made once: a send's RecordMetadata needs one per record. */
    private final TopicPartition[] topicPartitions;

    Layout(String topic, int partitions, Map<String, Integer> counts, List<RegionId> unverified,
        Duration recheck) {
      this.partitions = partitions;
      this.topicPartitions = new TopicPartition[partitions];
      for (int p = 0; p < partitions; p++) {
        topicPartitions[p] = new TopicPartition(topic, p);
      }
      this.counts = counts;
      this.unverified = unverified;
      this.nextCheckNanos = System.nanoTime() + recheck.toNanos();
    }

    /** The topic's partition {@code partition}, which {@link #partition} chose (so it exists). */
    public TopicPartition topicPartition(int partition) {
      return topicPartitions[partition];
    }
  }

  private final Supplier<Map<RegionId, Producer<byte[], byte[]>>> orderedProducers;
  private final Duration recheckInterval;
  private final int stickyRecords;
  private final Map<String, Layout> layouts = new ConcurrentHashMap<>();

  /**
   * @param orderedProducers the region producers in the publisher's region order (asked in that order)
   * @param recheckInterval how often regions that did not answer are asked again
   * @param stickyRecords records without key sent to one partition before the next
   */
  public TopicLayouts(Supplier<Map<RegionId, Producer<byte[], byte[]>>> orderedProducers,
      Duration recheckInterval, int stickyRecords) {
    this.orderedProducers = Objects.requireNonNull(orderedProducers, "orderedProducers");
    this.recheckInterval = Objects.requireNonNull(recheckInterval, "recheckInterval");
    this.stickyRecords = stickyRecords;
  }

  /** The topic's checked partition count; throws if regions disagree. */
  public Layout layout(String topic) {
    Layout known = layouts.get(topic); // a plain read on the per-record path
    Layout layout = known != null ? known : layouts.computeIfAbsent(topic, this::checkTopic);
    if (layout.mismatch != null) {
      throw layout.mismatch;
    }
    if (!layout.unverified.isEmpty() && System.nanoTime() - layout.nextCheckNanos > 0) {
      layout.nextCheckNanos = System.nanoTime() + recheckInterval.toNanos();
      CompletableFuture.runAsync(() -> recheck(topic, layout));
    }
    return layout;
  }

  /**
   * The partition of a record of {@code topic} under {@code layout}: {@code requested} if given (it
   * must exist), else the key's hash, else the sticky partition.
   */
  public int partition(String topic, Integer requested, byte[] key, Layout layout) {
    if (requested != null) {
      int p = requested;
      if (p < 0 || p >= layout.partitions) {
        throw new KafkaException("partition " + p + " of topic " + topic + " does not exist; it has "
            + layout.partitions + " partitions");
      }
      return p;
    }
    if (key != null) {
      return BuiltInPartitioner.partitionForKey(key, layout.partitions);
    }
    return (int) ((layout.sticky.getAndIncrement() / stickyRecords) % layout.partitions);
  }

  private Layout checkTopic(String topic) {
    Map<String, Integer> counts = new LinkedHashMap<>();
    List<RegionId> unverified = new ArrayList<>();
    KafkaException last = null;
    for (Map.Entry<RegionId, Producer<byte[], byte[]>> e : orderedProducers.get().entrySet()) {
      try {
        counts.put(e.getKey().name(), e.getValue().partitionsFor(topic).size());
      } catch (KafkaException ex) {
        unverified.add(e.getKey());
        last = ex;
      }
    }
    if (counts.isEmpty()) {
      throw new KafkaException("no region could tell the partitions of topic " + topic, last);
    }
    if (counts.values().stream().distinct().count() > 1) {
      throw new PartitionCountMismatchException(topic, counts);
    }
    return new Layout(topic, counts.values().iterator().next(), new ConcurrentHashMap<>(counts),
        new CopyOnWriteArrayList<>(unverified), recheckInterval);
  }

  private void recheck(String topic, Layout layout) {
    Map<RegionId, Producer<byte[], byte[]>> producers = orderedProducers.get();
    for (RegionId region : List.copyOf(layout.unverified)) {
      try {
        int n = producers.get(region).partitionsFor(topic).size();
        layout.counts.put(region.name(), n);
        layout.unverified.remove(region);
        if (n != layout.partitions) {
          layout.mismatch = new PartitionCountMismatchException(topic, new LinkedHashMap<>(layout.counts));
        }
      } catch (KafkaException e) {
        // still unreachable: checked again later
      }
    }
  }
}
