package dev.tandem.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A SASL_SSL-only region: clients with {@link KafkaRegion#clientSecurity()} produce and consume; a
 * wrong password is refused with Kafka's {@link SaslAuthenticationException}; a client without TLS
 * or SASL gets no answer it could take for a working cluster. Prints the start time.
 */
class KafkaRegionSaslSslTest {

  static KafkaRegion region;
  static long startMillis;

  @BeforeAll
  static void start() {
    long t0 = System.nanoTime();
    region = KafkaRegion.startSaslSsl("region-s");
    startMillis = (System.nanoTime() - t0) / 1_000_000;
    System.out.printf("SASL_SSL region start (certificate included): %d ms%n", startMillis);
  }

  @AfterAll
  static void stop() {
    region.close();
  }

  @Test
  void clientsWithTheSettingsProduceAndConsume() throws Exception {
    Map<String, String> s = region.clientSecurity();
    assertEquals("SASL_SSL", s.get("security.protocol"));
    assertEquals("PLAIN", s.get("sasl.mechanism"));
    assertTrue(s.get("sasl.jaas.config").contains("username=\"" + KafkaRegion.SASL_USERNAME + "\""));
    assertEquals("PKCS12", s.get("ssl.truststore.type"));
    region.createTopic("s", 1); // the kit's own admin carries the settings
    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(region.producerProperties())) {
      p.send(new ProducerRecord<>("s", 0, "k", "over-tls".getBytes())).get(30, TimeUnit.SECONDS);
    }
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(region.consumerProperties("g"))) {
      c.subscribe(List.of("s"));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      String got = null;
      while (got == null && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          got = new String(r.value());
        }
      }
      assertEquals("over-tls", got);
    }
  }

  @Test
  void aWrongPasswordIsRefusedWithSaslAuthenticationException() {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, region.bootstrapServers());
    p.putAll(region.clientSecurity(KafkaRegion.SASL_USERNAME, "wrong"));
    try (Admin admin = Admin.create(p)) {
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> admin.describeCluster().nodes().get(30, TimeUnit.SECONDS));
      assertInstanceOf(SaslAuthenticationException.class, e.getCause(), e.toString());
    }
  }

  @Test
  void aPlaintextClientGetsNoClusterAnswer() {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, region.bootstrapServers());
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
    try (Admin admin = Admin.create(p)) {
      // the TLS listener never answers a plaintext Kafka request: the call times out
      assertThrows(Exception.class,
          () -> admin.describeCluster().nodes().get(10, TimeUnit.SECONDS));
    }
  }
}
