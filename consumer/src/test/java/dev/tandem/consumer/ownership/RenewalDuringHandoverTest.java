package dev.tandem.consumer.ownership;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.InMemoryReplicationLog;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 21, the operator's side: a planned handover of one shard that waits (a batch of it still in
 * flight) holds no lock a renewal of the region's other shards needs. Region-a hands shard 0 over
 * on another thread (as a remote evacuation does on the poll loop) while its renewals — {@link
 * OwnerLiveness#renew} from the caller's other thread, as the Kafka consumer's background renewer
 * or a ticker runs them — keep shard 2 renewed for longer than L + margin; region-b, watching shard
 * 2, never takes it over. This held before the fix too (the ownership holds no lock across a
 * handover); the failback case, which the round itself ran, is {@code
 * ShardOwnershipTest#aSlowFailbackOfOneShardDoesNotStopTheRenewalOfTheRegionsOtherShards}.
 */
class RenewalDuringHandoverTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  static final Duration L = Duration.ofSeconds(6);
  static final Duration MARGIN = Duration.ofSeconds(3);

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_764_000_000_000L);
  final InMemoryReplicationLog.Network net = InMemoryReplicationLog.network(clock);
  final List<AutoCloseable> open = new ArrayList<>();

  ShardOwnership region(RegionId id) {
    IdempotencyStore store = IdempotencyStore.builder().region(id).instance(id.name() + "-1")
        .directory(dir.resolve(id.name())).clock(clock).meterRegistry(new SimpleMeterRegistry())
        .build();
    InMemoryReplicationLog log = net.join(store);
    log.assign(Set.of(0, 1, 2, 3));
    open.add(store);
    open.add(log);
    return ShardOwnership.builder().region(id).regions(List.of(A, B)).store(store)
        .replicationLog(log).policy(OwnershipPolicy.automatic(L, MARGIN, Duration.ofSeconds(60)))
        .catchUpTimeout(Duration.ofSeconds(1)).revalidateAfter(L).clock(clock).build();
  }

  @AfterEach
  void close() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  @Test
  void aHandoverWaitingForItsBatchDoesNotHoldBackTheRenewalOfTheRegionsOtherShards()
      throws Exception {
    ShardOwnership a = region(A);
    ShardOwnership b = region(B);
    OwnerLiveness liveness = OwnerLiveness.builder(a).probe(BrokerProbe.of("kafka", t -> true))
        .clock(clock).build();
    assertEquals(Set.of(0, 2), liveness.renew(Set.of(0, 2), s -> 1L).renewed());
    net.deliver();
    assertEquals(Optional.empty(), b.pollLoop().observe(2, Duration.ZERO), "region-b watches 2");
    assertTrue(a.pollLoop().beginWork(0), "a batch of shard 0 runs and does not finish soon");
    CompletableFuture<HandoverReport> handover =
        CompletableFuture.supplyAsync(() -> a.handOver(0, B, Duration.ofSeconds(30)));
    boolean batchEnded = false;
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> !a.owns(0)); // shard 0 drains
      for (int second = 1; second <= 12; second++) {
        clock.advance(Duration.ofSeconds(1));
        CompletableFuture<RenewalOutcome> round =
            CompletableFuture.supplyAsync(() -> liveness.renew(Set.of(0, 2), s -> 2L));
        RenewalOutcome r = round.get(10, TimeUnit.SECONDS);
        assertEquals(Set.of(2), r.renewed(), "second " + second + ": " + r);
        net.deliver();
        assertEquals(Optional.empty(), b.pollLoop().observe(2, Duration.ZERO),
            "region-a's shard 2 lapsed " + second + " s into the handover of shard 0");
      }
      assertFalse(handover.isDone(), "the handover still waits for its batch");
      a.pollLoop().endWork(0);
      batchEnded = true;
      assertTrue(handover.get(10, TimeUnit.SECONDS).moved());
      assertTrue(a.owns(2));
    } finally {
      if (!batchEnded) {
        a.pollLoop().endWork(0);
      }
      clock.advance(Duration.ofSeconds(60)); // a handover still waiting gives up
      handover.get(10, TimeUnit.SECONDS);
    }
  }
}
