package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fetched batch whose processing throws (here the store's claimAll, once) is read again from its
 * first record and counted (MockConsumer, no cluster). The held-records path after a takeover, where
 * the records were lost before, is {@link ProcessingFailureTest}.
 */
class FailedBatchRedeliveryTest {

  @Test
  void aThrowingClaimLeavesTheBatchToBeReadAgain(@TempDir Path dir) {
    HandoffGateTest.ScriptedLog log = new HandoffGateTest.ScriptedLog();
    AtomicInteger thrown = new AtomicInteger();
    try (HandoffGateTest.Node n = HandoffGateTest.node(dir, log, Duration.ofMinutes(5),
        s -> ProcessingFailureTest.failingOnceOn(s, Set.of(0), thrown))) {
      n.loop().start();
      HandoffGateTest.rebalance(n.kafka(), List.of(HandoffGateTest.P0));
      for (long o = 0; o < 3; o++) {
        n.kafka().append(HandoffGateTest.record(o));
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> n.runs().size() == 3);
      assertEquals(1, thrown.get(), "the first claim failed");
      assertEquals(List.of("id-0", "id-1", "id-2"), n.runs(), "each ran once, after the failure");
      assertEquals(1.0, n.meters().find("tandem.consumer.processing.failures").tag("reason", "store")
          .counter().count());
      // the offset after the batch is committed once it ran
      await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().commits.stream()
          .anyMatch(c -> c.get(HandoffGateTest.P0).offset() == 3));
    }
  }
}
