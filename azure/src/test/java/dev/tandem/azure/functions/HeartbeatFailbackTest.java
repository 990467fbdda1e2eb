package dev.tandem.azure.functions;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.TandemIds;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.InMemoryReplicationLog;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The function app's heartbeat follows the same owner-liveness protocol as the Kafka poll loop, on
 * a manual clock: with {@code failbackAfter} configured, a shard this region took over is handed
 * back to its home region once that region has been healthy that long (the Kafka consumer did;
 * the heartbeat timer never did, so a function app kept a recovered region's shards for good).
 */
class HeartbeatFailbackTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_000_000);
  final InMemoryReplicationLog.Network network = InMemoryReplicationLog.network(clock);
  IdempotencyStore store;
  IdempotencyStore peerStore;
  /** This region's changelog (region-b's replica). */
  InMemoryReplicationLog log;
  /** The home region's replica: its heartbeats say its consumers run. */
  InMemoryReplicationLog peerLog;

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(B).instance("fn-b").directory(dir.resolve("b")).build();
    peerStore = IdempotencyStore.builder().region(A).instance("fn-a").directory(dir.resolve("a"))
        .build();
    log = network.join(store);
    peerLog = network.join(peerStore);
    log.assign(Set.of(0, 1));
    peerLog.assign(Set.of(0, 1));
  }

  @AfterEach
  void close() {
    log.close();
    peerLog.close();
    store.close();
    peerStore.close();
  }

  /** region-a's replica heartbeats (its consumers run) and region-b reads it: region-a is healthy. */
  void peerHeartbeat() {
    peerLog.heartbeat();
    network.deliver();
  }

  @Test
  void aShardTakenOverFromARecoveredHomeRegionIsFailedBackByTheHeartbeat() {
    ShardOwnership ownership = ShardOwnership.builder().region(B).regions(List.of(A, B))
        .store(store).replicationLog(log).revalidateAfter(Duration.ofSeconds(6))
        .failbackAfter(Duration.ofSeconds(3)).clock(clock)
        .meterRegistry(new SimpleMeterRegistry()).build();
    // region-b took shard 0 (home: region-a) over at epoch 1
    store.mergeLease(ShardLease.of(0, 1, B, store.tickHlc()));
    TandemFunctions f = TandemFunctions.builder()
        .processor(OnceProcessor.builder().store(store)
            .deadLetterSink(letter -> CompletableFuture.completedFuture(null)))
        .ownership(ownership, log).shardCount(2).clock(clock).build();

    for (int i = 0; i < 5; i++) {
      peerHeartbeat();
      HeartbeatReport r = f.heartbeat();
      assertTrue(r.renewed().contains(1), r.toString());
      clock.advance(Duration.ofSeconds(1));
    }
    // the tick starts the failback; its handover runs on a thread of its own (issue 21)
    awaitOwner(0, A);
    ShardLease lease = store.lease(0).orElseThrow();
    assertEquals(A, lease.owner(), "region-a has been healthy for 5 s > failbackAfter 3 s: shard 0"
        + " goes home, as the Kafka consumer's loop does; lease now " + lease);
    assertEquals(2, lease.epoch());
  }

  /**
   * A planned handover gives zero duplicates only if it waits for the work in flight: a failback
   * tick while an invocation of the shard is in its handler must not move the lease before the
   * handler has returned and its completion is written (else the home region takes the old-epoch
   * claim over and runs the handler a second time). A copy delivered while the shard drains is not
   * run.
   */
  @Test
  void aFailbackTickWaitsForTheInvocationInItsHandler() throws Exception {
    ShardOwnership ownership = ownershipOfB(log);
    TandemFunctions f = appOf(ownership, log);
    for (int i = 0; i < 3; i++) { // region-a healthy for 2 s: no failback yet
      peerHeartbeat();
      f.heartbeat();
      clock.advance(Duration.ofSeconds(1));
    }
    assertEquals(B, store.lease(0).orElseThrow().owner());

    Map<String, Object> props = propsOfShard0("order 1");
    AtomicInteger runs = new AtomicInteger();
    CountDownLatch inHandler = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Outcome> invocation = CompletableFuture.supplyAsync(() -> f.once(
        TriggerHeaders.serviceBus(props), "order 1", 1, ctx -> {
          runs.incrementAndGet();
          inHandler.countDown();
          assertTrue(release.await(30, TimeUnit.SECONDS));
        }));
    assertTrue(inHandler.await(10, TimeUnit.SECONDS));
    clock.advance(Duration.ofSeconds(2)); // region-a healthy for 4 s > failbackAfter 3 s
    peerHeartbeat();
    CompletableFuture<HeartbeatReport> tick = CompletableFuture.supplyAsync(f::heartbeat);
    // the failback (on a thread of its own since issue 21) either moved the lease at once (the
    // defect) or drains the shard (waits for us)
    await().atMost(Duration.ofSeconds(10)).until(() -> draining(ownership, 0)
        || !B.equals(store.lease(0).orElseThrow().owner()));
    ShardLease whileInHandler = store.lease(0).orElseThrow();
    if (!tick.isDone() || draining(ownership, 0)) {
      // a second copy of the same message arriving meanwhile is not run here: retried later
      TandemFunctions.RetryLaterException second = assertThrows(
          TandemFunctions.RetryLaterException.class,
          () -> f.once(TriggerHeaders.serviceBus(props), "order 1", 2, ctx -> runs.incrementAndGet()));
      assertEquals(Outcome.RetryReason.FENCED, second.outcome().reason());
    }
    release.countDown();
    assertInstanceOf(Outcome.Processed.class, invocation.get(10, TimeUnit.SECONDS));
    tick.get(20, TimeUnit.SECONDS);
    awaitOwner(0, A);

    assertEquals(B, whileInHandler.owner(), "an invocation of shard 0 was in its handler: the"
        + " failback must wait for it, but the lease moved to " + whileInHandler);
    ShardLease after = store.lease(0).orElseThrow();
    assertEquals(A, after.owner(), "the failback completes once the handler returned: " + after);
    assertEquals(2, after.epoch());
    assertEquals(1, runs.get(), "the handler ran once");
  }

  /**
   * A failback is a tick's work: the round an invocation runs on its own thread (the view went
   * stale) renews but never hands a shard over, which could block the message up to catchUpTimeout.
   */
  @Test
  void theRenewalBeforeAnInvocationNeverFailsBack() {
    ShardOwnership ownership = ownershipOfB(log);
    TandemFunctions f = appOf(ownership, log);
    peerHeartbeat();
    f.heartbeat();
    clock.advance(Duration.ofSeconds(7)); // region-a healthy 7 s; our view older than revalidateAfter
    Map<String, Object> props = propsOfShard0("order 2");
    Outcome o = f.once(TriggerHeaders.serviceBus(props), "order 2", 1, ctx -> { });
    assertInstanceOf(Outcome.Processed.class, o);
    ShardLease lease = store.lease(0).orElseThrow();
    assertEquals(B, lease.owner(), "the invocation's renewal failed shard 0 back: " + lease);
    peerHeartbeat();
    f.heartbeat();
    awaitOwner(0, A);
    assertEquals(A, store.lease(0).orElseThrow().owner(), "the next tick fails it back");
  }

  /** Waits (bounded) for a failback the last tick started on its own thread to write the lease. */
  private void awaitOwner(int shard, RegionId owner) {
    await().atMost(Duration.ofSeconds(10))
        .until(() -> store.lease(shard).map(l -> l.owner().equals(owner)).orElse(false));
  }

  private ShardOwnership ownershipOfB(InMemoryReplicationLog log) {
    ShardOwnership ownership = ShardOwnership.builder().region(B).regions(List.of(A, B))
        .store(store).replicationLog(log).revalidateAfter(Duration.ofSeconds(6))
        .failbackAfter(Duration.ofSeconds(3)).clock(clock)
        .meterRegistry(new SimpleMeterRegistry()).build();
    // region-b took shard 0 (home: region-a) over at epoch 1
    store.mergeLease(ShardLease.of(0, 1, B, store.tickHlc()));
    return ownership;
  }

  private TandemFunctions appOf(ShardOwnership ownership, InMemoryReplicationLog log) {
    return TandemFunctions.builder()
        .processor(OnceProcessor.builder().store(store)
            .deadLetterSink(letter -> CompletableFuture.completedFuture(null)))
        .ownership(ownership, log).shardCount(2).clock(clock).build();
  }

  private static Map<String, Object> propsOfShard0(String body) {
    Envelope e = Envelope.forPayload(TandemIds.newId(), body.getBytes(StandardCharsets.UTF_8), 0,
        System.currentTimeMillis());
    Map<String, Object> props = new HashMap<>();
    EnvelopeCodec.write(e, props::put);
    return props;
  }

  /** Whether a handover drains {@code shard} now (beginWork refuses); undoes an admitted probe. */
  private static boolean draining(ShardOwnership ownership, int shard) {
    if (ownership.pollLoop().beginWork(shard)) {
      ownership.pollLoop().endWork(shard);
      return false;
    }
    return true;
  }
}
