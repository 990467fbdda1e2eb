package dev.tandem.consumer.security;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.KafkaEnvelopeHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Id poisoning through the real transport: on two real KRaft clusters, an attacker with write access
 * to region A's topic sends, for each victim id and on every partition, a copy with the victim's id
 * and its own payload, unsigned or signed with a guessed key, before the real messages are published
 * by a signing {@link TandemKafkaProducer}. The consumer requiring signatures dead-letters every forged
 * copy to the Kafka dead-letter topic (reason header, metric) and runs the handler exactly once per id,
 * with the real payload.
 */
@TandemClusters
class IdPoisoningKafkaTest {

  static final SigningKey KEY = SigningKey.of("orders-1", filled(21));
  static final SigningKey GUESSED = SigningKey.of("orders-1", filled(22));
  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static TwoRegions regions;

  @Test
  void forgedCopiesArrivingFirstAreDeadLetteredAndTheRealOnesRunOnce(@TempDir Path dir)
      throws Exception {
    String topic = Topics.fresh("payments");
    int partitions = 2;
    int n = 20;
    regions.createTopic(topic, partitions);
    regions.a().createTopic(KafkaDeadLetterSink.topicFor(topic), partitions);
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ids.add("payment-" + i);
    }

    // 1. the attacker writes first: every victim id on every partition, alternating forgeries
    int forged = 0;
    try (KafkaProducer<byte[], byte[]> attacker = new KafkaProducer<>(bytes(regions.a().producerProperties()))) {
      for (String id : ids) {
        for (int p = 0; p < partitions; p++) {
          byte[] evil = ("evil " + id).getBytes(StandardCharsets.UTF_8);
          Envelope env = Envelope.forPayload(id, evil, p, System.currentTimeMillis());
          if (forged % 2 == 1) {
            env = EnvelopeSigner.signingWith(GUESSED).sign(env);
          }
          RecordHeaders h = new RecordHeaders();
          KafkaEnvelopeHeaders.write(env, h);
          attacker.send(new ProducerRecord<>(topic, p, (byte[]) null, evil, h)).get(10, TimeUnit.SECONDS);
          forged++;
        }
      }
    }

    // 2. the real, signed messages
    try (TandemKafkaProducer<String, byte[]> producer =
        TandemKafkaProducer.builder(new StringSerializer(), new ByteArraySerializer())
            .region(A, regions.a().producerProperties())
            .region(B, regions.b().producerProperties())
            .publisher(p -> p.spoolDirectory(dir.resolve("spool"))
                .signer(EnvelopeSigner.signingWith(KEY)))
            .build()) {
      for (String id : ids) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, id,
            ("real " + id).getBytes(StandardCharsets.UTF_8));
        r.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
        producer.send(r).get(30, TimeUnit.SECONDS);
      }
    }

    // 3. region A's consumer, requiring signatures
    Map<String, List<String>> handled = new ConcurrentHashMap<>();
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Properties cp = regions.a().consumerProperties("payments-a");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    try (IdempotencyStore store = IdempotencyStore.builder().region(A).instance("a1")
            .directory(dir.resolve("store")).meterRegistry(meters).build();
        KafkaProducer<byte[], byte[]> dlq = new KafkaProducer<>(bytes(regions.a().producerProperties()));
        KafkaConsumer<byte[], byte[]> kafka = new KafkaConsumer<>(cp);
        TandemKafkaConsumer<String, byte[]> consumer =
            TandemKafkaConsumer.builder(topic, new StringDeserializer(), new ByteArrayDeserializer())
                .consumer(kafka)
                .store(store)
                .deadLetterSink(KafkaDeadLetterSink.create(dlq, A))
                .processorOptions(o -> o.requireSignatures(
                    EnvelopeSigner.verifyingWith(List.of(KEY))))
                .handler((rec, ctx) -> handled
                    .computeIfAbsent(ctx.id(), k -> new CopyOnWriteArrayList<>())
                    .add(new String(ctx.payload(), StandardCharsets.UTF_8)))
                .meterRegistry(meters)
                .build()) {
      consumer.start();
      int expectedForged = forged;
      await().atMost(Duration.ofSeconds(60)).until(() -> handled.size() == n
          && deadLetters(meters, "BAD_SIGNATURE") == expectedForged);

      for (String id : ids) {
        assertEquals(List.of("real " + id), handled.get(id), "exactly once, the real payload");
      }
      assertEquals(expectedForged, deadLetters(meters, "BAD_SIGNATURE"));
      // the forged copies are on the dead-letter topic, with their reason
      List<ConsumerRecord<byte[], byte[]>> letters = readAll(KafkaDeadLetterSink.topicFor(topic),
          expectedForged);
      for (ConsumerRecord<byte[], byte[]> l : letters) {
        assertEquals("BAD_SIGNATURE", new String(
            l.headers().lastHeader(KafkaDeadLetterSink.REASON_HEADER).value(), StandardCharsets.UTF_8));
        assertEquals("evil", new String(l.value(), StandardCharsets.UTF_8).substring(0, 4));
      }
    }
  }

  static double deadLetters(SimpleMeterRegistry meters, String reason) {
    return meters.find("tandem.consumer.dead.letters").tag("reason", reason).counters().stream()
        .mapToDouble(c -> c.count()).sum();
  }

  static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int expected) {
    Properties p = regions.a().consumerProperties("dlq-reader");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      c.subscribe(List.of(topic));
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        c.poll(Duration.ofMillis(200)).forEach(out::add);
        return out.size() >= expected;
      });
    }
    assertEquals(expected, out.size());
    return out;
  }

  static Properties bytes(Properties p) {
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    return p;
  }

  static byte[] filled(int v) {
    byte[] b = new byte[32];
    Arrays.fill(b, (byte) v);
    return b;
  }
}
