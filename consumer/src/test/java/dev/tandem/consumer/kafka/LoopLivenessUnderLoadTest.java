package dev.tandem.consumer.kafka;

import static dev.tandem.consumer.kafka.HandoffGateTest.record;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.kafka.HandoffGateTest.RecordingConsumer;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.InMemoryReplicationLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two ways a live owner loop could lose its leases under load (fast: MockConsumer, {@link
 * InMemoryReplicationLog}, one {@link ManualClock}; the loop and the background renewer run on
 * their own threads as in production, the test waits on conditions):
 *
 * <ul>
 *   <li>a loop waiting for its claims to be durable in the own changelog (bounded by the processor's
 *       claims-durable timeout, here longer than handlerTimeout) is progress, not a stuck loop, so
 *       the background renewer keeps its leases — until the wait's bound plus handlerTimeout;
 *   <li>an idle loop whose end-offsets probe times out keeps renewing while its own changelog
 *       acknowledges its heartbeats (the own broker answering), and stops once it does not.
 * </ul>
 *
 * <p>Region-a owns shard 0 (its home); region-b never runs here.
 */
class LoopLivenessUnderLoadTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  static final TopicPartition P0 = new TopicPartition(HandoffGateTest.TOPIC, 0);
  static final Duration L = Duration.ofSeconds(6);
  static final Duration MARGIN = Duration.ofSeconds(3);
  static final Duration HANDLER_TIMEOUT = Duration.ofSeconds(2);
  static final Duration CLAIMS_WAIT = Duration.ofSeconds(60);
  static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(System.currentTimeMillis());

  {
    clock.advance(Duration.ofSeconds(1)); // a hold start of nanoTime 0 reads as "not holding"
  }

  final InMemoryReplicationLog.Network net = InMemoryReplicationLog.network(clock);
  final List<AutoCloseable> open = new ArrayList<>();

  record Node(MockConsumer<byte[], byte[]> kafka, IdempotencyStore store, ShardOwnership ownership,
      TandemKafkaConsumer<String, byte[]> loop, SimpleMeterRegistry meters, List<String> runs) {

    double renewer(String outcome) {
      Counter c = meters.find("tandem.consumer.lease.renewer").tag("outcome", outcome).counter();
      return c == null ? 0 : c.count();
    }

    double probe(String outcome) {
      Counter c = meters.find("tandem.ownership.probe").tag("outcome", outcome).counter();
      return c == null ? 0 : c.count();
    }

    long heartbeat() {
      return ownership.lease(0).heartbeatHlc();
    }
  }

  Node node(MockConsumer<byte[], byte[]> kafka, Consumer<OnceProcessor.Builder> processorOptions) {
    kafka.updateBeginningOffsets(Map.of(P0, 0L));
    kafka.updateEndOffsets(Map.of(P0, 0L));
    IdempotencyStore store = IdempotencyStore.builder().region(A).instance("a-1")
        .directory(dir.resolve("a-1")).clock(clock).meterRegistry(new SimpleMeterRegistry())
        .build();
    InMemoryReplicationLog log = net.join(store);
    log.assign(Set.of(0));
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    ShardOwnership ownership = ShardOwnership.builder().region(A).regions(List.of(A, B))
        .store(store).replicationLog(log)
        .policy(OwnershipPolicy.automatic(L, MARGIN, Duration.ofSeconds(60)))
        .revalidateAfter(L).clock(clock).meterRegistry(meters).build();
    List<String> runs = new CopyOnWriteArrayList<>();
    TandemKafkaConsumer<String, byte[]> loop = TandemKafkaConsumer
        .builder(HandoffGateTest.TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
        .consumer(kafka)
        .handler((rec, ctx) -> runs.add(ctx.id()))
        .store(store)
        .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
        .replicationLog(log, false)
        .ownership(ownership)
        .processorOptions(processorOptions)
        .pollTimeout(Duration.ofMillis(20))
        .handlerTimeout(HANDLER_TIMEOUT)
        .clock(clock)
        .meterRegistry(meters)
        .build();
    open.add(store);
    open.add(log);
    open.add(loop);
    return new Node(kafka, store, ownership, loop, meters, runs);
  }

  static void startWithP0(Node n) {
    n.loop().start();
    HandoffGateTest.rebalance(n.kafka(), List.of(P0));
    await().atMost(WAIT).until(() -> n.kafka().assignment().contains(P0));
  }

  @AfterEach
  void close() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  /**
   * Concern (a), SlowBatchTest under load: the renewer read a loop waiting for its claims to be
   * durable (up to 5 s) as stuck after handlerTimeout (4 s there). Here the wait's bound is 60 s and
   * handlerTimeout 2 s: 3 s into the wait the renewer renews; past the bound plus handlerTimeout
   * it withholds (a wait that outlives its own bound is stuck).
   */
  @Test
  void aLoopWaitingForItsClaimsToBeDurableIsNotStuckWithinTheWaitsBound() {
    Map<Integer, CompletableFuture<Void>> durable = new ConcurrentHashMap<>();
    RecordingConsumer kafka = new RecordingConsumer();
    Node a = node(kafka, p -> p.claimsDurable(
        s -> durable.computeIfAbsent(s, k -> new CompletableFuture<>()), CLAIMS_WAIT));
    startWithP0(a);
    kafka.append(record(0));
    await().atMost(WAIT).until(() -> durable.containsKey(0)); // in the claims-durable wait
    assertTrue(a.runs().isEmpty(), "no handler before its claim is durable");

    clock.advance(HANDLER_TIMEOUT.plusSeconds(1)); // > handlerTimeout, < evidence bound (L)
    await("a background renewal round while the loop waits for its claims").atMost(WAIT)
        .until(() -> a.renewer("renewed") + a.renewer("withheld_stuck") > 0);
    assertEquals(0.0, a.renewer("withheld_stuck"),
        "the renewer took a loop waiting for its claims (bounded by " + CLAIMS_WAIT
            + ") for stuck after handlerTimeout " + HANDLER_TIMEOUT);

    clock.advance(CLAIMS_WAIT); // past the wait's bound plus handlerTimeout: stuck
    await("the renewer withholds once the wait outlived its bound").atMost(WAIT)
        .until(() -> a.renewer("withheld_stuck") > 0);

    durable.get(0).complete(null);
    await().atMost(WAIT).until(() -> a.runs().equals(List.of("id-0")));
  }

  /**
   * Concern (b), session 5 under load: an idle owner asks the end-offsets probe every round; when
   * it times out the round is silent, and as each silent round is a loop round the background
   * renewer never steps in, so a live idle owner lost its leases. The own changelog acknowledging
   * the previous round's heartbeats is the own broker answering: while it does, the owner renews
   * without asking the probe; once it does not, the probe is asked again and its timeout silences
   * the owner.
   */
  @Test
  void anIdleOwnerWhoseProbeTimesOutRenewsWhileItsChangelogAcknowledgesItsHeartbeats() {
    AtomicBoolean probeTimesOut = new AtomicBoolean();
    MockConsumer<byte[], byte[]> kafka = new MockConsumer<>("earliest") {
      @Override
      public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions,
          Duration timeout) {
        if (probeTimesOut.get()) {
          throw new TimeoutException("end offsets not answered within " + timeout + " (load)");
        }
        return super.endOffsets(partitions, timeout);
      }
    };
    Node a = node(kafka, p -> {});
    startWithP0(a);
    clock.advance(Duration.ofSeconds(1)); // the round due after the (empty) one at the start
    await("a first heartbeat (the probe answers)").atMost(WAIT).until(() -> a.heartbeat() > 0);

    probeTimesOut.set(true);
    // L + margin of idle rounds: each must renew (else the peer would take the shard over)
    for (int round = 1; round <= 10; round++) {
      long before = a.heartbeat();
      clock.advance(Duration.ofSeconds(1));
      await("region-a's heartbeat in idle round " + round + " (its probe times out, its own "
          + "changelog acknowledges the heartbeats)").atMost(WAIT)
          .until(() -> a.heartbeat() > before);
    }
    assertEquals(0.0, a.probe("silent"), "no probe asked while the changelog acknowledges");

    // the own changelog stops acknowledging: one more round on the last acknowledgement, then the
    // probe is asked, times out, and the owner stays silent
    net.down(A);
    long before = a.heartbeat();
    clock.advance(Duration.ofSeconds(1));
    await().atMost(WAIT).until(() -> a.heartbeat() > before);
    long last = a.heartbeat();
    clock.advance(Duration.ofSeconds(1));
    await("the probe asked and timed out").atMost(WAIT).until(() -> a.probe("silent") > 0);
    clock.advance(Duration.ofSeconds(1));
    await().during(Duration.ofMillis(300)).atMost(WAIT).until(() -> a.heartbeat() == last);
    net.up(A);
  }
}
