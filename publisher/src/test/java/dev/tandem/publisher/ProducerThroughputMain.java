package dev.tandem.publisher;

import dev.tandem.testkit.TwoRegions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A quick load run (not a test, not a JMH benchmark): records/s of one raw KafkaProducer to one
 * in-JVM cluster versus TandemKafkaProducer to two, same settings (acks=all, idempotent, linger 5 ms),
 * one thread sending asynchronously then flushing. The brokers share this JVM and its 2 cores, so only
 * the ratio means something. Args: records [value bytes].
 */
public final class ProducerThroughputMain {

  private ProducerThroughputMain() {}

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 50_000;
    int size = args.length > 1 ? Integer.parseInt(args[1]) : 200;
    byte[] value = new byte[size];
    try (TwoRegions regions = TwoRegions.start()) {
      for (int round = 0; round < 3; round++) {
        String topic = "load-" + round;
        regions.createTopic(topic, 4);
        Properties raw = common(regions.a().bootstrapServers());
        try (Producer<String, byte[]> p = new KafkaProducer<>(raw, new StringSerializer(), new ByteArraySerializer())) {
          run("raw KafkaProducer, 1 region", p, topic, n, value);
        }
        try (Producer<String, byte[]> pa = new KafkaProducer<>(raw, new StringSerializer(), new ByteArraySerializer());
            Producer<String, byte[]> pb = new KafkaProducer<>(common(regions.b().bootstrapServers()),
                new StringSerializer(), new ByteArraySerializer())) {
          runBoth("2 raw KafkaProducers, 1 per region", pa, pb, topic, n, value);
        }
        for (String policy : new String[] {"ALL", "ANY"}) {
          Path spool = Files.createTempDirectory("load-spool");
          Properties t = common("unused:0");
          t.remove(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG);
          t.put(TandemProducerConfig.REGIONS_CONFIG, "region-a,region-b");
          t.put(TandemProducerConfig.REGION_PREFIX + "region-a.bootstrap.servers", regions.a().bootstrapServers());
          t.put(TandemProducerConfig.REGION_PREFIX + "region-b.bootstrap.servers", regions.b().bootstrapServers());
          t.put(TandemProducerConfig.SPOOL_DIR_CONFIG, spool.toString());
          t.put(TandemProducerConfig.ACK_POLICY_CONFIG, policy);
          t.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
          t.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
          try (Producer<String, byte[]> p = new TandemKafkaProducer<>(t)) {
            run("TandemKafkaProducer " + policy + ", 2 regions", p, topic, n, value);
          }
        }
      }
    }
  }

  private static void runBoth(String name, Producer<String, byte[]> a, Producer<String, byte[]> b,
      String topic, int n, byte[] value) {
    for (int i = 0; i < 2_000; i++) {
      a.send(new ProducerRecord<>(topic, "k" + i, value));
      b.send(new ProducerRecord<>(topic, "k" + i, value));
    }
    a.flush();
    b.flush();
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      a.send(new ProducerRecord<>(topic, "k" + i, value));
      b.send(new ProducerRecord<>(topic, "k" + i, value));
    }
    a.flush();
    b.flush();
    long nanos = System.nanoTime() - t0;
    System.out.printf("%-40s %8.0f records/s (%d x %d B in %d ms)%n", name, n / (nanos / 1e9), n,
        value.length, nanos / 1_000_000);
  }

  private static Properties common(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    return p;
  }

  private static void run(String name, Producer<String, byte[]> p, String topic, int n, byte[] value) {
    // warm-up: metadata, connections, JIT
    for (int i = 0; i < 2_000; i++) {
      p.send(new ProducerRecord<>(topic, "k" + i, value));
    }
    p.flush();
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      p.send(new ProducerRecord<>(topic, "k" + i, value));
    }
    p.flush();
    long nanos = System.nanoTime() - t0;
    System.out.printf("%-40s %8.0f records/s (%d x %d B in %d ms)%n", name, n / (nanos / 1e9), n,
        value.length, nanos / 1_000_000);
  }
}
