package dev.tandem.testkit;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Kafka {@link MockProducer}s for tests without brokers. */
public final class MockProducers {

  private MockProducers() {}

  /**
   * A byte-array mock producer whose one-node cluster knows {@code topic} with {@code partitions}
   * partitions; with {@code autoComplete} every send is acknowledged at once, else the test
   * completes or fails each send by hand.
   */
  public static MockProducer<byte[], byte[]> of(String topic, int partitions,
      boolean autoComplete) {
    Node node = new Node(0, "localhost", 9092);
    List<PartitionInfo> parts = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      parts.add(new PartitionInfo(topic, p, node, new Node[] {node}, new Node[] {node}));
    }
    Cluster cluster = new Cluster("c", List.of(node), parts, Set.of(), Set.of());
    return new MockProducer<>(cluster, autoComplete, null, new ByteArraySerializer(),
        new ByteArraySerializer());
  }
}
