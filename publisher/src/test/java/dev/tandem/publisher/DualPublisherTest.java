package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static org.awaitility.Awaitility.await;

import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.SigningKey;
import dev.tandem.testkit.junit.TandemClusters;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import java.util.concurrent.CopyOnWriteArrayList;
import dev.tandem.core.RegionId;
import dev.tandem.testkit.TwoRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** DualPublisher against two real KRaft clusters: fan-out with one envelope, and a regional outage. */
@TandemClusters(shared = false)
class DualPublisherTest {

  static TwoRegions regions;
  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;

  static final EnvelopeSigner SIGNER = EnvelopeSigner.signingWith(
      SigningKey.of("k1", "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII)));

  private DualPublisher.Builder publisher(Path spool, AckPolicy policy, SimpleMeterRegistry registry) {
    return DualPublisher.builder()
        .sink(TestRegions.sink(regions.a()))
        .sink(TestRegions.sink(regions.b()))
        .ackPolicy(policy)
        .timeout(Duration.ofMillis(1500))
        .spoolDirectory(spool)
        .meterRegistry(registry);
  }

  /** Records what the listener hears. */
  static final class Recorder implements RegionListener {
    final List<String> events = new CopyOnWriteArrayList<>();

    @Override
    public void onCircuitTransition(RegionId region, CircuitBreaker.State from, CircuitBreaker.State to) {
      events.add(region + ":" + from + "->" + to);
    }

    @Override
    public void onSpoolingStarted(RegionId region, Throwable cause) {
      events.add(region + ":spooling");
    }

    @Override
    public void onSpoolDrained(RegionId region, long replayed) {
      events.add(region + ":drained");
    }
  }

  private static OutboundMessage message(String topic, int i, int partitions) {
    return OutboundMessage.builder(topic, i % partitions)
        .key(("k" + i).getBytes(StandardCharsets.UTF_8))
        .value(("value-" + i).getBytes(StandardCharsets.UTF_8))
        .header("app-header", new byte[] {(byte) i})
        .build();
  }

  @Test
  void everyRegionGetsEveryRecordWithTheSameEnvelopeAndPartitionInTheSameOrder(@TempDir Path spool)
      throws Exception {
    String topic = "fanout";
    regions.createTopic(topic, 3);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    List<String> published = new ArrayList<>();
    try (DualPublisher publisher = publisher(spool, AckPolicy.ALL, registry).signer(SIGNER).build()) {
      List<CompletableFuture<PublishResult>> futures = new ArrayList<>();
      for (int i = 0; i < 60; i++) {
        OutboundMessage m = message(topic, i, 3);
        published.add(m.id());
        futures.add(publisher.publish(m));
      }
      for (CompletableFuture<PublishResult> f : futures) {
        PublishResult r = f.get(30, TimeUnit.SECONDS);
        assertEquals(Set.of(A, B), r.acknowledged().keySet(), r.toString());
        assertTrue(r.spooled().isEmpty());
        assertEquals(r.envelope().shard(), r.acknowledged().get(B).shard());
      }
    }
    List<ConsumerRecord<byte[], byte[]>> inA = TestRegions.readAll(regions.a(), topic, 60, Duration.ofSeconds(30));
    List<ConsumerRecord<byte[], byte[]>> inB = TestRegions.readAll(regions.b(), topic, 60, Duration.ofSeconds(30));
    assertEquals(60, inA.size());
    assertEquals(60, inB.size());
    Map<String, Envelope> envelopesA = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : inA) {
      Envelope e = KafkaEnvelopeHeaders.read(r.headers());
      e.verifyPayload(r.value());
      assertEquals(r.partition(), e.shard(), "shard header is the partition");
      envelopesA.put(e.id(), e);
    }
    for (ConsumerRecord<byte[], byte[]> r : inB) {
      Envelope e = KafkaEnvelopeHeaders.read(r.headers());
      assertEquals(envelopesA.get(e.id()), e, "same id, digest, shard, publish time in both regions");
      assertEquals(EnvelopeSigner.Verification.VALID, SIGNER.verify(e), "signed once, same signature");
      assertEquals(r.partition(), e.shard());
      assertEquals(1, r.headers().headers("app-header").iterator().next().value().length);
    }
    assertEquals(new HashSet<>(published), envelopesA.keySet());
    Map<Integer, List<String>> orderA = TestRegions.idsByPartition(inA);
    assertEquals(orderA, TestRegions.idsByPartition(inB), "same id sequence per partition");
    // and that sequence is the publish order
    for (int p = 0; p < 3; p++) {
      List<String> expected = new ArrayList<>();
      for (int i = p; i < 60; i += 3) {
        expected.add(published.get(i));
      }
      assertEquals(expected, orderA.get(p));
    }
    assertEquals(60.0, registry.get("tandem.publisher.acknowledged").tag("region", "region-b").counter().count());
    assertEquals(0.0, registry.get("tandem.publisher.spooled").tag("region", "region-b").counter().count());
    assertEquals(60, registry.get("tandem.publisher.latency").tag("region", "region-b").timer().count());
  }

  @Test
  void regionBDownUnderAnyEverySendCompletesAndTheSpoolDrainsInOrder(@TempDir Path spool) throws Exception {
    String topic = "outage-any";
    regions.createTopic(topic, 2);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    int total = 240;
    List<String> published = new ArrayList<>();
    AtomicInteger completed = new AtomicInteger();
    CountDownLatch before = new CountDownLatch(60);
    CountDownLatch during = new CountDownLatch(150);
    AtomicReference<Throwable> streamFailure = new AtomicReference<>();
    List<PublishResult> spooledForB = new CopyOnWriteArrayList<>();
    Recorder recorder = new Recorder();
    CircuitBreakerConfig opensAtFirstFailure = CircuitBreakerConfig.custom()
        .slidingWindow(2, 1, CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
        .failureRateThreshold(50)
        .waitDurationInOpenState(Duration.ofMillis(500))
        .permittedNumberOfCallsInHalfOpenState(1)
        .automaticTransitionFromOpenToHalfOpenEnabled(true)
        .build();
    try (DualPublisher publisher = publisher(spool, AckPolicy.ANY, registry)
        .circuitBreakerConfig(opensAtFirstFailure).listener(recorder).build()) {
      Thread stream = new Thread(() -> {
        try {
          for (int i = 0; i < total; i++) {
            OutboundMessage m = message(topic, i, 2);
            synchronized (published) {
              published.add(m.id());
            }
            PublishResult r = publisher.publish(m).get(30, TimeUnit.SECONDS);
            assertTrue(r.acknowledged().containsKey(A), r.toString());
            if (r.spooled().contains(B)) {
              spooledForB.add(r);
            }
            completed.incrementAndGet();
            before.countDown();
            during.countDown();
          }
        } catch (Throwable t) {
          streamFailure.set(t);
          while (before.getCount() > 0) {
            before.countDown();
          }
          while (during.getCount() > 0) {
            during.countDown();
          }
        }
      }, "publish-stream");
      stream.start();
      assertTrue(before.await(60, TimeUnit.SECONDS));
      regions.b().stopBroker();
      try {
        assertTrue(during.await(90, TimeUnit.SECONDS));
        assertTrue(publisher.status(B).spooling(), "region B spools while down");
        assertTrue(publisher.status(B).spoolDepth() > 0);
        await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("tandem.publisher.circuit.state")
            .tag("region", "region-b").gauge().value() != 0.0);
        assertEquals(CircuitBreaker.State.CLOSED, publisher.status(A).circuit());
      } finally {
        regions.b().startBroker();
      }
      stream.join(TimeUnit.SECONDS.toMillis(90));
      if (streamFailure.get() != null) {
        throw new AssertionError("a publish failed under ANY", streamFailure.get());
      }
      assertEquals(total, completed.get(), "every send completed");
      assertTrue(publisher.awaitSpoolDrained(Duration.ofSeconds(60)), "spool drained after B came back");
      assertEquals(0, publisher.status(B).spoolDepth());
      assertFalse(spooledForB.isEmpty());
      for (PublishResult r : spooledForB) {
        // the delivery future of a spooled copy completes with the broker's ack after the replay
        SinkAck replayedAck = r.delivery(B).get(10, TimeUnit.SECONDS);
        assertEquals(B, replayedAck.region());
        assertTrue(replayedAck.position() >= 0, replayedAck.toString());
        assertEquals(r.envelope().shard(), replayedAck.shard());
      }
      assertEquals(CircuitBreaker.State.CLOSED, publisher.status(B).circuit());
      assertEquals(0.0, registry.get("tandem.publisher.circuit.state").tag("region", "region-b").gauge().value());
      assertEquals(0.0, registry.get("tandem.publisher.spool.depth").tag("region", "region-b").gauge().value());
    }
    assertTrue(recorder.events.indexOf("region-b:spooling") >= 0, recorder.events.toString());
    assertTrue(recorder.events.contains("region-b:CLOSED->OPEN"), recorder.events.toString());
    assertTrue(recorder.events.contains("region-b:HALF_OPEN->CLOSED"), recorder.events.toString());
    assertEquals("region-b:drained", recorder.events.get(recorder.events.size() - 1), recorder.events.toString());
    assertTrue(recorder.events.stream().noneMatch(e -> e.startsWith("region-a")), recorder.events.toString());
    double spooled = registry.get("tandem.publisher.spooled").tag("region", "region-b").counter().count();
    double replayed = registry.get("tandem.publisher.replayed").tag("region", "region-b").counter().count();
    assertTrue(spooled > 0, "some copies went through the spool");
    assertEquals(spooled, replayed, "every spooled copy was replayed");

    List<ConsumerRecord<byte[], byte[]>> inB = TestRegions.readAll(regions.b(), topic, total, Duration.ofSeconds(30));
    Map<Integer, List<String>> firstB = TestRegions.firstOccurrences(TestRegions.idsByPartition(inB));
    Set<String> seenB = new HashSet<>();
    firstB.values().forEach(seenB::addAll);
    assertEquals(new HashSet<>(published), seenB, "B holds every published id and no other");
    for (int p = 0; p < 2; p++) {
      List<String> expected = new ArrayList<>();
      for (int i = p; i < total; i += 2) {
        expected.add(published.get(i));
      }
      assertEquals(expected, firstB.get(p), "publish order per partition in B (first occurrences)");
    }
    List<ConsumerRecord<byte[], byte[]>> inA = TestRegions.readAll(regions.a(), topic, total, Duration.ofSeconds(30));
    assertEquals(TestRegions.firstOccurrences(TestRegions.idsByPartition(inA)), firstB,
        "both regions show the same id sequence per partition");
    for (ConsumerRecord<byte[], byte[]> r : inB) {
      KafkaEnvelopeHeaders.read(r.headers()).verifyPayload(r.value());
    }
  }

  @Test
  void aMessageEveryRegionRejectsFailsClearlyAndIsNeitherSpooledNorChargedToTheRegion(@TempDir Path spool)
      throws Exception {
    String topic = "too-large";
    regions.createTopic(topic, 1);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (DualPublisher publisher = publisher(spool, AckPolicy.ANY, registry).build()) {
      // above the producer's max.request.size (1 MiB by default): no retry or replay can help
      OutboundMessage huge = OutboundMessage.builder(topic, 0).value(new byte[2 * 1024 * 1024]).build();
      java.util.concurrent.ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(
          java.util.concurrent.ExecutionException.class, () -> publisher.publish(huge).get(30, TimeUnit.SECONDS));
      PublishException pe = org.junit.jupiter.api.Assertions.assertInstanceOf(PublishException.class, e.getCause());
      assertEquals(Set.of(A, B), pe.failures().keySet());
      pe.failures().values().forEach(t ->
          org.junit.jupiter.api.Assertions.assertInstanceOf(MessageRejectedException.class, t));
      assertTrue(pe.getMessage().contains("RecordTooLargeException"), pe.getMessage());
      assertEquals(Set.of(), pe.spooled());
      for (RegionId r : List.of(A, B)) {
        RegionStatus st = publisher.status(r);
        assertFalse(st.spooling(), st.toString());
        assertEquals(0, st.spoolDepth());
        assertEquals(CircuitBreaker.State.CLOSED, st.circuit());
        assertEquals(1.0, registry.get("tandem.publisher.failed").tag("region", r.name())
            .tag("outcome", "rejected").counter().count());
      }
      // the regions are healthy: the next message goes straight through
      PublishResult ok = publisher.publish(message(topic, 1, 1)).get(30, TimeUnit.SECONDS);
      assertEquals(Set.of(A, B), ok.acknowledged().keySet());
    }
  }
}
