package dev.tandem.azure.servicebus;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.azure.functions.HeartbeatReport;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.InMemoryReplicationLog;
import dev.tandem.testkit.TestRegions;
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
 * Issue 15 item 8 on a manual clock: a function app whose Service Bus namespace is down while its
 * Kafka changelog still answers must stop renewing the leases of its shards, so that the other
 * region takes them over (the Service Bus messages of those shards are then processed there) instead
 * of waiting out the whole outage. The app declares its Service Bus trigger's entity through a
 * recheck sender and probes the namespace with a receiver of that entity ({@code peekMessage()}, a
 * round trip: a sender answers from its open link without a request); the namespace is the SDK's
 * clients behind {@link FakeNamespace}.
 */
class NamespaceDownLivenessTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static final int SHARDS = 4;

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_000_000);
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  IdempotencyStore store;
  final FakeNamespace namespace = new FakeNamespace("orders", 100, 256 * 1024, 1);

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(A).instance("fn-a").directory(dir).build();
  }

  @AfterEach
  void close() {
    TandemFunctions.uninstall();
    store.close();
  }

  TandemFunctions functions() {
    return functions(ServiceBusNamespaceProbe.of(namespace.receiverClient()));
  }

  TandemFunctions functions(BrokerProbe probe) {
    // this region's changelog: every catch-up of it completes (its Kafka cluster answers throughout)
    InMemoryReplicationLog log = InMemoryReplicationLog.network(clock).join(store);
    log.assign(Set.of(0, 1, 2, 3));
    ShardOwnership ownership = ShardOwnership.builder().region(A).regions(List.of(A, B))
        .store(store).replicationLog(log)
        .policy(OwnershipPolicy.automatic(Duration.ofSeconds(6), Duration.ofSeconds(3),
            Duration.ofSeconds(60)))
        .revalidateAfter(Duration.ofSeconds(6)).clock(clock).meterRegistry(meters).build();
    return TandemFunctions.install(TandemFunctions.builder()
        .processor(OnceProcessor.builder().store(store)
            .deadLetterSink(letter -> CompletableFuture.completedFuture(null)))
        .ownership(ownership, log)
        .shardCount(SHARDS)
        .recheckSender(namespace.syncClient())
        .triggerProbe(probe)
        .probeTimeout(Duration.ofMillis(300))
        .clock(clock)
        .meterRegistry(meters));
  }

  @Test
  void anOwnerWhoseServiceBusNamespaceIsDownStopsRenewingThoughItsChangelogAnswers() {
    TandemFunctions f = functions();
    HeartbeatReport up = f.heartbeat();
    assertEquals(Set.of(0, 2), up.renewed(), "namespace and changelog answer: " + up);
    assertFalse(up.silent(), up.toString());
    long renewedAt = store.lease(0).orElseThrow().heartbeatHlc();

    namespace.down.set(true);
    clock.advance(Duration.ofSeconds(1));
    HeartbeatReport down = f.heartbeat();
    assertTrue(down.silent(), "the namespace of the Service Bus trigger is down, the owner must"
        + " stay silent so region-b takes its shards over: " + down);
    assertEquals(Set.of(), down.renewed(), down.toString());
    assertTrue(down.silentReason().contains("servicebus"), down.silentReason());
    assertEquals(renewedAt, store.lease(0).orElseThrow().heartbeatHlc(), "no renewal written");

    namespace.down.set(false);
    // the peek sent while it was down returns once it answers; until then a tick says so
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      clock.advance(Duration.ofSeconds(1));
      return f.heartbeat().renewed().equals(Set.of(0, 2));
    });
  }

  /**
   * A trigger probe given for another trigger does not drop the probe of the recheck sender's
   * namespace: both must answer. Here the namespace is down with the sender's link closed, so the
   * sender's batch request fails at once.
   */
  @Test
  void aGivenTriggerProbeDoesNotDropTheRecheckSendersNamespace() {
    TandemFunctions f = functions(BrokerProbe.of("kafka-trigger", timeout -> true));
    HeartbeatReport up = f.heartbeat();
    assertEquals(Set.of(0, 2), up.renewed(), up.toString());

    namespace.down.set(true);
    clock.advance(Duration.ofSeconds(1));
    HeartbeatReport down = f.heartbeat();
    assertTrue(down.silent(), "the recheck sender's namespace is down: " + down);
    assertTrue(down.silentReason().contains("servicebus:fake.servicebus.windows.net/orders"),
        down.silentReason());
  }
}
