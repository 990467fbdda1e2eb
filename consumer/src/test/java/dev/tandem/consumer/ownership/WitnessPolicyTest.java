package dev.tandem.consumer.ownership;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.witness.KafkaTopicWitness;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The WITNESS policy's decisions over a real Kafka witness (a third cluster). Each region has its
 * own monotonic clock, moved by the test, so lease expiry is exact; the renewer thread runs for real.
 */
class WitnessPolicyTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static final Duration LEASE = Duration.ofSeconds(8);
  static final Duration MARGIN = Duration.ofSeconds(2);
  static final Duration RENEW = Duration.ofMillis(200);

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
    String t = "policy-witness-" + (++topics);
    witnessCluster.createTopic(t, 1);
    return t;
  }

  private static KafkaTopicWitness witness(String topic, AtomicLong clock) {
    return KafkaTopicWitness.builder().bootstrapServers(witnessCluster.bootstrapServers())
        .topic(topic).lease(LEASE).margin(MARGIN).requestTimeout(Duration.ofSeconds(5))
        .nanoTime(clock::get).build();
  }

  /** The region's replica's view of the leases, set by the test. */
  static final class Leases {
    final Map<Integer, ShardLease> map = new ConcurrentHashMap<>();

    Leases set(int shard, long epoch, RegionId owner) {
      map.put(shard, ShardLease.of(shard, epoch, owner, 1));
      return this;
    }

    ShardLease get(int shard) {
      ShardLease l = map.get(shard);
      if (l == null) {
        throw new IllegalStateException("shard " + shard + " not restored here");
      }
      return l;
    }
  }

  private static WitnessPolicy policy(KafkaTopicWitness w, AtomicLong clock, RegionId region,
      SimpleMeterRegistry meters, Leases leases) {
    WitnessPolicy p = WitnessPolicy.builder(w).renewEvery(RENEW).nanoTime(clock::get).build();
    p.attach(region, meters, leases::get);
    return p;
  }

  private static ShardObservation silent(int shard, long epoch, RegionId owner, RegionId self,
      Duration silence) {
    return new ShardObservation(shard, ShardLease.of(shard, epoch, owner, 1), self, silence,
        Duration.ZERO, silence);
  }

  private static double count(SimpleMeterRegistry m, String kind, String outcome) {
    return m.get("tandem.consumer.witness.requests").tag("kind", kind).tag("outcome", outcome)
        .counter().count();
  }

  @Test
  void anOwnerProcessesOnlyOnceTheWitnessGrantedItAndKeepsItByRenewing() {
    String topic = newTopic();
    AtomicLong clock = new AtomicLong(5_000);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Leases leases = new Leases().set(0, 0, A);
    try (KafkaTopicWitness w = witness(topic, clock);
        WitnessPolicy p = policy(w, clock, A, meters, leases)) {
      assertFalse(p.mayProcess(0, 0), "no grant yet");
      await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5))
          .until(() -> !p.mayProcess(0, 0) && count(meters, "renew", "granted") == 0);
      // only once the owner's loop says it runs (and its broker answers) is the lease requested
      p.ownerAlive(0);
      await().atMost(Duration.ofSeconds(30)).until(() -> p.mayProcess(0, 0));
      // time passes in steps shorter than the lease; the renewer keeps the grant fresh
      for (int i = 0; i < 4; i++) {
        double before = count(meters, "renew", "granted");
        clock.addAndGet(LEASE.minus(MARGIN).toNanos() / 2);
        p.ownerAlive(0);
        await().atMost(Duration.ofSeconds(30)).until(() -> count(meters, "renew", "granted") > before);
        assertTrue(p.mayProcess(0, 0), "renewed grant " + i);
      }
      assertEquals(1.0, meters.get("tandem.consumer.witness.held").gauge().value());
      // the lease moved to B in this replica: no more renewals, the grant is forgotten
      leases.set(0, 1, B);
      await().atMost(Duration.ofSeconds(30)).until(() -> !p.holds(0));
      double renewed = count(meters, "renew", "granted");
      clock.addAndGet(LEASE.toNanos());
      assertFalse(p.mayProcess(0, 0));
      assertEquals(renewed, count(meters, "renew", "granted"), "never renewed for another owner");

      // the lease is ours again, but the owner's loop has gone quiet (its broker is down): a whole
      // lease without ownerAlive and the renewer lets the grant lapse, so the peer can take over
      leases.set(0, 2, A);
      p.ownerAlive(0);
      await().atMost(Duration.ofSeconds(30)).until(() -> p.mayProcess(0, 2));
      clock.addAndGet(LEASE.toNanos() + 1);
      // a renewal already in flight may still land; then no more for a second (5 renewer rounds)
      double[] seen = {count(meters, "renew", "granted")};
      await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(10)).until(() -> {
        double now = count(meters, "renew", "granted");
        boolean same = now == seen[0];
        seen[0] = now;
        return same;
      });
      clock.addAndGet(LEASE.toNanos()); // past any grant that last in-flight renewal could carry
      assertFalse(p.mayProcess(0, 2), "no renewal for a silent owner: the grant ran out");
      await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5))
          .until(() -> !p.mayProcess(0, 2));
    }
  }

  @Test
  void aFollowerWaitsForSilenceIsRefusedWhileTheOwnerRenewsAndTakesOverOnceTheLeaseRanOut() {
    String topic = newTopic();
    AtomicLong clockA = new AtomicLong(1_000);
    AtomicLong clockB = new AtomicLong(90_000_000_000L);
    SimpleMeterRegistry metersA = new SimpleMeterRegistry();
    SimpleMeterRegistry metersB = new SimpleMeterRegistry();
    Leases leasesB = new Leases().set(1, 0, A);
    try (KafkaTopicWitness wa = witness(topic, clockA); KafkaTopicWitness wb = witness(topic, clockB);
        WitnessPolicy a = policy(wa, clockA, A, metersA, new Leases().set(1, 0, A));
        WitnessPolicy b = policy(wb, clockB, B, metersB, leasesB)) {
      p(a);
      // silence shorter than acquireAfter (the lease): B does not even ask
      assertEquals(Optional.empty(), b.shouldTakeOver(silent(1, 0, A, B, LEASE.minusSeconds(1))));
      assertEquals(0.0, count(metersB, "claim", "refused") + count(metersB, "claim", "granted"));
      // a partition: B sees A silent, but A still renews at the witness → refused, no takeover
      assertEquals(Optional.empty(), b.shouldTakeOver(silent(1, 0, A, B, LEASE.plusSeconds(5))));
      assertEquals(1.0, count(metersB, "claim", "refused"));
      assertEquals(Optional.empty(), b.shouldTakeOver(silent(1, 0, A, B, LEASE.plusSeconds(5))),
          "asked again within renewEvery: not even sent");
      assertEquals(1.0, count(metersB, "claim", "refused"));

      // A stops renewing (its region is gone); B reads A's last renewal now and counts from here
      a.close();
      assertFalse(wb.acquire(1, B, 1).granted());
      clockA.addAndGet(LEASE.minus(MARGIN).toNanos());
      assertFalse(a.holds(1));
      assertFalse(a.mayProcess(1, 0), "an owner never processes past its grant");
      // B waits lease + margin on its own clock from the last renewal it read
      clockB.addAndGet(LEASE.plus(MARGIN).plusMillis(1).toNanos());
      Optional<TakeoverDecision> d = b.shouldTakeOver(silent(1, 0, A, B, LEASE.plusSeconds(20)));
      assertTrue(d.isPresent(), "granted once A's lease ran out");
      assertEquals(TakeoverDecision.Basis.GRANTED, d.get().basis());
      assertTrue(d.get().reason().contains("epoch 1"), d.get().reason());
      leasesB.set(1, 1, B); // what ShardOwnership.takeOver writes next
      assertTrue(b.mayProcess(1, 1), "the new owner holds the grant it was given");
      assertEquals(1.0, count(metersB, "claim", "granted"));
      await().atMost(Duration.ofSeconds(30)).until(() -> count(metersB, "renew", "granted") >= 1);
      assertTrue(b.holds(1), "and renews it");
    }
  }

  @Test
  void aLostRenewalStopsTheOwnerAndAReleaseLetsThePeerClaimWithoutWaiting() {
    String topic = newTopic();
    AtomicLong clock = new AtomicLong(7);
    SimpleMeterRegistry metersA = new SimpleMeterRegistry();
    SimpleMeterRegistry metersB = new SimpleMeterRegistry();
    // A's replica never learns of the handover's new lease: it still says A owns epoch 4
    Leases leasesA = new Leases().set(2, 4, A);
    Leases leasesB = new Leases().set(2, 5, B);
    try (KafkaTopicWitness wa = witness(topic, clock); KafkaTopicWitness wb = witness(topic, clock);
        WitnessPolicy a = policy(wa, clock, A, metersA, leasesA);
        WitnessPolicy b = policy(wb, clock, B, metersB, leasesB)) {
      a.ownerAlive(2);
      await().atMost(Duration.ofSeconds(30)).until(() -> a.mayProcess(2, 4));
      // planned handover: A gives the lease up; B (now the owner at epoch 5) is granted at once
      a.released(2);
      assertFalse(a.holds(2), "released: A no longer holds it");
      b.ownerAlive(2);
      await().atMost(Duration.ofSeconds(30)).until(() -> b.mayProcess(2, 5));
      assertEquals(1.0, metersA.get("tandem.consumer.witness.releases").counter().count());
      // A, still believing it owns epoch 4, is refused: it must not process
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        a.ownerAlive(2);
        assertFalse(a.mayProcess(2, 4), "A never regains epoch 4 once it released it");
        return count(metersA, "renew", "refused") >= 1;
      });
      assertFalse(a.mayProcess(2, 4));
    }
  }

  @Test
  void aWitnessUnreachableStopsTheOwnerWithinItsGrant() {
    String topic = newTopic();
    AtomicLong clock = new AtomicLong(3);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    try (KafkaTopicWitness w = witness(topic, clock);
        WitnessPolicy p = policy(w, clock, A, meters, new Leases().set(3, 0, A))) {
      p.ownerAlive(3);
      await().atMost(Duration.ofSeconds(30)).until(() -> p.mayProcess(3, 0));
      witnessCluster.stopBroker();
      try {
        await().atMost(Duration.ofSeconds(60)).until(() -> {
          p.ownerAlive(3);
          return count(meters, "renew", "unavailable") >= 1;
        });
        assertTrue(p.mayProcess(3, 0), "still within the grant: unchanged");
        clock.addAndGet(LEASE.minus(MARGIN).toNanos());
        assertFalse(p.mayProcess(3, 0), "the grant ran out on the owner's own clock");
      } finally {
        witnessCluster.startBroker();
      }
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        p.ownerAlive(3); // the owner's own loop keeps running throughout
        return p.mayProcess(3, 0);
      });
    }
  }

  @Test
  void onePolicyServesOneRegion() {
    String topic = newTopic();
    AtomicLong clock = new AtomicLong();
    try (KafkaTopicWitness w = witness(topic, clock);
        WitnessPolicy p = policy(w, clock, A, new SimpleMeterRegistry(), new Leases())) {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> p.attach(B, new SimpleMeterRegistry(), new Leases()::get));
      assertTrue(e.getMessage().contains("region-a"), e.getMessage());
      assertThrows(IllegalArgumentException.class,
          () -> WitnessPolicy.builder(w).renewEvery(LEASE).build());
    }
  }

  /** A takes shard 1 at epoch 0 and holds it. */
  private static void p(WitnessPolicy a) {
    a.ownerAlive(1);
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      a.ownerAlive(1); // its loop runs: the renewer keeps the grant fresh
      return a.mayProcess(1, 0);
    });
  }
}
