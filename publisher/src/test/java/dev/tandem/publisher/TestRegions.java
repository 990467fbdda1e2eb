package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import dev.tandem.testkit.KafkaRegion;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/** Test helpers over the testkit regions: quick-failing producer settings and reading a topic whole. */
final class TestRegions {

  /** The testkit's {@code region-a} ({@link dev.tandem.testkit.TestRegions#A}). */
  static final RegionId A = dev.tandem.testkit.TestRegions.A;
  /** The testkit's {@code region-b} ({@link dev.tandem.testkit.TestRegions#B}). */
  static final RegionId B = dev.tandem.testkit.TestRegions.B;

  private TestRegions() {}

  /** Producer settings that give up on a dead region in about two seconds. */
  static Properties fastFailing(KafkaRegion region) {
    Properties p = region.producerProperties();
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "1000");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "2000");
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "1000");
    p.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
    p.put(ProducerConfig.RETRY_BACKOFF_MAX_MS_CONFIG, "200");
    return p;
  }

  static KafkaRegionalSink sink(KafkaRegion region) {
    return KafkaRegionalSink.create(RegionId.of(region.name()), fastFailing(region));
  }

  /**
   * Reads the topic from the beginning until at least {@code atLeast} records arrived or {@code
   * timeout} passed; returns what it read, in offset order per partition.
   */
  static List<ConsumerRecord<byte[], byte[]>> readAll(
      KafkaRegion region, String topic, int atLeast, Duration timeout) {
    Properties p = region.consumerProperties("reader-" + System.nanoTime());
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      List<TopicPartition> parts = new ArrayList<>();
      for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
        parts.add(new TopicPartition(topic, pi.partition()));
      }
      c.assign(parts);
      c.seekToBeginning(parts);
      long deadline = System.nanoTime() + timeout.toNanos();
      while (out.size() < atLeast && System.nanoTime() < deadline) {
        c.poll(Duration.ofMillis(200)).forEach(out::add);
      }
    }
    return out;
  }

  /** The sequence of tandem ids per partition, in offset order. */
  static Map<Integer, List<String>> idsByPartition(List<ConsumerRecord<byte[], byte[]>> records) {
    Map<Integer, List<String>> m = new java.util.TreeMap<>();
    records.stream()
        .sorted(java.util.Comparator.comparingInt((ConsumerRecord<byte[], byte[]> r) -> r.partition())
            .thenComparingLong(ConsumerRecord::offset))
        .forEach(r -> m.computeIfAbsent(r.partition(), k -> new ArrayList<>())
            .add(KafkaEnvelopeHeaders.id(r.headers())));
    return m;
  }

  /** The same, keeping only each id's first occurrence (a replayed copy may land twice). */
  static Map<Integer, List<String>> firstOccurrences(Map<Integer, List<String>> byPartition) {
    Map<Integer, List<String>> m = new LinkedHashMap<>();
    byPartition.forEach((p, ids) -> m.put(p, ids.stream().distinct().collect(Collectors.toList())));
    return m;
  }
}
