package dev.tandem.publisher;

import java.util.Map;
import org.apache.kafka.common.KafkaException;

/**
 * A topic has different partition counts in two regions, so one partition number cannot mean the
 * same shard everywhere. Raised by {@link TandemKafkaProducer} at the first send to the topic (or as
 * soon as a region that was unreachable then answers); fix the topics, nothing is sent meanwhile.
 */
public class PartitionCountMismatchException extends KafkaException {

  private static final long serialVersionUID = 1L;

  private final String topic;
  private final transient Map<String, Integer> counts;

  public PartitionCountMismatchException(String topic, Map<String, Integer> countsByRegion) {
    super("topic " + topic + " has different partition counts per region: " + countsByRegion
        + "; Tandem computes the partition once for every region, so the counts must be equal");
    this.topic = topic;
    this.counts = Map.copyOf(countsByRegion);
  }

  /** The topic. */
  public String topic() {
    return topic;
  }

  /** Partition count per region name. */
  public Map<String, Integer> counts() {
    return counts;
  }
}
