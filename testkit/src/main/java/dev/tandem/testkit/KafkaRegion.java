package dev.tandem.testkit;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.apache.kafka.common.network.ListenerName;
import kafka.server.BrokerServer;

/**
 * One "region": a single-node combined (broker + controller) KRaft Kafka cluster running inside
 * this JVM. Stopping and starting its broker is how tests make a regional outage; the broker keeps
 * its port across a restart, so clients configured with {@link #bootstrapServers()} reconnect.
 *
 * <p>The broker has two client listeners: the kit's own (reached directly through {@link
 * #bootstrapServers()}: this region's own clients and publishers) and {@value #PEER_LISTENER}, whose
 * advertised address is a {@link RegionLink} proxy (reached through {@link
 * #linkBootstrapServers()}: clients of the other region). Cutting the link cuts only the second.
 */
public final class KafkaRegion implements AutoCloseable {

  /** The broker listener that other regions reach through the {@link RegionLink}. */
  public static final String PEER_LISTENER = "PEER";

  private final String name;
  private final KafkaClusterTestKit kit;
  private final String bootstrapServers;
  private final RegionLink link;
  private volatile boolean brokerUp;

  private KafkaRegion(String name, KafkaClusterTestKit kit, RegionLink link) {
    this.name = name;
    this.kit = kit;
    this.bootstrapServers = kit.bootstrapServers();
    this.link = link;
    this.brokerUp = true;
  }

  /** Formats and starts a fresh single-node cluster named {@code name}; blocks until it is ready. */
  public static KafkaRegion start(String name) {
    return start(name, Map.of());
  }

  /**
   * As {@link #start(String)}, with extra broker configs (set last, so they win), e.g. {@code
   * log.cleaner.backoff.ms} for a test that needs the log cleaner to compact within seconds.
   */
  public static KafkaRegion start(String name, Map<String, String> brokerConfigs) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(brokerConfigs, "brokerConfigs");
    // The proxy's port must be known before the broker starts: the broker advertises it.
    RegionLink link = RegionLink.open(name);
    try {
      TestKitNodes nodes =
          new TestKitNodes.Builder()
              .setCombined(true)
              .setNumBrokerNodes(1)
              .setNumControllerNodes(1)
              .build();
      String external = nodes.brokerListenerName().value();
      String controller = nodes.controllerListenerName().value();
      KafkaClusterTestKit.Builder builder =
          new KafkaClusterTestKit.Builder(nodes)
              // The kit only fills these in when absent (putIfAbsent), so the PEER listener can be
              // added here. Port 0 everywhere: the kit pre-binds the external and controller ports
              // (kept across a broker restart); PEER gets a fresh port per start and the link is
              // re-pointed (forwardTo). An advertised port 0 is replaced by the bound port.
              .setConfigProp("listeners", external + "://localhost:0," + controller
                  + "://localhost:0," + PEER_LISTENER + "://localhost:0")
              .setConfigProp("listener.security.protocol.map", external + ":PLAINTEXT,"
                  + controller + ":PLAINTEXT," + PEER_LISTENER + ":PLAINTEXT")
              .setConfigProp("advertised.listeners", external + "://localhost:0,"
                  + PEER_LISTENER + "://" + link.address())
              .setConfigProp("offsets.topic.replication.factor", "1")
              .setConfigProp("offsets.topic.num.partitions", "4")
              .setConfigProp("transaction.state.log.replication.factor", "1")
              .setConfigProp("transaction.state.log.min.isr", "1")
              .setConfigProp("group.initial.rebalance.delay.ms", "0")
              .setConfigProp("auto.create.topics.enable", "false")
              .setConfigProp("log.flush.interval.messages", String.valueOf(Long.MAX_VALUE));
      brokerConfigs.forEach(builder::setConfigProp);
      KafkaClusterTestKit kit = builder.build();
      kit.format();
      kit.startup();
      kit.waitForReadyBrokers();
      pointLink(kit, link);
      return new KafkaRegion(name, kit, link);
    } catch (Exception e) {
      link.close();
      throw new IllegalStateException("could not start Kafka region " + name, e);
    }
  }

  /** The region's name, e.g. {@code region-a}. */
  public String name() {
    return name;
  }

  /** {@code host:port} of the broker; stable across {@link #stopBroker()}/{@link #startBroker()}. */
  public String bootstrapServers() {
    return bootstrapServers;
  }

  /**
   * {@code host:port} of this region's broker as reached from another region: through its {@link
   * #link()}, which a test can cut. Metadata fetched this way advertises the link again, so
   * reconnects also go through it. Stable across {@link #stopBroker()}/{@link #startBroker()}.
   */
  public String linkBootstrapServers() {
    return link.address();
  }

  /** The cuttable link into this region (used by the clients of {@link #linkBootstrapServers()}). */
  public RegionLink link() {
    return link;
  }

  /** Whether the broker is running (the controller always runs). */
  public boolean isBrokerUp() {
    return brokerUp;
  }

  /** Creates a topic with the given partition count (replication factor 1); idempotent. */
  public void createTopic(String topic, int partitions) {
    createTopic(topic, partitions, Map.of());
  }

  /** Creates a topic with the given partition count and topic configs; idempotent. */
  public void createTopic(String topic, int partitions, Map<String, String> configs) {
    try (Admin admin = admin()) {
      admin
          .createTopics(Set.of(new NewTopic(topic, partitions, (short) 1).configs(configs)))
          .all()
          .get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw new IllegalStateException("could not create topic " + topic + " in " + name, e);
      }
    } catch (Exception e) {
      throw new IllegalStateException("could not create topic " + topic + " in " + name, e);
    }
  }

  /** A new admin client for this region; the caller closes it. */
  public Admin admin() {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    return Admin.create(p);
  }

  /** Producer properties for this region: byte-array keys and values, acks=all, idempotent. */
  public Properties producerProperties() {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
    return p;
  }

  /** Consumer properties for this region: string keys, byte-array values, earliest, no auto-commit. */
  public Properties consumerProperties(String groupId) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    return p;
  }

  /** Stops the broker (a regional outage); the controller keeps running so it can come back. */
  public synchronized void stopBroker() {
    if (!brokerUp) {
      return;
    }
    for (BrokerServer broker : kit.brokers().values()) {
      broker.shutdown();
      broker.awaitShutdown();
    }
    link.forwardTo(0); // until the restart: the PEER port changes, connections are closed meanwhile
    brokerUp = false;
  }

  /** Starts the broker again on the same port and waits until it is ready. */
  public synchronized void startBroker() {
    if (brokerUp) {
      return;
    }
    try {
      for (BrokerServer broker : kit.brokers().values()) {
        broker.startup();
      }
      kit.waitForReadyBrokers();
      pointLink(kit, link);
      brokerUp = true;
    } catch (Exception e) {
      throw new IllegalStateException("could not restart the broker of " + name, e);
    }
  }

  private static void pointLink(KafkaClusterTestKit kit, RegionLink link) {
    for (BrokerServer broker : kit.brokers().values()) {
      link.forwardTo(broker.boundPort(new ListenerName(PEER_LISTENER)));
    }
  }

  /** How long clients in tests should wait for this region before giving up. */
  public static Duration defaultTimeout() {
    return Duration.ofSeconds(60);
  }

  @Override
  public void close() {
    link.close();
    try {
      kit.close();
    } catch (Exception e) {
      throw new IllegalStateException("could not stop Kafka region " + name, e);
    }
  }

  @Override
  public String toString() {
    return "KafkaRegion[" + name + " @ " + bootstrapServers + (brokerUp ? "" : ", broker down") + "]";
  }
}
