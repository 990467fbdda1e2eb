package dev.tandem.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
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
 *
 * <p><b>Security.</b> {@link Security#PLAINTEXT} (the default) or {@link Security#SASL_SSL}: both
 * client listeners then require SASL/PLAIN over TLS — a broker like Event Hubs' Kafka endpoint.
 * The certificate is self-signed for {@code localhost}/{@code 127.0.0.1}, made once per JVM with the
 * JDK's {@code keytool}; the controller listener stays internal (PLAINTEXT). Every client needs
 * {@link #clientSecurity()} (the kit's own {@link #admin()}, {@link #producerProperties()} and
 * {@link #consumerProperties(String)} carry it).
 */
public final class KafkaRegion implements AutoCloseable {

  /** The broker listener that other regions reach through the {@link RegionLink}. */
  public static final String PEER_LISTENER = "PEER";
  /** The SASL/PLAIN user of a {@link Security#SASL_SSL} region's clients. */
  public static final String SASL_USERNAME = "tandem";
  /** The password of {@link #SASL_USERNAME}. */
  public static final String SASL_PASSWORD = "tandem-secret";
  /** The broker's own user (inter-broker), not for clients. */
  private static final String BROKER_USERNAME = "broker";
  private static final String BROKER_PASSWORD = "broker-secret";

  /** What a region's client listeners require. */
  public enum Security {
    /** No authentication, no encryption (the default). */
    PLAINTEXT,
    /** SASL/PLAIN ({@link #SASL_USERNAME}) over TLS with a self-signed certificate. */
    SASL_SSL
  }

  private final String name;
  private final KafkaClusterTestKit kit;
  private final String bootstrapServers;
  private final RegionLink link;
  private final Security security;
  private volatile boolean brokerUp;

  private KafkaRegion(String name, KafkaClusterTestKit kit, RegionLink link, Security security) {
    this.name = name;
    this.kit = kit;
    this.bootstrapServers = kit.bootstrapServers();
    this.link = link;
    this.security = security;
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
    return start(name, Security.PLAINTEXT, brokerConfigs);
  }

  /**
   * A region whose client listeners require SASL/PLAIN over TLS ({@link Security#SASL_SSL}); clients
   * need {@link #clientSecurity()}.
   */
  public static KafkaRegion startSaslSsl(String name) {
    return start(name, Security.SASL_SSL, Map.of());
  }

  /**
   * As {@link #start(String, Map)}, with the given client listener {@code security}. A {@link
   * Security#SASL_SSL} start costs about the same as a plaintext one once this JVM's certificate
   * exists (the first one runs {@code keytool} once; see {@code KafkaRegionSaslSslTest} for the
   * measured figures).
   */
  public static KafkaRegion start(String name, Security security, Map<String, String> brokerConfigs) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(security, "security");
    Objects.requireNonNull(brokerConfigs, "brokerConfigs");
    TlsMaterial tls = security == Security.SASL_SSL ? TlsMaterial.get() : null;
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
      String clientProtocol = security == Security.SASL_SSL ? "SASL_SSL" : "PLAINTEXT";
      KafkaClusterTestKit.Builder builder =
          new KafkaClusterTestKit.Builder(nodes)
              // The kit only fills these in when absent (putIfAbsent), so the PEER listener can be
              // added here. Port 0 everywhere: the kit pre-binds the external and controller ports
              // (kept across a broker restart); PEER gets a fresh port per start and the link is
              // re-pointed (forwardTo). An advertised port 0 is replaced by the bound port.
              .setConfigProp("listeners", external + "://localhost:0," + controller
                  + "://localhost:0," + PEER_LISTENER + "://localhost:0")
              // the controller listener stays internal and PLAINTEXT whatever the clients need
              .setConfigProp("listener.security.protocol.map", external + ":" + clientProtocol
                  + "," + controller + ":PLAINTEXT," + PEER_LISTENER + ":" + clientProtocol)
              .setConfigProp("advertised.listeners", external + "://localhost:0,"
                  + PEER_LISTENER + "://" + link.address())
              .setConfigProp("offsets.topic.replication.factor", "1")
              .setConfigProp("offsets.topic.num.partitions", "4")
              .setConfigProp("transaction.state.log.replication.factor", "1")
              .setConfigProp("transaction.state.log.min.isr", "1")
              .setConfigProp("group.initial.rebalance.delay.ms", "0")
              // A restarted broker is let back in only after its old registration's session ends
              // (9 s by default): 18 test classes restart a broker to make a region outage, and the
              // default made each restart take 9-10 s (3.4 s at 3 s, measured). 4 s keeps a margin for
              // a broker thread that misses heartbeats on 2 loaded cores; the controller is in the
              // same process, so no network sits between them.
              .setConfigProp("broker.session.timeout.ms", "4000")
              .setConfigProp("broker.heartbeat.interval.ms", "500")
              .setConfigProp("auto.create.topics.enable", "false")
              .setConfigProp("log.flush.interval.messages", String.valueOf(Long.MAX_VALUE));
      if (tls != null) {
        saslSslBrokerConfigs(tls, List.of(external, PEER_LISTENER)).forEach(builder::setConfigProp);
      }
      brokerConfigs.forEach(builder::setConfigProp);
      KafkaClusterTestKit kit = builder.build();
      kit.format();
      kit.startup();
      kit.waitForReadyBrokers();
      pointLink(kit, link);
      return new KafkaRegion(name, kit, link, security);
    } catch (Exception e) {
      link.close();
      throw new IllegalStateException("could not start Kafka region " + name, e);
    }
  }

  /** The region's name, e.g. {@code region-a}. */
  public String name() {
    return name;
  }

  /** What this region's client listeners require. */
  public Security security() {
    return security;
  }

  /**
   * The settings every client of this region needs besides {@code bootstrap.servers}: empty for a
   * {@link Security#PLAINTEXT} region; for {@link Security#SASL_SSL} {@code security.protocol},
   * {@code sasl.mechanism}, {@code sasl.jaas.config} (user {@link #SASL_USERNAME}) and {@code
   * ssl.truststore.location/password/type} (the self-signed certificate), with Kafka's key names.
   */
  public Map<String, String> clientSecurity() {
    return security == Security.SASL_SSL ? clientSecurity(SASL_USERNAME, SASL_PASSWORD) : Map.of();
  }

  /**
   * As {@link #clientSecurity()} with other credentials (a wrong password, for a test of the
   * refusal).
   *
   * @throws IllegalStateException for a {@link Security#PLAINTEXT} region
   */
  public Map<String, String> clientSecurity(String username, String password) {
    if (security != Security.SASL_SSL) {
      throw new IllegalStateException(name + " is a PLAINTEXT region: its clients need no security");
    }
    TlsMaterial tls = TlsMaterial.get();
    Map<String, String> m = new LinkedHashMap<>();
    m.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_SSL");
    m.put(SaslConfigs.SASL_MECHANISM, "PLAIN");
    m.put(SaslConfigs.SASL_JAAS_CONFIG, plainJaasConfig(username, password));
    m.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, tls.truststore.toString());
    m.put(SslConfigs.SSL_TRUSTSTORE_PASSWORD_CONFIG, tls.password);
    m.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PKCS12");
    return Map.copyOf(m);
  }

  /** {@code sasl.jaas.config} of a SASL/PLAIN client (as for Event Hubs' {@code $ConnectionString}). */
  public static String plainJaasConfig(String username, String password) {
    return "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
        + username + "\" password=\"" + password + "\";";
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
    p.putAll(clientSecurity());
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
    p.putAll(clientSecurity());
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
    p.putAll(clientSecurity());
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
    try {
      link.close();
    } finally {
      // the cluster is stopped even if the link fails to close: never leak a broker
      try {
        kit.close();
      } catch (Exception e) {
        throw new IllegalStateException("could not stop Kafka region " + name, e);
      }
    }
  }

  @Override
  public String toString() {
    return "KafkaRegion[" + name + " @ " + bootstrapServers
        + (security == Security.PLAINTEXT ? "" : ", " + security)
        + (brokerUp ? "" : ", broker down") + "]";
  }

  /**
   * The broker side of SASL_SSL on {@code listeners}: PLAIN only, the users {@value #SASL_USERNAME}
   * and the broker's own (the kit's inter-broker listener is the client listener), the keystore.
   * The JAAS configs are per listener ({@code listener.name.<l>.plain.sasl.jaas.config}), never the
   * JVM-wide {@code java.security.auth.login.config}: other regions in this JVM stay unaffected.
   */
  private static Map<String, String> saslSslBrokerConfigs(TlsMaterial tls, List<String> listeners) {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("sasl.enabled.mechanisms", "PLAIN");
    c.put("sasl.mechanism.inter.broker.protocol", "PLAIN");
    String jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
        + BROKER_USERNAME + "\" password=\"" + BROKER_PASSWORD + "\" user_" + BROKER_USERNAME
        + "=\"" + BROKER_PASSWORD + "\" user_" + SASL_USERNAME + "=\"" + SASL_PASSWORD + "\";";
    for (String l : listeners) {
      c.put("listener.name." + l.toLowerCase(Locale.ROOT) + ".plain.sasl.jaas.config", jaas);
    }
    c.put("ssl.keystore.location", tls.keystore.toString());
    c.put("ssl.keystore.password", tls.password);
    c.put("ssl.key.password", tls.password);
    c.put("ssl.keystore.type", "PKCS12");
    // the broker is a TLS client of its own listener (inter-broker): it trusts the same certificate
    c.put("ssl.truststore.location", tls.truststore.toString());
    c.put("ssl.truststore.password", tls.password);
    c.put("ssl.truststore.type", "PKCS12");
    c.put("ssl.client.auth", "none");
    return c;
  }

  /**
   * One self-signed certificate (EC P-256, {@code CN=localhost}, SAN {@code localhost} and {@code
   * 127.0.0.1}) per JVM: a PKCS12 keystore made by the JDK's {@code keytool}, and a truststore
   * holding only the certificate (made with {@link KeyStore}). Files in a temporary directory,
   * deleted when the JVM exits.
   */
  static final class TlsMaterial {
    private static TlsMaterial instance;

    final Path keystore;
    final Path truststore;
    final String password;

    private TlsMaterial(Path keystore, Path truststore, String password) {
      this.keystore = keystore;
      this.truststore = truststore;
      this.password = password;
    }

    static synchronized TlsMaterial get() {
      if (instance == null) {
        instance = create();
      }
      return instance;
    }

    private static TlsMaterial create() {
      try {
        Path dir = Files.createTempDirectory("tandem-tls-");
        dir.toFile().deleteOnExit();
        byte[] random = new byte[12];
        new SecureRandom().nextBytes(random);
        String password = HexFormat.of().formatHex(random);
        Path keystore = dir.resolve("broker.p12");
        Path truststore = dir.resolve("truststore.p12");
        Path keytool = Path.of(System.getProperty("java.home"), "bin",
            System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows")
                ? "keytool.exe" : "keytool");
        Process p = new ProcessBuilder(keytool.toString(), "-genkeypair", "-alias", "broker",
            "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA",
            "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "30",
            "-storetype", "PKCS12", "-keystore", keystore.toString(),
            "-storepass", password, "-keypass", password)
            .redirectErrorStream(true)
            .start();
        String output;
        try (InputStream in = p.getInputStream()) {
          output = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
          p.destroyForcibly();
          throw new IllegalStateException("keytool could not make the test certificate: " + output);
        }
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keystore)) {
          ks.load(in, password.toCharArray());
        }
        Certificate cert = ks.getCertificate("broker");
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        ts.setCertificateEntry("tandem-test-broker", cert);
        try (OutputStream out = Files.newOutputStream(truststore)) {
          ts.store(out, password.toCharArray());
        }
        keystore.toFile().deleteOnExit();
        truststore.toFile().deleteOnExit();
        return new TlsMaterial(keystore, truststore, password);
      } catch (IOException | java.security.GeneralSecurityException e) {
        throw new IllegalStateException("could not make the test certificate", e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while making the test certificate", e);
      }
    }
  }
}
