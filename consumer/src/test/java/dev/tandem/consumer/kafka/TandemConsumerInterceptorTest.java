package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tandem.consumer.SharedStores;
import dev.tandem.core.Envelope;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.KafkaEnvelopeHeaders;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.KafkaRegion;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The interceptor, configured through properties only, on a real broker and a real store. */
class TandemConsumerInterceptorTest {

  static KafkaRegion region;

  @BeforeAll
  static void start() {
    region = KafkaRegion.start("region-a");
  }

  @AfterAll
  static void stop() {
    region.close();
  }

  static void send(KafkaProducer<String, byte[]> p, String topic, String id, String payload) throws Exception {
    byte[] bytes = payload.getBytes(StandardCharsets.UTF_8);
    ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, 0, "k", bytes);
    if (id != null) {
      KafkaEnvelopeHeaders.write(Envelope.forPayload(id, bytes, 0, System.currentTimeMillis()), r.headers());
    }
    p.send(r).get();
  }

  Properties consumerProps(Path dir, String group) {
    Properties p = region.consumerProperties(group);
    p.put(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG, TandemConsumerInterceptor.class.getName());
    p.put(TandemConsumerConfig.STORE_DIRECTORY, dir.toString());
    p.put(TandemConsumerConfig.REGION, "region-a");
    p.put(TandemConsumerConfig.INSTANCE, "i1");
    return p;
  }

  @Test
  void dropsCompletedIdsPassesFreshConflictingAndIdLessRecords(@TempDir Path dir) throws Exception {
    String topic = "icpt";
    region.createTopic(topic, 1);
    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(region.producerProperties())) {
      send(p, topic, "done-1", "A");
      send(p, topic, "fresh-1", "B");
      send(p, topic, null, "no id");
      send(p, topic, "done-1", "A but changed"); // a conflicting copy of a completed id
    }
    // the application records a completion through the shared store of the same directory
    IdempotencyStore store = SharedStores.acquire(dir, RegionId.of("region-a"), "i1",
        () -> IdempotencyStore.builder().region(RegionId.of("region-a")).instance("i1").directory(dir).build());
    try {
      ClaimResult c = store.claim("done-1", 0, dev.tandem.core.PayloadDigest.of("A".getBytes(StandardCharsets.UTF_8)),
          0, Duration.ofSeconds(30));
      assertEquals(ClaimResult.Acquired.class, c.getClass());
      store.complete("done-1", 0, null);

      List<String> seen = new ArrayList<>();
      try (KafkaConsumer<String, byte[]> c1 = new KafkaConsumer<>(consumerProps(dir, "g1"));
          KafkaConsumer<String, byte[]> c2 = new KafkaConsumer<>(consumerProps(dir, "g2"))) {
        assertEquals(3, SharedStores.references(dir), "two interceptors and the app share one store");
        c1.subscribe(List.of(topic));
        await().atMost(Duration.ofSeconds(30)).until(() -> {
          c1.poll(Duration.ofMillis(200)).forEach(r -> seen.add(new String(r.value(), StandardCharsets.UTF_8)));
          return seen.size() >= 3;
        });
        // every record was fetched; the completed one was dropped, the rest passed
        assertEquals(List.of("B", "no id", "A but changed"), seen);
        assertEquals(4L, c1.position(new org.apache.kafka.common.TopicPartition(topic, 0)));
      }
      assertEquals(1, SharedStores.references(dir));
    } finally {
      SharedStores.release(dir);
    }
    assertEquals(0, SharedStores.references(dir));
  }

  /**
   * A cold store (reopened, nothing cached): every completed id of a poll is answered by the one
   * batched read (cache, then one RocksDB multiGet); ids the store cannot hold pass and are counted.
   */
  @Test
  void aPollOfManyCompletedIdsOnAColdStoreDropsThemAllAndPassesBadIds(@TempDir Path dir)
      throws Exception {
    String topic = "icpt-batch";
    int partitions = 3;
    region.createTopic(topic, partitions);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Metrics.addRegistry(meters);
    IdempotencyStore store = SharedStores.acquire(dir, RegionId.of("region-a"), "i1",
        () -> IdempotencyStore.builder().region(RegionId.of("region-a")).instance("i1").directory(dir).build());
    List<String> fresh = new ArrayList<>();
    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(region.producerProperties())) {
      for (int i = 0; i < 30; i++) {
        String id = "batch-" + i;
        byte[] payload = ("payload " + i).getBytes(StandardCharsets.UTF_8);
        int partition = i % partitions;
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, partition, "k", payload);
        KafkaEnvelopeHeaders.write(Envelope.forPayload(id, payload, partition, System.currentTimeMillis()),
            r.headers());
        p.send(r).get();
        if (i < 20) { // completed by the application before the consumer starts
          store.claim(id, partition, dev.tandem.core.PayloadDigest.of(payload), 0, Duration.ofSeconds(30));
          store.complete(id, partition, null);
        } else {
          fresh.add("payload " + i);
        }
      }
      for (String badId : List.of("", "x".repeat(129), "ctl\u0007id")) {
        ProducerRecord<String, byte[]> r =
            new ProducerRecord<>(topic, 0, "k", ("bad " + badId.length()).getBytes(StandardCharsets.UTF_8));
        r.headers().add(TandemHeaders.ID, badId.getBytes(StandardCharsets.UTF_8));
        p.send(r).get();
      }
    } finally {
      SharedStores.release(dir); // closed: the interceptor opens it again with an empty cache
    }
    assertEquals(0, SharedStores.references(dir));
    try {
      List<String> seen = new ArrayList<>();
      try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(consumerProps(dir, "g-batch"))) {
        c.subscribe(List.of(topic));
        await().atMost(Duration.ofSeconds(60)).until(() -> {
          c.poll(Duration.ofMillis(200)).forEach(r -> seen.add(new String(r.value(), StandardCharsets.UTF_8)));
          if (c.assignment().size() < partitions) {
            return false; // the group has not assigned every partition yet: no position to read
          }
          long positions = 0;
          for (int part = 0; part < partitions; part++) {
            positions += c.position(new org.apache.kafka.common.TopicPartition(topic, part));
          }
          return positions == 33;
        });
      }
      List<String> expected = new ArrayList<>(fresh);
      expected.addAll(List.of("bad 0", "bad 129", "bad 6"));
      assertEquals(expected.stream().sorted().toList(), seen.stream().sorted().toList(),
          "the 20 completed ids dropped; the fresh and the bad ids passed");
      assertEquals(20.0, meters.get("tandem.consumer.interceptor.dropped").tag("region", "region-a")
          .counter().count());
      assertEquals(13.0, meters.get("tandem.consumer.interceptor.passed").tag("region", "region-a")
          .counter().count());
      assertEquals(2.0, meters.get("tandem.consumer.interceptor.invalid").tag("region", "region-a")
          .counter().count(), "the empty and the oversized id");
    } finally {
      Metrics.removeRegistry(meters);
    }
  }

  @Test
  void missingConfigurationFailsClearly(@TempDir Path dir) {
    Properties p = region.consumerProperties("g3");
    p.put(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG, TandemConsumerInterceptor.class.getName());
    Exception e = assertThrows(Exception.class, () -> new KafkaConsumer<String, byte[]>(p).close());
    Throwable root = e;
    while (root.getCause() != null) {
      root = root.getCause();
    }
    assertEquals(true, root.getMessage().contains(TandemConsumerConfig.STORE_DIRECTORY), root.getMessage());
  }

  @Test
  void aDirectoryIsOneReplica(@TempDir Path dir) {
    IdempotencyStore s = SharedStores.acquire(dir, RegionId.of("region-a"), "i1",
        () -> IdempotencyStore.builder().region(RegionId.of("region-a")).instance("i1").directory(dir).build());
    try {
      assertSame(s, SharedStores.acquire(dir, RegionId.of("region-a"), "i1", () -> {
        throw new AssertionError("must not open twice");
      }));
      SharedStores.release(dir);
      assertThrows(IllegalStateException.class, () -> SharedStores.acquire(dir, RegionId.of("region-b"), "i1",
          () -> { throw new AssertionError("must not open"); }));
    } finally {
      SharedStores.release(dir);
    }
    assertEquals(0, SharedStores.references(dir));
  }
}
