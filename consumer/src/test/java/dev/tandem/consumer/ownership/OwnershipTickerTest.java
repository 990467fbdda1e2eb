package dev.tandem.consumer.ownership;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The shared ownership tick ({@link OwnershipTicker}) of the Spring and Functions runtimes, on a
 * manual clock, a real store, an in-memory request channel and a changelog that acknowledges at once:
 * a round renews, acts on requests for the served shards only, drains the work in flight before it
 * hands a shard over while the next rounds keep renewing the other shards, withholds stuck shards,
 * and hands nothing over while its broker is silent.
 */
class OwnershipTickerTest extends OwnerRegionFixture {

  /** The runtime's side, set per test. */
  volatile Set<Integer> served = Set.of(0, 2);
  volatile Set<Integer> stuck = Set.of();


  OwnershipTicker ticker(BrokerProbe... probes) {
    OwnershipTicker.Builder b = OwnershipTicker.builder(ownership, changelog,
        new OwnershipTicker.Work() {
          @Override
          public Set<Integer> served(Set<Integer> leaseOwned) {
            Set<Integer> s = new TreeSet<>(served);
            s.retainAll(leaseOwned);
            return s;
          }

          @Override
          public Set<Integer> stuck() {
            return stuck;
          }

          @Override
          public Duration heldFor(int shard) {
            return Duration.ZERO;
          }

          @Override
          public long position(int shard) {
            return 0;
          }
        })
        .shardCount(4).clock(clock).meterRegistry(meters)
        .requests(new OwnershipRequests(ownership, topic.reader(), "a-1", clock, meters));
    for (BrokerProbe p : probes) {
      b.probe(p);
    }
    return b.build();
  }

  /**
   * Every request result the rounds of this test reported. A round reports the results completed
   * since the previous round, so the round that starts a handover on the handover thread may already
   * report it (a fast handover thread beats the rest of the round: under load it regularly does).
   */
  final List<OwnershipResult> reported = new java.util.concurrent.CopyOnWriteArrayList<>();

  /** One round, its results recorded in {@link #reported}. */
  OwnershipTicker.Round tick(OwnershipTicker ticker) {
    OwnershipTicker.Round r = ticker.tick();
    reported.addAll(r.requests());
    return r;
  }

  /**
   * Ticks until the rounds (this test's earlier ones included) have reported {@code n} results (the
   * handovers run on their own thread); returns every result reported so far.
   */
  List<OwnershipResult> tickUntilAnswered(OwnershipTicker ticker, int n) {
    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20)).until(() -> {
      tick(ticker);
      return reported.size() >= n;
    });
    return List.copyOf(reported);
  }

  OwnershipRequest evacuate(Set<Integer> shards) {
    return new OwnershipRequest("r1", A, B, new TreeSet<>(shards),
        clock.wallMillis() + Duration.ofSeconds(30).toMillis(), "test");
  }

  @Test
  void aRoundRenewsObservesAndHandsOverOnlyTheServedShardsOfARequest() {
    OwnershipTicker ticker = ticker();
    served = Set.of(0); // shard 2 runs in another process of the region
    topic.request(evacuate(Set.of(0, 2)));

    OwnershipTicker.Round r = tick(ticker);
    assertNull(r.silent());
    assertEquals(Set.of(0, 2), r.renewed(), "renewed before acting");
    assertEquals(Set.of(1, 3), r.followed());

    List<OwnershipResult> results = tickUntilAnswered(ticker, 1);
    assertEquals(1, results.size(), results.toString());
    assertTrue(results.get(0).moved(), results.toString());
    assertEquals(0, results.get(0).shard());
    assertEquals(B, ownership.lease(0).owner());
    assertEquals(1, ownership.lease(0).epoch());
    assertEquals(A, ownership.lease(2).owner(), "not served here: left to the process that runs it");

    // the next rounds: shard 0 is followed now, nothing moves twice
    OwnershipTicker.Round next = tick(ticker);
    assertEquals(Set.of(2), next.renewed());
    assertTrue(next.followed().contains(0));
    tick(ticker);
    assertEquals(List.of(), tick(ticker).requests());
    assertEquals(1, ownership.lease(0).epoch());
  }

  @Test
  void theHandoverWaitsForTheWorkInFlightWhileTheRoundsKeepRenewingTheOtherShards() {
    OwnershipTicker ticker = ticker();
    assertTrue(ownership.pollLoop().beginWork(0), "a listener/invocation runs on shard 0");
    topic.request(evacuate(Set.of(0)));

    tick(ticker); // starts the handover of shard 0
    // draining: no new work starts on the shard
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      if (ownership.pollLoop().beginWork(0)) {
        ownership.pollLoop().endWork(0);
        return false;
      }
      return true;
    });
    // a round while the handover waits: it returns, and renews the other shard (a round blocked by
    // the drain would let shard 2's lease lapse and the peer take it over)
    long epoch2 = ownership.lease(2).epoch();
    OwnershipTicker.Round during = tick(ticker);
    assertEquals(Set.of(2), during.renewed(), during.toString());
    assertEquals(List.of(), during.requests(), "nothing answered while the work runs");
    assertEquals(A, ownership.lease(0).owner(), "the handover waits for the work in flight");
    assertEquals(epoch2, ownership.lease(2).epoch());

    ownership.pollLoop().endWork(0);
    List<OwnershipResult> results = tickUntilAnswered(ticker, 1);
    assertTrue(results.get(0).moved(), results.toString());
    assertEquals(B, ownership.lease(0).owner());
    assertEquals(1, ownership.lease(0).epoch());
  }

  @Test
  void stuckShardsAreNeitherRenewedNorHandedOver() {
    OwnershipTicker ticker = ticker();
    stuck = Set.of(0);
    topic.request(evacuate(Set.of(0, 2)));

    OwnershipTicker.Round r = tick(ticker);

    assertEquals(Set.of(0), r.stuck());
    assertEquals(Set.of(2), r.renewed());
    assertFalse(r.followed().contains(0), "a stuck shard is not observed either");
    List<OwnershipResult> results = tickUntilAnswered(ticker, 1);
    assertEquals(1, results.size(), results.toString());
    assertEquals(2, results.get(0).shard());
    assertEquals(A, ownership.lease(0).owner(), "the drain would wait for the stuck work");
  }

  @Test
  void aSilentOwnerHandsNothingOverUntilItsBrokerAnswers() {
    java.util.concurrent.atomic.AtomicBoolean down = new java.util.concurrent.atomic.AtomicBoolean(true);
    OwnershipTicker ticker = ticker(BrokerProbe.of("trigger", t -> {
      if (down.get()) {
        throw new IllegalStateException("trigger broker down");
      }
      return true;
    }));
    topic.request(evacuate(Set.of(0)));

    OwnershipTicker.Round silent = tick(ticker);
    assertTrue(silent.silent() != null && silent.silent().contains("trigger"), silent.toString());
    assertEquals(Set.of(), silent.renewed());
    assertEquals(List.of(), silent.requests());
    assertEquals(A, ownership.lease(0).owner());

    assertEquals(List.of(), tick(ticker).requests());
    assertEquals(A, ownership.lease(0).owner(), "no handover started by a silent round");

    down.set(false);
    assertNull(tick(ticker).silent());
    List<OwnershipResult> results = tickUntilAnswered(ticker, 1);
    assertTrue(results.get(0).moved(), results.toString());
    assertEquals(B, ownership.lease(0).owner());
  }

  /**
   * A failback runs on a thread of its own (FailbackRunner); {@link OwnershipTicker#close} must not
   * return while it still runs: the runtime closes the store and the changelog right after (review
   * s6-q: before, close returned at once and the handover went on writing into a closing store).
   */
  @Test
  void closeWaitsForTheFailbackInProgress() {
    SimpleMeterRegistry fbMeters = new SimpleMeterRegistry();
    ownership = ShardOwnership.builder().region(A).regions(List.of(A, B)).store(store)
        .replicationLog(changelog).policy(OwnershipPolicy.manual()).clock(clock)
        .failbackAfter(Duration.ofSeconds(1)).catchUpTimeout(Duration.ofSeconds(2))
        .meterRegistry(fbMeters).build();
    ownership.takeOver(1, "test"); // B's home shard, owned here now
    changelog.homeHeartbeatsFresh = true;
    changelog.peerAcknowledges = false; // the failback's barrier waits its whole catchUpTimeout
    OwnershipTicker ticker = ticker();
    tick(ticker); // B healthy from now
    clock.advance(Duration.ofSeconds(1));
    tick(ticker); // failback of shard 1 due: starts on its own thread
    await().atMost(Duration.ofSeconds(5)).until(() -> threadAlive("tandem-failback-"));

    ticker.close();

    assertEquals(1.0, fbMeters.get(dev.tandem.consumer.ConsumerMeterNames.FAILBACKS)
        .tag("outcome", "aborted").counter().count(), "the failback ended before close returned");
    assertEquals(A, ownership.lease(1).owner(), "B never acknowledged: the shard stays");
  }


  /**
   * A request's handover runs on the ticker's handover thread; {@link OwnershipTicker#close} waits
   * for it (bounded by catchUpTimeout) like for a failback: the runtime closes the store next.
   */
  @Test
  void closeWaitsForTheRequestHandoverInProgress() {
    changelog.peerAcknowledges = false; // the handover's barrier waits until the request's deadline
    OwnershipTicker ticker = ticker();
    topic.request(new OwnershipRequest("r2", A, B, new TreeSet<>(Set.of(0)),
        clock.wallMillis() + Duration.ofSeconds(2).toMillis(), "test"));
    tick(ticker); // starts acting on the request on the handover thread
    await().atMost(Duration.ofSeconds(5)).until(() -> threadAlive("tandem-ownership-handover-"));

    ticker.close();

    assertEquals(1, meters.get(dev.tandem.consumer.ConsumerMeterNames.OWNERSHIP_REQUEST_HANDOVER)
        .tag("outcome", "failed").timer().count(), "the request's handover ended before close returned");
    assertEquals(A, ownership.lease(0).owner(), "B never acknowledged: the shard stays");
  }

  /** Whether a thread named {@code prefix}... runs now (an idle pool thread waits: not counted). */
  static boolean threadAlive(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .anyMatch(t -> t.isAlive() && t.getName().startsWith(prefix)
            && t.getState() != Thread.State.WAITING);
  }
}
