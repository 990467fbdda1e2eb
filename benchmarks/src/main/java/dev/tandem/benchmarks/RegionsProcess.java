package dev.tandem.benchmarks;

import dev.tandem.testkit.ChildJvm;
import dev.tandem.testkit.RegionsMain;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The two Kafka regions of a benchmark, each a single-node KRaft cluster run by {@link RegionsMain}
 * in a process of its own: the brokers' CPU and garbage are not counted as the benchmark's own (they
 * still share the machine's cores, which is why results are read as ratios within one run).
 *
 * <p>When the environment names running regions ({@value #ENV_A} and {@value #ENV_B}, bootstrap
 * servers; {@code benchmarks/run.sh} starts one {@code RegionsMain} for the whole run and sets them)
 * those are used, so a JMH fork does not pay a cluster start; otherwise a child JVM is started for
 * this fork. Topics are created through an {@link Admin} client either way.
 */
final class RegionsProcess implements AutoCloseable {

  static final String A = "region-a";
  static final String B = "region-b";
  /** Environment variable: bootstrap servers of an already running region-a. */
  static final String ENV_A = "TANDEM_BENCH_REGION_A";
  /** Environment variable: bootstrap servers of an already running region-b. */
  static final String ENV_B = "TANDEM_BENCH_REGION_B";

  private final ChildJvm child;
  private final Map<String, String> bootstraps = new LinkedHashMap<>();

  private RegionsProcess(ChildJvm child) {
    this.child = child;
  }

  /** Starts both regions and waits until they are ready (a few seconds). */
  static RegionsProcess start() throws InterruptedException {
    String a = System.getenv(ENV_A);
    String b = System.getenv(ENV_B);
    if (a != null && b != null) {
      RegionsProcess shared = new RegionsProcess(null);
      shared.bootstraps.put(A, a);
      shared.bootstraps.put(B, b);
      return shared;
    }
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

  /**
   * Creates a topic named {@code prefix} plus a unique suffix with {@code partitions} in both regions
   * (a fresh topic per fork: no fork reads or appends to another's log) and returns its name.
   */
  String createTopic(String prefix, int partitions) throws InterruptedException {
    String topic = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    createNamedTopic(topic, partitions);
    return topic;
  }

  /** Creates {@code topic} (exactly that name) with {@code partitions} in both regions. */
  void createNamedTopic(String topic, int partitions) throws InterruptedException {
    for (String bootstrap : bootstraps.values()) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(60, TimeUnit.SECONDS);
      } catch (ExecutionException | TimeoutException e) {
        throw new IllegalStateException("could not create topic " + topic + " at " + bootstrap, e);
      }
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
    if (child != null) {
      child.close();
    }
  }
}
