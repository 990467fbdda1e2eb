package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.Envelope;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TandemKafkaProducer as a drop-in Kafka Producer, against two real KRaft clusters. */
@TandemClusters
class TandemKafkaProducerTest {

  static TwoRegions regions;

  private static Properties config(Path spool) {
    Properties p = new Properties();
    p.put(TandemProducerConfig.REGIONS_CONFIG, "region-a,region-b");
    p.put(TandemProducerConfig.REGION_PREFIX + "region-a.bootstrap.servers", regions.a().bootstrapServers());
    p.put(TandemProducerConfig.REGION_PREFIX + "region-b.bootstrap.servers", regions.b().bootstrapServers());
    p.put(TandemProducerConfig.SPOOL_DIR_CONFIG, spool.toString());
    p.put(TandemProducerConfig.ACK_POLICY_CONFIG, "all");
    p.put(TandemProducerConfig.TIMEOUT_MS_CONFIG, "5000");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000");
    return p;
  }

  @Test
  void sendWritesEachRecordOnceToEveryRegionWithKafkasPartitionAndOneId(@TempDir Path spool) throws Exception {
    String topic = Topics.fresh("tkp-orders");
    regions.createTopic(topic, 4);
    List<CompletableFuture<RecordMetadata>> callbacks = new ArrayList<>();
    Map<String, Integer> partitionOfKey = new HashMap<>();
    try (Producer<String, String> producer = new TandemKafkaProducer<>(config(spool))) {
      for (int i = 0; i < 20; i++) {
        String key = "customer-" + i;
        CompletableFuture<RecordMetadata> cb = new CompletableFuture<>();
        callbacks.add(cb);
        producer.send(new ProducerRecord<>(topic, key, "order " + i), (meta, err) -> {
          if (err != null) {
            cb.completeExceptionally(err);
          } else {
            cb.complete(meta);
          }
        });
        // Kafka's default partitioner for a keyed record: murmur2 of the serialized key
        partitionOfKey.put(key, Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % 4);
      }
      ProducerRecord<String, String> business = new ProducerRecord<>(topic, null, "no key, business id");
      business.headers().add(TandemKafkaProducer.ID_HEADER, "order-42".getBytes(StandardCharsets.UTF_8));
      business.headers().add("trace", "t-1".getBytes(StandardCharsets.UTF_8));
      Future<RecordMetadata> businessSent = producer.send(business);
      producer.flush();
      for (CompletableFuture<RecordMetadata> cb : callbacks) {
        assertTrue(cb.isDone(), "flush waits for every callback");
        RecordMetadata meta = cb.get();
        assertTrue(meta.hasOffset() && meta.offset() >= 0, meta.toString());
      }
      assertTrue(businessSent.get(10, TimeUnit.SECONDS).offset() >= 0);
      assertEquals(4, producer.partitionsFor(topic).size());
      assertTrue(producer.metrics().keySet().stream()
          .anyMatch(n -> "region-b".equals(n.tags().get("tandem-region"))));
    }
    for (var region : regions.both()) {
      List<ConsumerRecord<byte[], byte[]>> records = TestRegions.readAll(region, topic, 21, Duration.ofSeconds(30));
      assertEquals(21, records.size(), region.name());
      for (ConsumerRecord<byte[], byte[]> r : records) {
        Envelope e = KafkaEnvelopeHeaders.read(r.headers());
        e.verifyPayload(r.value());
        assertEquals(r.partition(), e.shard());
        if (r.key() != null) {
          String key = new String(r.key(), StandardCharsets.UTF_8);
          assertEquals(partitionOfKey.get(key), r.partition(), "default partitioner for " + key);
        } else {
          assertEquals("order-42", e.id(), "the business key in the id header is the Tandem id");
          assertEquals("t-1", new String(r.headers().lastHeader("trace").value(), StandardCharsets.UTF_8));
          assertEquals(1, countHeaders(r, TandemKafkaProducer.ID_HEADER), "one tandem-id header");
        }
      }
    }
    Map<Integer, List<String>> a = TestRegions.idsByPartition(TestRegions.readAll(regions.a(), topic, 21, Duration.ofSeconds(30)));
    Map<Integer, List<String>> b = TestRegions.idsByPartition(TestRegions.readAll(regions.b(), topic, 21, Duration.ofSeconds(30)));
    assertEquals(a, b, "same ids in the same partitions in the same order");
  }

  private static int countHeaders(ConsumerRecord<byte[], byte[]> r, String name) {
    int n = 0;
    for (var h : r.headers().headers(name)) {
      n++;
    }
    return n;
  }

  @Test
  void wrapsExistingByteArrayProducersAndSpreadsNullKeysOverTheSamePartitionsEverywhere(@TempDir Path spool)
      throws Exception {
    String topic = Topics.fresh("tkp-nullkeys");
    regions.createTopic(topic, 3);
    try (TandemKafkaProducer<String, String> producer =
        TandemKafkaProducer.builder(new StringSerializer(), new StringSerializer())
            .region(TestRegions.A, rawProducer(regions.a().bootstrapServers()))
            .region(TestRegions.B, rawProducer(regions.b().bootstrapServers()))
            .publisher(b -> b.spoolDirectory(spool).ackPolicy(AckPolicy.ALL).timeout(Duration.ofSeconds(5)))
            .build()) {
      List<Future<RecordMetadata>> sent = new ArrayList<>();
      for (int i = 0; i < 3 * TandemKafkaProducer.STICKY_RECORDS; i++) {
        sent.add(producer.send(new ProducerRecord<>(topic, "v" + i)));
      }
      java.util.Set<Integer> used = new java.util.HashSet<>();
      for (Future<RecordMetadata> f : sent) {
        used.add(f.get(30, TimeUnit.SECONDS).partition());
      }
      assertEquals(java.util.Set.of(0, 1, 2), used, "sticky partition moves on");
    }
    int n = 3 * TandemKafkaProducer.STICKY_RECORDS;
    assertEquals(
        TestRegions.idsByPartition(TestRegions.readAll(regions.a(), topic, n, Duration.ofSeconds(30))),
        TestRegions.idsByPartition(TestRegions.readAll(regions.b(), topic, n, Duration.ofSeconds(30))));
  }

  private static KafkaProducer<byte[], byte[]> rawProducer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
    return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
  }

  @Test
  void aTopicWithDifferentPartitionCountsFailsNamingBothCounts(@TempDir Path spool) {
    String topic = Topics.fresh("tkp-mismatch");
    regions.a().createTopic(topic, 2);
    regions.b().createTopic(topic, 3);
    try (Producer<String, String> producer = new TandemKafkaProducer<>(config(spool))) {
      PartitionCountMismatchException e = assertThrows(PartitionCountMismatchException.class,
          () -> producer.send(new ProducerRecord<>(topic, "k", "v")));
      assertTrue(e.getMessage().contains("region-a=2") && e.getMessage().contains("region-b=3"), e.getMessage());
      assertEquals(Map.of("region-a", 2, "region-b", 3), e.counts());
    }
    assertEquals(0, TestRegions.readAll(regions.a(), topic, 1, Duration.ofSeconds(2)).size(), "nothing sent");
  }

  @Test
  void transactionalCallsAreRejectedSayingWhy(@TempDir Path spool) {
    try (Producer<String, String> producer = new TandemKafkaProducer<>(config(spool))) {
      List<Runnable> calls = List.of(
          producer::initTransactions,
          producer::beginTransaction,
          producer::commitTransaction,
          producer::abortTransaction,
          () -> producer.sendOffsetsToTransaction(Map.of(), new ConsumerGroupMetadata("g")));
      for (Runnable call : calls) {
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, call::run);
        assertTrue(e.getMessage().contains("cannot commit atomically across two independent Kafka clusters"),
            e.getMessage());
      }
    }
  }

  @Test
  void aPartitionerOrInterceptorIsRefusedNotIgnored(@TempDir Path spool) {
    Properties withPartitioner = config(spool);
    withPartitioner.put(ProducerConfig.PARTITIONER_CLASS_CONFIG, "com.example.MyPartitioner");
    KafkaException e = assertThrows(KafkaException.class, () -> new TandemKafkaProducer<>(withPartitioner));
    assertTrue(e.getMessage().contains("partitioner.class is not supported"), e.getMessage());
    Properties withInterceptor = config(spool);
    withInterceptor.put(ProducerConfig.INTERCEPTOR_CLASSES_CONFIG, "com.example.MyInterceptor");
    e = assertThrows(KafkaException.class, () -> new TandemKafkaProducer<>(withInterceptor));
    assertTrue(e.getMessage().contains("interceptor.classes is not supported"), e.getMessage());
  }

  /**
   * A transactional.id among the common properties (a config moved over from a transactional
   * producer) reached both region producers: every send then failed ("before completing a call to
   * initTransactions"), both regions were marked failed and the copies spooled for a replay that could
   * never succeed. Refused at construction instead, naming the key and its value.
   */
  @Test
  void aTransactionalIdIsRefusedAtConstruction(@TempDir Path spool) {
    Properties withTransactionalId = config(spool);
    withTransactionalId.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "orders-tx");
    KafkaException e = assertThrows(KafkaException.class, () -> new TandemKafkaProducer<>(withTransactionalId));
    assertTrue(e.getMessage().contains("transactional.id=orders-tx"), e.getMessage());
    assertTrue(e.getMessage().contains("transactions"), e.getMessage());
  }

  /**
   * Review s9-r R5: the same keys given for one region only ({@code tandem.region.<r>.<key>}, which
   * reaches that region's producer after the common properties) are refused too, naming the key
   * and its value (TandemClientConfig refuses them for every region client).
   */
  @Test
  void theUnsupportedKeysAreRefusedPerRegionToo(@TempDir Path spool) {
    for (String key : List.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG,
        ProducerConfig.PARTITIONER_CLASS_CONFIG, ProducerConfig.INTERCEPTOR_CLASSES_CONFIG)) {
      Properties perRegion = config(spool);
      perRegion.put(TandemProducerConfig.REGION_PREFIX + "region-b." + key, "orders-b");
      KafkaException e = assertThrows(KafkaException.class, () -> new TandemKafkaProducer<>(perRegion));
      assertTrue(e.getMessage().contains("tandem.region.region-b." + key), e.getMessage());
      assertTrue(e.getMessage().contains("orders-b"), e.getMessage());
    }
  }

  @Test
  void sendAfterCloseFails(@TempDir Path spool) {
    Producer<String, String> producer = new TandemKafkaProducer<>(config(spool));
    producer.close();
    assertThrows(IllegalStateException.class, () -> producer.send(new ProducerRecord<>("any", "v")));
  }
}
