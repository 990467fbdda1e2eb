package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The follower's held-records gauge ({@code tandem.consumer.follower.held}) and {@link
 * TandemKafkaConsumer#heldRecords()} say what the follower holds now: nothing once the loop stopped
 * (its held copies are not committed; the next holder reads them again), and the sum of every
 * running loop of the topic when several share one registry (a region object making several
 * consumers of a topic). Fast: MockConsumers, an in-memory replication network, a ManualClock.
 */
class HeldRecordsGaugeTest extends MockRegionsFixture {

  /** A region-b instance (region-a owns partition 0, so b follows it), loop meters in {@code meters}. */
  Node follower(String instance, MeterRegistry meters) {
    return node(B, instance, false, 100, meters);
  }

  /**
   * Starts the loop, gives it partition 0 with the copies at {@code offsets}; waits for the hold.
   * The copies are in the log before the assignment, so the first poll brings them all: a follower
   * pauses a partition once it holds a copy of it, so a copy appended after that poll would never be
   * fetched (appended one by one after the assignment, the hold raced the loop's 20 ms polls).
   */
  static void holding(Node f, long... offsets) {
    for (long o : offsets) {
      f.kafka().append(HandoffGateTest.record(o));
    }
    f.loop().start();
    HandoffGateTest.rebalance(f.kafka(), List.of(P0));
    await().atMost(WAIT).until(() -> f.kafka().assignment().contains(P0));
    await().atMost(WAIT).until(() -> f.loop().heldRecords() == offsets.length);
  }

  static double gauge(MeterRegistry meters) {
    return meters.get("tandem.consumer.follower.held").gauge().value();
  }

  @Test
  void aStoppedFollowerReportsNoHeldRecords() {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Node b = follower("b-1", meters);
    holding(b, 0, 1);
    assertEquals(2.0, gauge(meters));

    b.loop().close();
    assertEquals(0L, b.loop().heldRecords(), "a stopped loop holds nothing");
    assertEquals(0.0, gauge(meters), "the gauge of a stopped loop");
  }

  @Test
  void theGaugeIsTheSumOfTheRunningLoopsOfTheTopicInOneRegistry() {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Node b1 = follower("b-1", meters);
    Node b2 = follower("b-2", meters);
    holding(b1, 0);
    holding(b2, 0, 1, 2);
    assertEquals(4.0, gauge(meters), "b-1 holds 1 and b-2 holds 3");

    b2.loop().close();
    assertEquals(1.0, gauge(meters), "only b-1 runs, holding 1");
    b1.loop().close();
    assertEquals(0.0, gauge(meters));
  }
}
