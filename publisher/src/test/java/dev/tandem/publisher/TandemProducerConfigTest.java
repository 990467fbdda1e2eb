package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import java.util.Properties;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** The publisher's key table: defaults, and mistakes named by key and value (no cluster). */
class TandemProducerConfigTest {

  private static Properties valid() {
    Properties p = new Properties();
    p.put("tandem.regions", "westeurope,northeurope");
    p.put("tandem.region.westeurope.bootstrap.servers", "kafka-we:9092");
    p.put("tandem.region.northeurope.bootstrap.servers", "kafka-ne:9092");
    p.put("tandem.region.northeurope.sasl.mechanism", "PLAIN");
    p.put("tandem.spool.dir", "/var/lib/app/spool");
    p.put("acks", "all");
    return p;
  }

  @Test
  void defaultsAndPerRegionClientSettings() {
    TandemProducerConfig c = new TandemProducerConfig(valid());
    assertEquals(AckPolicy.ANY, c.ackPolicy());
    assertEquals(30_000L, c.getLong(TandemProducerConfig.TIMEOUT_MS_CONFIG));
    assertEquals("PLAIN", c.regionClientProperties(RegionId.of("northeurope")).get("sasl.mechanism"));
    assertEquals("all", c.nonTandemOriginals().get("acks"));
  }

  @Test
  void mistakesNameTheKey() {
    Properties p = valid();
    p.put("tandem.ack.policy", "MOST");
    assertMessage(p, "tandem.ack.policy", "MOST");
    p = valid();
    p.put("tandem.timeout.ms", "3s");
    assertMessage(p, "tandem.timeout.ms", "3s");
    p = valid();
    p.put("tandem.spool.directory", "/tmp/x");
    assertMessage(p, "tandem.spool.directory", "unknown");
    p = valid();
    p.remove("tandem.spool.dir");
    assertMessage(p, "tandem.spool.dir");
    p = valid();
    p.put("tandem.region.eastus.bootstrap.servers", "x:1");
    assertMessage(p, "tandem.region.eastus.bootstrap.servers", "tandem.regions");
  }

  @Test
  void perRegionKeysTheRegionClientsCannotHonourAreRefused() {
    for (String key : new String[] {"partitioner.class", "interceptor.classes", "transactional.id"}) {
      Properties p = valid();
      p.put("tandem.region.northeurope." + key, "x.Y");
      assertMessage(p, "tandem.region.northeurope." + key, "per region");
    }
  }

  /**
   * A misspelt or misplaced key holding a secret is named, its value is not printed: a SASL
   * password (an Event Hubs connection string) must not end up in a log through an exception.
   */
  @Test
  void aMisplacedSecretIsNamedButNotShown() {
    String jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required "
        + "username=\"$ConnectionString\" password=\"Endpoint=sb://ns/;SharedAccessKey=s3cr3t\";";
    Properties p = valid();
    p.put("tandem.region.eastus.sasl.jaas.config", jaas); // a region not listed
    ConfigException e = assertThrows(ConfigException.class, () -> new TandemProducerConfig(p));
    assertTrue(e.getMessage().contains("tandem.region.eastus.sasl.jaas.config"), e.getMessage());
    assertTrue(!e.getMessage().contains("s3cr3t"), e.getMessage());
    Properties q = valid();
    q.put("tandem.sasl.jaas.config", jaas); // not under a region: unknown
    e = assertThrows(ConfigException.class, () -> new TandemProducerConfig(q));
    assertTrue(e.getMessage().contains("tandem.sasl.jaas.config"), e.getMessage());
    assertTrue(!e.getMessage().contains("s3cr3t"), e.getMessage());
  }

  private static void assertMessage(Properties p, String... parts) {
    ConfigException e = assertThrows(ConfigException.class, () -> new TandemProducerConfig(p));
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + part + "' not in: " + e.getMessage());
    }
  }
}
