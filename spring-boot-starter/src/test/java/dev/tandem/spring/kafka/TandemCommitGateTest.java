package dev.tandem.spring.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.internals.AutoOffsetResetStrategy;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** Which calls of the container's consumer wait for the changelog barrier (no cluster needed). */
class TandemCommitGateTest {

  @Test
  void commitsWaitForTheBarrierOfTheCommittedShardsAndReadsDoNot() {
    List<Set<Integer>> awaited = new ArrayList<>();
    MockConsumer<String, String> mock = new MockConsumer<>(AutoOffsetResetStrategy.EARLIEST.name());
    TopicPartition p3 = new TopicPartition("orders", 3);
    TopicPartition p5 = new TopicPartition("orders", 5);
    mock.assign(List.of(p3, p5));
    Consumer<String, String> gated = new TandemCommitGate<String, String>(null, awaited::add).apply(mock);

    gated.commitSync(Map.of(p3, new OffsetAndMetadata(7)));
    assertEquals(List.of(Set.of(3)), awaited, "commitSync(offsets) waits for shard 3 only");

    // committed(...) only reads the group's offsets: nothing to wait for
    gated.committed(Set.of(p3, p5));
    assertEquals(1, awaited.size(), "committed(...) is a read and must not wait: " + awaited);

    gated.commitAsync();
    assertEquals(Set.of(3, 5), awaited.get(1), "commitAsync() commits every assigned partition");
  }
}
