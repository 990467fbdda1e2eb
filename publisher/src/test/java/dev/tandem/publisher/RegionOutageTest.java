package dev.tandem.publisher;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** With region B's broker stopped: ALL fails by timeout naming B (copy kept), a full spool fails clearly. */
@TandemClusters(shared = false)
class RegionOutageTest {

  static TwoRegions regions;
  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;

  private static OutboundMessage message(String topic, String text) {
    return OutboundMessage.builder(topic, 0).value(text.getBytes(StandardCharsets.UTF_8)).build();
  }

  @Test
  void withRegionBDownAllFailsByTimeoutNamingBAFullSpoolFailsClearlyAndBNeverStallsA(
      @TempDir Path allSpool, @TempDir Path smallSpool, @TempDir Path producerSpool,
      @TempDir Path isolationSpool) throws Exception {
    String topic = "outage-all";
    regions.createTopic(topic, 1);
    regions.createTopic("isolation", 1);
    regions.a().createTopic("late-mismatch", 1);
    regions.b().createTopic("late-mismatch", 2);
    SimpleMeterRegistry allMetrics = new SimpleMeterRegistry();
    SimpleMeterRegistry smallMetrics = new SimpleMeterRegistry();
    List<String> keptForB = new ArrayList<>();
    try (DualPublisher all = DualPublisher.builder()
            .sink(TestRegions.sink(regions.a()))
            .sink(TestRegions.sink(regions.b()))
            .ackPolicy(AckPolicy.ALL)
            .timeout(Duration.ofMillis(1500))
            .spoolDirectory(allSpool)
            .meterRegistry(allMetrics)
            .build();
        DualPublisher small = DualPublisher.builder()
            .sink(TestRegions.sink(regions.a()))
            .sink(TestRegions.sink(regions.b()))
            .ackPolicy(AckPolicy.ANY)
            .timeout(Duration.ofMillis(1500))
            .spoolDirectory(smallSpool)
            .spoolMaxRecords(3)
            .meterRegistry(smallMetrics)
            .build()) {
      // warm both publishers up while B is healthy (metadata cached, direct sends)
      assertEquals(Set.of(A, B), all.publish(message(topic, "warm-all")).get(30, TimeUnit.SECONDS).acknowledged().keySet());
      assertEquals(Set.of(A, B), small.publish(message(topic, "warm-small")).get(30, TimeUnit.SECONDS).acknowledged().keySet());

      TandemKafkaProducer<String, String> lateProducer = null;
      regions.b().stopBroker();
      try {
        // a fresh producer for B has no metadata: its send blocks max.block.ms (5 s) on B's own
        // sink thread, never in publish() and never for A
        Properties slowB = TestRegions.fastFailing(regions.b());
        slowB.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000");
        try (DualPublisher isolated = DualPublisher.builder()
            .sink(TestRegions.sink(regions.a()))
            .sink(KafkaRegionalSink.create(B, slowB))
            .ackPolicy(AckPolicy.ANY)
            .timeout(Duration.ofMillis(1000))
            .spoolDirectory(isolationSpool)
            .build()) {
          long t0 = System.nanoTime();
          var pending = isolated.publish(message("isolation", "while B blocks"));
          long publishCallMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
          PublishResult r = pending.get(30, TimeUnit.SECONDS);
          long settledMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
          assertTrue(publishCallMillis < 500, "publish() did not block on B: " + publishCallMillis + " ms");
          assertTrue(settledMillis < 4000, "settled by the 1 s timeout, not B's 5 s block: " + settledMillis + " ms");
          assertEquals(Set.of(A), r.acknowledged().keySet());
          assertEquals(Set.of(B), r.spooled());
        }

        OutboundMessage m = message(topic, "under-all");
        long start = System.nanoTime();
        ExecutionException e = assertThrows(ExecutionException.class,
            () -> all.publish(m).get(30, TimeUnit.SECONDS));
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        PublishException pe = assertInstanceOf(PublishException.class, e.getCause());
        assertTrue(pe.getMessage().contains("region region-b"), pe.getMessage());
        assertEquals(Set.of(B), pe.failures().keySet());
        Throwable why = pe.failures().get(B);
        // the publisher's timeout or the producer's own request/delivery timeout, whichever is first
        assertTrue(why instanceof RegionTimeoutException
            || why instanceof org.apache.kafka.common.errors.TimeoutException, why.toString());
        assertEquals(Set.of(A), pe.acknowledged());
        assertEquals(Set.of(B), pe.spooled(), "the copy B missed is kept for replay");
        assertTrue(tookMillis >= 900, "failed by a timeout, not at once: took " + tookMillis + " ms");
        keptForB.add(m.id());
        // the next publish meets a region that is spooling: it fails at once, naming B, copy kept
        OutboundMessage next = message(topic, "under-all-2");
        ExecutionException e2 = assertThrows(ExecutionException.class,
            () -> all.publish(next).get(30, TimeUnit.SECONDS));
        PublishException pe2 = assertInstanceOf(PublishException.class, e2.getCause());
        assertInstanceOf(RegionUnavailableException.class, pe2.failures().get(B));
        assertEquals(Set.of(B), pe2.spooled());
        keptForB.add(next.id());

        // the small spool holds 3 copies: after that, B's copy cannot be kept and the publish fails
        List<String> spooledSmall = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          OutboundMessage s = message(topic, "small-" + i);
          PublishResult r = small.publish(s).get(30, TimeUnit.SECONDS);
          assertEquals(Set.of(B), r.spooled(), r.toString());
          spooledSmall.add(s.id());
        }
        assertEquals(3, small.status(B).spoolDepth());
        ExecutionException full = assertThrows(ExecutionException.class,
            () -> small.publish(message(topic, "small-overflow")).get(30, TimeUnit.SECONDS));
        PublishException fullPe = assertInstanceOf(PublishException.class, full.getCause());
        SpoolFullException sfe = assertInstanceOf(SpoolFullException.class, fullPe.failures().get(B));
        assertTrue(sfe.getMessage().contains("spool is full"), sfe.getMessage());
        assertEquals(B, sfe.region());
        assertEquals(Set.of(), fullPe.spooled());
        assertEquals(1.0, smallMetrics.get("tandem.publisher.failed").tag("region", "region-b")
            .tag("outcome", "spool_full").counter().count());
        keptForB.addAll(spooledSmall);

        // an application starting during the outage: the partition count comes from A, B's copy is spooled
        Properties config = new Properties();
        config.put(TandemProducerConfig.REGIONS_CONFIG, "region-a,region-b");
        config.put(TandemProducerConfig.REGION_PREFIX + "region-a.bootstrap.servers", regions.a().bootstrapServers());
        config.put(TandemProducerConfig.REGION_PREFIX + "region-b.bootstrap.servers", regions.b().bootstrapServers());
        config.put(TandemProducerConfig.SPOOL_DIR_CONFIG, producerSpool.toString());
        config.put(TandemProducerConfig.TIMEOUT_MS_CONFIG, "1500");
        config.put(TandemProducerConfig.PARTITION_RECHECK_MS_CONFIG, "300");
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "1000");
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        TandemKafkaProducer<String, String> late = new TandemKafkaProducer<>(config);
        lateProducer = late;
        RecordMetadata meta = late.send(new ProducerRecord<>(topic, "k", "sent while B is down")).get(30, TimeUnit.SECONDS);
        assertEquals(topic, meta.topic());
        assertTrue(meta.offset() >= 0, "acknowledged by region A");
        assertEquals(1, late.publisher().status(B).spoolDepth());
        // B cannot tell this topic's partition count now: A's count is used until B answers
        assertTrue(late.send(new ProducerRecord<>("late-mismatch", "k", "x")).get(30, TimeUnit.SECONDS).offset() >= 0);
      } finally {
        regions.b().startBroker();
      }
      TandemKafkaProducer<String, String> recovered = lateProducer;
      // once B answers again, its different partition count is found and sends to the topic fail
      PartitionCountMismatchException mismatch = await().atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(200))
          .until(() -> sendExpectingMismatch(recovered), java.util.Objects::nonNull);
      assertEquals(java.util.Map.of("region-a", 1, "region-b", 2), mismatch.counts());
      assertTrue(lateProducer.publisher().awaitSpoolDrained(Duration.ofSeconds(60)));
      lateProducer.close();
      assertTrue(all.awaitSpoolDrained(Duration.ofSeconds(60)));
      assertTrue(small.awaitSpoolDrained(Duration.ofSeconds(60)));
      assertEquals(0, all.status(B).spoolDepth());
      assertEquals(0, small.status(B).spoolDepth());
    }
    List<ConsumerRecord<byte[], byte[]>> inB =
        TestRegions.readAll(regions.b(), topic, 3 + keptForB.size(), Duration.ofSeconds(30));
    Set<String> idsInB = new HashSet<>();
    inB.forEach(r -> idsInB.add(KafkaEnvelopeHeaders.id(r.headers())));
    assertEquals(5, keptForB.size());
    assertTrue(idsInB.containsAll(keptForB), "every copy kept for B reached B after it recovered");
    assertTrue(inB.stream().anyMatch(r -> "sent while B is down".equals(new String(r.value(), StandardCharsets.UTF_8))),
        "the late producer's record reached B");
  }

  private static PartitionCountMismatchException sendExpectingMismatch(TandemKafkaProducer<String, String> p)
      throws Exception {
    try {
      p.send(new ProducerRecord<>("late-mismatch", "k", "y")).get(30, TimeUnit.SECONDS);
      return null;
    } catch (PartitionCountMismatchException e) {
      return e;
    }
  }

  @Test
  void aCorruptSpoolRecordIsCountedAndRemovedAndTheRestIsReplayedInOrder(@TempDir Path spool) throws Exception {
    String topic = "corrupt-spool";
    regions.createTopic(topic, 1);
    OutboundMessage first = message(topic, "first");
    OutboundMessage last = message(topic, "last");
    try (DurableSpool s = DurableSpool.open(spool, 100, 1 << 20)) {
      byte[] garbage = "not a spool record".getBytes(StandardCharsets.UTF_8);
      for (Object[] rec : new Object[][] {{0L, SpoolRecordCodec.encode(first)}, {1L, garbage},
          {2L, SpoolRecordCodec.encode(last)}}) {
        byte[] bytes = (byte[]) rec[1];
        s.reserve(B, DurableSpool.recordSize(B, bytes.length));
        s.append(B, (Long) rec[0], bytes).get(10, TimeUnit.SECONDS);
      }
    }
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (DualPublisher publisher = DualPublisher.builder()
        .sink(TestRegions.sink(regions.a()))
        .sink(TestRegions.sink(regions.b()))
        .spoolDirectory(spool)
        .meterRegistry(registry)
        .build()) {
      assertTrue(publisher.awaitSpoolDrained(Duration.ofSeconds(30)));
      assertEquals(0, publisher.status(B).spoolDepth());
    }
    assertEquals(1.0, registry.get("tandem.publisher.spool.corrupt").tag("region", "region-b").counter().count());
    assertEquals(2.0, registry.get("tandem.publisher.replayed").tag("region", "region-b").counter().count());
    List<String> ids = new ArrayList<>();
    TestRegions.readAll(regions.b(), topic, 2, Duration.ofSeconds(30))
        .forEach(r -> ids.add(KafkaEnvelopeHeaders.id(r.headers())));
    assertEquals(List.of(first.id(), last.id()), ids);
    assertEquals(0, TestRegions.readAll(regions.a(), topic, 1, Duration.ofSeconds(2)).size(),
        "replay goes only to the region the copies were spooled for");
  }

  @Test
  void ackPolicyCountsBrokerAcknowledgements() {
    assertEquals(2, AckPolicy.ALL.required(2));
    assertEquals(1, AckPolicy.ANY.required(2));
    assertEquals(2, AckPolicy.QUORUM.required(2));
    assertEquals(2, AckPolicy.QUORUM.required(3));
    assertThrows(IllegalArgumentException.class, () -> AckPolicy.ANY.required(0));
  }
}
