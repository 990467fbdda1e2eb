package dev.tandem.consumer.witness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TestRegions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Kafka witness against a real third cluster; each contender has its own monotonic clock. */
class KafkaTopicWitnessTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static final Duration LEASE = Duration.ofSeconds(10);
  static final Duration MARGIN = Duration.ofSeconds(2);

  static KafkaRegion witnessCluster;
  static int topics;

  @BeforeAll
  static void start() {
    witnessCluster = KafkaRegion.start("witness");
  }

  @AfterAll
  static void stop() {
    witnessCluster.close();
  }

  private static String newTopic() {
    String t = "witness-" + (++topics);
    witnessCluster.createTopic(t, 1);
    return t;
  }

  private static KafkaTopicWitness contender(String topic, AtomicLong clock) {
    return KafkaTopicWitness.builder()
        .bootstrapServers(witnessCluster.bootstrapServers())
        .topic(topic)
        .lease(LEASE)
        .margin(MARGIN)
        .requestTimeout(Duration.ofSeconds(5))
        .nanoTime(clock::get)
        .build();
  }

  @Test
  void twoContendersRacingForOneEpochExactlyOneHoldsIt() throws Exception {
    String topic = newTopic();
    AtomicLong clockA = new AtomicLong();
    AtomicLong clockB = new AtomicLong();
    try (KafkaTopicWitness a = contender(topic, clockA); KafkaTopicWitness b = contender(topic, clockB)) {
      for (int shard = 0; shard < 6; shard++) {
        int s = shard;
        CompletableFuture<WitnessGrant> ga = CompletableFuture.supplyAsync(() -> a.acquire(s, A, 1));
        CompletableFuture<WitnessGrant> gb = CompletableFuture.supplyAsync(() -> b.acquire(s, B, 1));
        WitnessGrant x = ga.get();
        WitnessGrant y = gb.get();
        assertNotEquals(x.granted(), y.granted(), "exactly one grant for shard " + s + ": " + x + " " + y);
        RegionId winner = x.granted() ? A : B;
        assertEquals(winner, x.granted() ? x.holder() : y.holder());
        assertEquals(winner, (x.granted() ? y : x).holder(), "the refusal names the holder");
      }
    }
  }

  @Test
  void holderRenewsAndAContenderWaitsOutLeasePlusMarginOnItsOwnClock() {
    String topic = newTopic();
    AtomicLong clockA = new AtomicLong(1_000);
    AtomicLong clockB = new AtomicLong(77_000_000_000L); // clocks of two machines share no origin
    try (KafkaTopicWitness a = contender(topic, clockA); KafkaTopicWitness b = contender(topic, clockB)) {
      WitnessGrant g = a.acquire(0, A, 1);
      assertTrue(g.granted());
      assertEquals(clockA.get() + LEASE.minus(MARGIN).toNanos(), g.validUntilNanos());

      // B reads the claim; while A keeps renewing, B is refused however much time passes
      assertFalse(b.acquire(0, B, 2).granted());
      for (int i = 0; i < 3; i++) {
        clockA.addAndGet(Duration.ofSeconds(5).toNanos());
        clockB.addAndGet(Duration.ofSeconds(5).toNanos());
        assertTrue(a.acquire(0, A, 1).granted(), "renewal " + i);
        WitnessGrant refused = b.acquire(0, B, 2);
        assertFalse(refused.granted());
        assertEquals(A, refused.holder());
      }

      // A falls silent. Its grant lapses at lease - margin on its clock; B waits lease + margin on its own.
      long aValidUntil = a.acquire(0, A, 1).validUntilNanos();
      assertFalse(b.acquire(0, B, 2).granted(), "B reads A's last renewal now, and counts from now");
      clockA.addAndGet(LEASE.minus(MARGIN).toNanos());
      assertFalse(new WitnessGrant(true, A, 1, aValidUntil).validAt(clockA.get()), "A stops trusting its grant");
      clockB.addAndGet(LEASE.toNanos());
      assertFalse(b.acquire(0, B, 2).granted(), "lease elapsed but not the margin");
      clockB.addAndGet(MARGIN.toNanos());
      WitnessGrant taken = b.acquire(0, B, 2);
      assertTrue(taken.granted());
      assertEquals(2, taken.epoch());

      // the old holder's renewal of epoch 1 no longer counts
      WitnessGrant late = a.acquire(0, A, 1);
      assertFalse(late.granted());
      assertEquals(B, late.holder());
      assertEquals(2, late.epoch());
    }
  }

  @Test
  void releaseHandsTheLeaseOverAtOnceAndTheFirstClaimOfAnEpochWins() {
    String topic = newTopic();
    AtomicLong clock = new AtomicLong();
    try (KafkaTopicWitness a = contender(topic, clock); KafkaTopicWitness b = contender(topic, clock)) {
      assertTrue(a.acquire(3, A, 4).granted());
      a.release(3, A);
      assertTrue(b.acquire(3, B, 5).granted(), "a planned handover needs no timeout");
      assertFalse(a.acquire(3, A, 5).granted(), "a second claim of epoch 5 loses");
      assertEquals(B, a.holder(3));
    }
  }

  @Test
  void anUnreachableWitnessGrantsNothingAndSaysSo() {
    String topic = newTopic();
    AtomicLong clock = new AtomicLong();
    List<String> errors = new ArrayList<>();
    try (KafkaTopicWitness a = contender(topic, clock)) {
      assertTrue(a.acquire(0, A, 1).granted());
      witnessCluster.stopBroker();
      try {
        WitnessUnavailableException e = assertThrows(WitnessUnavailableException.class, () -> a.acquire(0, A, 1));
        errors.add(e.getMessage());
      } finally {
        witnessCluster.startBroker();
      }
      assertTrue(errors.get(0).contains(topic), errors.get(0));
    }
  }
}
