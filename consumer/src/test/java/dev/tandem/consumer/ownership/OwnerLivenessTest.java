package dev.tandem.consumer.ownership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.InMemoryReplicationLog;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one owner-liveness protocol ({@link OwnerLiveness}) on a manual clock, a real store and an
 * in-memory changelog: what both of its callers relied on before they shared it (the Kafka poll loop
 * with its background renewer, and the function app's heartbeat timer), pinned here once.
 */
class OwnerLivenessTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static final Duration L = Duration.ofSeconds(6);
  static final Set<Integer> OURS = Set.of(0, 2); // sorted([a, b])[shard % 2] = a

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_000_000);
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  /** region-a's changelog; region-b never joins, so its changelog never answers. */
  final InMemoryReplicationLog.Network network = InMemoryReplicationLog.network(clock);
  InMemoryReplicationLog changelog;
  final List<Integer> alive = new CopyOnWriteArrayList<>();
  IdempotencyStore store;
  ShardOwnership ownership;

  final AtomicBoolean changelogUp = new AtomicBoolean(true);
  final AtomicBoolean triggerUp = new AtomicBoolean(true);
  final AtomicInteger changelogAsked = new AtomicInteger();
  final AtomicInteger triggerAsked = new AtomicInteger();
  final BrokerProbe changelogProbe = BrokerProbe.of("changelog", t -> {
    changelogAsked.incrementAndGet();
    return changelogUp.get();
  });
  final BrokerProbe triggerProbe = BrokerProbe.of("servicebus", t -> {
    triggerAsked.incrementAndGet();
    if (!triggerUp.get()) {
      throw new IllegalStateException("namespace unreachable");
    }
    return true;
  });

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(A).instance("a-1").directory(dir).build();
    changelog = network.join(store);
    changelog.assign(Set.of(0, 1, 2, 3));
    OwnershipPolicy automatic =
        OwnershipPolicy.automatic(L, Duration.ofSeconds(3), Duration.ofSeconds(60));
    OwnershipPolicy recording = new OwnershipPolicy() {
      @Override
      public Optional<TakeoverDecision> shouldTakeOver(ShardObservation o) {
        return automatic.shouldTakeOver(o);
      }

      @Override
      public void ownerAlive(int shard) {
        alive.add(shard);
      }

      @Override
      public String name() {
        return "recording";
      }
    };
    ownership = ShardOwnership.builder().region(A).regions(List.of(A, B)).store(store)
        .replicationLog(changelog).policy(recording).revalidateAfter(L).clock(clock)
        .meterRegistry(meters).build();
  }

  @AfterEach
  void close() {
    changelog.close();
    store.close();
  }

  OwnerLiveness.Builder liveness() {
    return OwnerLiveness.builder(ownership).probe(changelogProbe).probe(triggerProbe).clock(clock)
        .meterRegistry(meters);
  }

  long heartbeatOf(int shard) {
    return store.lease(shard).map(l -> l.heartbeatHlc()).orElse(-1L);
  }

  void tick(long millis) {
    clock.advance(Duration.ofMillis(millis));
  }

  @Test
  void anOwnerRenewsOnlyWhileEveryBrokerItDependsOnAnswers() {
    OwnerLiveness l = liveness().build();
    RenewalOutcome up = l.renew(OURS, s -> 7L);
    assertEquals(RenewalOutcome.Kind.RENEWED, up.kind());
    assertEquals(OURS, up.renewed());
    long renewed = heartbeatOf(0);
    assertEquals(7L, store.lease(0).orElseThrow().position());

    triggerUp.set(false); // the trigger's broker is down, the changelog answers
    alive.clear();
    tick(1000);
    RenewalOutcome down = l.renew(OURS, s -> 8L);
    assertEquals(RenewalOutcome.Kind.BROKER_SILENT, down.kind(), down.toString());
    assertTrue(down.reason().contains("servicebus") && down.reason().contains("unreachable"),
        down.reason());
    assertEquals(renewed, heartbeatOf(0), "no heartbeat written");
    assertEquals(List.of(), alive, "the policy hears nothing (a witness lease lapses)");
    assertEquals(1.0, meters.get("tandem.ownership.probe").tags("probe", "servicebus", "outcome",
        "silent").counter().count());

    triggerUp.set(false);
    changelogUp.set(false);
    tick(1000);
    assertTrue(l.renew(OURS, s -> 8L).reason().contains("changelog"), "asked in order");
    changelogUp.set(true);
    triggerUp.set(true);
    tick(1000);
    assertEquals(OURS, l.renew(OURS, s -> 9L).renewed());
  }

  @Test
  void evidenceSinceThePreviousRoundSavesTheProbeAndIsConsumedByTheRound() {
    OwnerLiveness l = liveness().build();
    l.renew(OURS, s -> 0L);
    assertEquals(1, changelogAsked.get());
    tick(500);
    l.evidence("changelog").answered(clock.nanoTime()); // a fetch returned records
    tick(500);
    assertEquals(RenewalOutcome.Kind.RENEWED, l.renew(OURS, s -> 0L).kind());
    assertEquals(1, changelogAsked.get(), "the fetch was the evidence: no probe");
    assertEquals(2, triggerAsked.get(), "the trigger had no evidence: asked");

    // consumed: without new evidence the next round asks, and a silent broker stays silent even
    // if the fetch was recent (a failed revalidation must not be followed by 'alive' on old news)
    changelogUp.set(false);
    tick(1000);
    assertEquals(RenewalOutcome.Kind.BROKER_SILENT, l.renew(OURS, s -> 0L).kind());
    assertEquals(2, changelogAsked.get());
  }

  @Test
  void anOwnerThatCannotRereadItsChangelogTellsThePolicyNothing() {
    OwnerLiveness l = liveness().build();
    network.down(A); // the probes answer, the re-read of the own changelog not
    RenewalOutcome r = l.renew(OURS, s -> 0L);
    assertEquals(RenewalOutcome.Kind.REVALIDATION_FAILED, r.kind(), r.toString());
    assertEquals(List.of(), alive, "no ownerAlive: a witness lease kept now would only stop the"
        + " peer from taking over shards this owner cannot process");
    assertEquals(-1L, heartbeatOf(0), "nothing renewed on an unchecked view");
    assertFalse(l.valid());
    network.up(A);
    tick(1000);
    assertEquals(OURS, l.renew(OURS, s -> 0L).renewed());
    assertEquals(Set.of(0, 2), Set.copyOf(alive));
  }

  @Test
  void anOwnerSilentForRevalidateAfterRereadsTheChangelogsBeforeItRenews() {
    OwnerLiveness l = liveness().build();
    l.renew(OURS, s -> 0L);
    assertEquals(1, changelog.catchUps(A), "the first renewal revalidates");
    assertTrue(l.valid());
    for (int i = 0; i < 10; i++) {
      tick(1000);
      l.renew(OURS, s -> 0L);
    }
    assertEquals(1, changelog.catchUps(A), "renewed every second: valid throughout");

    triggerUp.set(false);
    for (int i = 0; i < 6; i++) {
      tick(1000);
      l.renew(OURS, s -> 0L);
    }
    assertTrue(l.valid(), "6 s = revalidateAfter: still valid");
    tick(1);
    assertFalse(l.valid());
    triggerUp.set(true);
    tick(1000);
    assertEquals(OURS, l.renew(OURS, s -> 0L).renewed());
    assertEquals(2, changelog.catchUps(A), "re-read after the silence");
    assertEquals(2, changelog.catchUps(B), "the peer's changelog too");
  }

  @Test
  void ensureValidRereadsOnlyAfterASilence() {
    OwnerLiveness l = liveness().build();
    assertTrue(l.ensureValid(OURS));
    assertEquals(1, changelog.catchUps(A));
    tick(6000);
    assertTrue(l.ensureValid(OURS));
    assertEquals(1, changelog.catchUps(A));
    tick(1);
    network.down(A);
    assertFalse(l.ensureValid(OURS), "own changelog unreadable: do not process");
    network.up(A);
    assertTrue(l.ensureValid(OURS));
    assertTrue(l.ensureValid(Set.of()), "nothing owned: nothing to check");
  }

  @Test
  void aShardWhoseLeaseNamesAnotherRegionIsNeitherRenewedNorReportedAlive() {
    OwnerLiveness l = liveness().build();
    RenewalOutcome r = l.renew(Set.of(0, 1), s -> 0L);
    assertEquals(Set.of(0), r.renewed());
    assertEquals(Set.of(0), Set.copyOf(alive));
    assertEquals(RenewalOutcome.Kind.NOTHING_OWNED, l.renew(Set.of(), s -> 0L).kind());
  }

  @Test
  void theEvidenceBoundIsTwoRoundsAtLeastTwoSecondsAndAtLeastRevalidateAfter() {
    assertEquals(L, liveness().heartbeatInterval(Duration.ofSeconds(1)).build().evidenceBound());
    assertEquals(Duration.ofSeconds(8),
        liveness().heartbeatInterval(Duration.ofSeconds(4)).build().evidenceBound());
    ShardOwnership shortL = ShardOwnership.builder().region(A).regions(List.of(A, B)).store(store)
        .replicationLog(changelog).revalidateAfter(Duration.ofMillis(500)).clock(clock)
        .meterRegistry(new SimpleMeterRegistry()).build();
    assertEquals(Duration.ofSeconds(2), OwnerLiveness.builder(shortL).probe(changelogProbe)
        .heartbeatInterval(Duration.ofMillis(100)).clock(clock).build().evidenceBound());
  }

  @Test
  void aBusyOwnerRenewsOnEvidenceWithinTheBoundAndAStuckOneDoesNot() {
    OwnerLiveness l = liveness().activity(new HandlerActivity(clock, Duration.ofSeconds(30))).build();
    l.renew(OURS, s -> 0L); // between batches: probes answered, view valid
    HandlerActivity batch = l.activity();
    batch.handlerStarted();
    tick(5_900);
    RenewalOutcome r = l.renewWhileBusy(OURS, s -> 1L);
    assertEquals(OURS, r.renewed(), "evidence 5.9 s old, within revalidateAfter: " + r);
    assertEquals(1, changelogAsked.get(), "the busy renewal asks no probe (one ask: the renew)");
    tick(101);
    r = l.renewWhileBusy(OURS, s -> 1L);
    assertEquals(RenewalOutcome.Kind.BROKER_SILENT, r.kind(), "evidence older than the bound");

    l.evidence("changelog").answered(clock.nanoTime()); // an acknowledged renewal
    assertEquals(RenewalOutcome.Kind.BROKER_SILENT, l.renewWhileBusy(OURS, s -> 1L).kind(),
        "every broker needs evidence, the trigger's too");
    l.evidence("servicebus").answered(clock.nanoTime());
    assertEquals(OURS, l.renewWhileBusy(OURS, s -> 1L).renewed());

    tick(24_000); // 30 s into one handler call
    l.evidence("changelog").answered(clock.nanoTime());
    l.evidence("servicebus").answered(clock.nanoTime());
    r = l.renewWhileBusy(OURS, s -> 1L);
    assertEquals(RenewalOutcome.Kind.STUCK, r.kind(), r.toString());
    assertTrue(r.reason().contains("handler has run for"), r.reason());
    batch.handlerEnded();
    assertEquals(OURS, l.renewWhileBusy(OURS, s -> 1L).renewed(), "it returned");
  }

  @Test
  void aBusyRenewalKeepsAValidViewValidButNeverMakesAStaleOneValid() {
    OwnerLiveness l = liveness().activity(new HandlerActivity(clock, Duration.ofSeconds(30))).build();
    l.evidence("changelog").answered(clock.nanoTime());
    l.evidence("servicebus").answered(clock.nanoTime());
    assertEquals(OURS, l.renewWhileBusy(OURS, s -> 0L).renewed(), "leases renewed");
    assertFalse(l.valid(), "never revalidated: still not valid");

    l.renew(OURS, s -> 0L);
    for (int i = 0; i < 20; i++) {
      tick(1000);
      l.activity().loopTurned();
      l.evidence("changelog").answered(clock.nanoTime());
      l.evidence("servicebus").answered(clock.nanoTime());
      l.renewWhileBusy(OURS, s -> 0L);
    }
    assertTrue(l.valid(), "renewed every second while busy: valid throughout");
  }

  /**
   * A probe whose request the caller stopped (close() woke the Kafka loop inside it) says nothing
   * about the broker: the round passes the abort through, renews nothing, and records no failure,
   * no silent count (so no WARN that the peer takes over).
   */
  @Test
  void anAbortedProbeIsPassedThroughWithoutCountingAsABrokerOutage() {
    AtomicBoolean abort = new AtomicBoolean();
    BrokerProbe kafka = BrokerProbe.of("kafka", t -> {
      if (abort.get()) {
        throw new ProbeAbortedException("closing", new RuntimeException("wakeup"));
      }
      return true;
    });
    OwnerLiveness l = OwnerLiveness.builder(ownership).probe(kafka).clock(clock)
        .meterRegistry(meters).build();
    assertEquals(OURS, l.renew(OURS, s -> 0L).renewed());
    long renewed = heartbeatOf(0);
    abort.set(true);
    tick(1000);
    assertThrows(ProbeAbortedException.class, () -> l.renew(OURS, s -> 1L));
    assertEquals(renewed, heartbeatOf(0), "nothing renewed");
    assertEquals(0.0, meters.get("tandem.ownership.probe").tags("probe", "kafka", "outcome",
        "silent").counter().count(), "an abort is not a silent broker");
    assertTrue(l.evidence("kafka").answeredWithin(clock.nanoTime(), Duration.ofSeconds(2).toNanos()),
        "the broker's earlier answer is not voided by an abort");
  }

  @Test
  void probesAreRequiredAndUniqueByName() {
    assertThrows(IllegalStateException.class, () -> OwnerLiveness.builder(ownership).build());
    assertThrows(IllegalArgumentException.class,
        () -> liveness().probe(BrokerProbe.selfBounded("changelog", () -> true)));
    assertThrows(IllegalArgumentException.class, () -> liveness().build().evidence("kafka"));
  }
}
