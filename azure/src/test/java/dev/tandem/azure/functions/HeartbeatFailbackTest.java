package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.CatchUpResult;
import dev.tandem.store.replication.ReplicationLag;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
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

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_000_000);
  IdempotencyStore store;

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(B).instance("fn-b").directory(dir).build();
  }

  @AfterEach
  void close() {
    store.close();
  }

  @Test
  void aShardTakenOverFromARecoveredHomeRegionIsFailedBackByTheHeartbeat() {
    HealthyPeerChangelog log = new HealthyPeerChangelog();
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
      HeartbeatReport r = f.heartbeat();
      assertTrue(r.renewed().contains(1), r.toString());
      clock.advance(Duration.ofSeconds(1));
    }
    ShardLease lease = store.lease(0).orElseThrow();
    assertEquals(A, lease.owner(), "region-a has been healthy for 5 s > failbackAfter 3 s: shard 0"
        + " goes home, as the Kafka consumer's loop does; lease now " + lease);
    assertEquals(2, lease.epoch());
  }

  /** This region's changelog answers; the peer's replica heartbeats fresh and is reachable. */
  static final class HealthyPeerChangelog implements ReplicationLog {
    @Override
    public CatchUpResult catchUp(RegionId region, Set<Integer> shards, Duration timeout) {
      return new CatchUpResult(region, shards, true, 0, Duration.ZERO, null);
    }

    @Override
    public ReplicationLag lag(RegionId origin) {
      return new ReplicationLag(origin, Duration.ZERO, 0, Duration.ZERO, 1);
    }

    @Override
    public void assign(Set<Integer> shards) {}

    @Override
    public void revoke(Set<Integer> shards) {}

    @Override
    public boolean awaitRestored(Duration timeout) {
      return true;
    }

    @Override
    public boolean isRestored(int shard) {
      return true;
    }

    @Override
    public CompletableFuture<Void> barrier(int shard, RegionId region) {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public long unackedByPeers(int shard) {
      return 0;
    }

    @Override
    public boolean peerReachable() {
      return true;
    }

    @Override
    public Set<Integer> shards() {
      return Set.of(0, 1);
    }

    @Override
    public void close() {}
  }
}
