package dev.tandem.consumer.kafka.internal;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.common.TopicPartition;

/**
 * The partitions Kafka assigned to this instance, where this instance began in each (the first offset
 * it fetched since the assignment: a revoke hands off from there when nothing was committed), and per
 * shard the position the lease heartbeats carry (the next offset to run: a follower's NO_PROGRESS
 * check reads it). The set and the start offsets belong to the loop thread; the positions are read by
 * the background lease renewer too.
 */
public final class AssignedPartitions {

  private final Set<TopicPartition> assigned = new HashSet<>();
  private final Map<TopicPartition, Long> startOffsets = new HashMap<>();
  private final Map<Integer, Long> positions = new ConcurrentHashMap<>();

  /** Assigned by a rebalance. */
  public void add(TopicPartition tp) {
    assigned.add(tp);
  }

  /** Given up (revoked or lost): its start offset and position go with it. */
  public void remove(TopicPartition tp) {
    assigned.remove(tp);
    startOffsets.remove(tp);
    positions.remove(tp.partition());
  }

  public boolean contains(TopicPartition tp) {
    return assigned.contains(tp);
  }

  public boolean isEmpty() {
    return assigned.isEmpty();
  }

  /** A copy of the assigned partitions (the loop may give some up while it walks them). */
  public List<TopicPartition> all() {
    return List.copyOf(assigned);
  }

  /** The assigned partitions' shards (partition n is shard n). */
  public Set<Integer> shards() {
    Set<Integer> shards = new TreeSet<>();
    for (TopicPartition tp : assigned) {
      shards.add(tp.partition());
    }
    return shards;
  }

  /** Records of {@code tp} were fetched from {@code offset}: the first such offset is kept. */
  public void fetched(TopicPartition tp, long offset) {
    startOffsets.putIfAbsent(tp, offset);
  }

  /** The first offset fetched since {@code tp} was assigned here, or null (none yet). */
  public Long startOffset(TopicPartition tp) {
    return startOffsets.get(tp);
  }

  /** The shard got to {@code next} (the next offset to run); any thread reads it. */
  public void advance(int shard, long next) {
    positions.put(shard, next);
  }

  /** The position the heartbeats of {@code shard} carry (-1: none yet). Any thread. */
  public long position(int shard) {
    return positions.getOrDefault(shard, -1L);
  }

}
