package dev.tandem.benchmarks;

import dev.tandem.testkit.ChildJvm;
import dev.tandem.testkit.RegionsMain;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The two Kafka regions of a benchmark, each a single-node KRaft cluster, run by {@link RegionsMain}
 * in a child JVM: the brokers' CPU and garbage are not counted as the benchmark's own (they still
 * share the machine's cores, which is why results are read as ratios within one run).
 */
final class RegionsProcess implements AutoCloseable {

  static final String A = "region-a";
  static final String B = "region-b";

  private final ChildJvm child;
  private final Map<String, String> bootstraps = new LinkedHashMap<>();

  private RegionsProcess(ChildJvm child) {
    this.child = child;
  }

  /** Starts both regions and waits until they are ready (a few seconds). */
  static RegionsProcess start() throws InterruptedException {
    RegionsProcess r =
        new RegionsProcess(ChildJvm.start(List.of("-Xmx1g", "-XX:+UseSerialGC"), RegionsMain.class, A, B));
    try {
      for (int i = 0; i < 2; i++) {
        String line = r.child.awaitLine(l -> l.startsWith("REGION "), Duration.ofSeconds(90));
        String[] p = line.split("\\s+");
        r.bootstraps.put(p[1], p[2]);
      }
      r.child.awaitLine("READY"::equals, Duration.ofSeconds(30));
      return r;
    } catch (RuntimeException | Error | InterruptedException e) {
      r.close();
      throw e;
    }
  }

  String bootstrap(String region) {
    return bootstraps.get(region);
  }

  /** Creates {@code topic} with {@code partitions} in both regions and waits for the answer. */
  void createTopic(String topic, int partitions) throws InterruptedException {
    String cmd = "topic * " + topic + " " + partitions;
    child.send(cmd);
    String answer = child.awaitLine(l -> l.equals("OK " + cmd) || l.startsWith("ERR"), Duration.ofSeconds(60));
    if (!answer.startsWith("OK")) {
      throw new IllegalStateException("topic creation failed: " + answer);
    }
  }

  /** The producer settings every producer of the benchmark shares: bytes, acks=all, linger 1 ms. */
  Properties producer(String region) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap(region));
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    return p;
  }

  /** Consumer settings: bytes, earliest, no auto-commit. */
  Properties consumer(String region, String group) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap(region));
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    return p;
  }

  @Override
  public void close() throws InterruptedException {
    child.close();
  }
}
