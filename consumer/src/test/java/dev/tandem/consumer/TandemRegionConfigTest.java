package dev.tandem.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The region's key table (issue 16): each kind of mistake fails at construction with a message that
 * names the key (and the value where there is one); a valid file gives the derived values. No
 * cluster, no store: nothing is opened before the configuration is checked.
 */
class TandemRegionConfigTest {

  static Properties valid() {
    Properties p = new Properties();
    p.put("tandem.regions", "westeurope,northeurope");
    p.put("tandem.region", "westeurope");
    p.put("tandem.region.westeurope.bootstrap.servers", "kafka-we:9092");
    p.put("tandem.region.northeurope.bootstrap.servers", "kafka-ne:9093");
    p.put("tandem.region.northeurope.security.protocol", "SASL_SSL");
    p.put("tandem.state.dir", "/var/lib/app/tandem");
    p.put("tandem.shards", "8");
    p.put("group.id", "orders");
    return p;
  }

  private static ConfigException refused(Properties p) {
    return assertThrows(ConfigException.class, () -> new TandemRegionConfig(p));
  }

  private static void assertNames(ConfigException e, String... parts) {
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + part + "' not in: " + e.getMessage());
    }
  }

  @Test
  void aValidFileGivesTheSafeDefaultsAndTheDerivedValues() {
    TandemRegionConfig c = new TandemRegionConfig(valid());
    assertEquals(RegionId.of("westeurope"), c.region());
    assertEquals(2, c.regions().size());
    assertEquals("SASL_SSL", c.regionClientProperties(RegionId.of("northeurope"))
        .get("security.protocol"));
    assertEquals("kafka-ne:9093", c.regionClientProperties(RegionId.of("northeurope"))
        .get("bootstrap.servers"));
    assertFalse(c.detectOnly());
    assertEquals("automatic", c.policyName());
    assertEquals((short) -1, c.getShort(TandemRegionConfig.CHANGELOG_REPLICATION_FACTOR_CONFIG));
    assertEquals(Duration.ofDays(8), c.changelogRetention());
    assertEquals(Duration.ofHours(1), c.staleMargin());
    assertEquals(Duration.ofSeconds(6), c.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG));
    assertTrue(c.allShards());
    assertEquals("orders", c.nonTandemOriginals().get("group.id"));
  }

  @Test
  void theWitnessClusterTakesKafkaClientSettingsLikeARegion() {
    Properties p = valid();
    p.put("tandem.ownership.policy", "witness");
    p.put("tandem.witness.bootstrap.servers", "witness.servicebus.windows.net:9093");
    p.put("tandem.witness.topic", "tandem.witness");
    p.put("tandem.witness.lease.ms", "8000");
    p.put("tandem.witness.security.protocol", "SASL_SSL");
    p.put("tandem.witness.sasl.mechanism", "PLAIN");
    p.put("tandem.witness.sasl.jaas.config", "org.apache.kafka.common.security.plain."
        + "PlainLoginModule required username=\"$ConnectionString\" password=\"secret\";");
    p.put("tandem.witness.ssl.truststore.type", "PKCS12");
    Properties w = new TandemRegionConfig(p).witnessClientProperties();
    assertEquals("witness.servicebus.windows.net:9093", w.get("bootstrap.servers"));
    assertEquals("SASL_SSL", w.get("security.protocol"));
    assertEquals("PLAIN", w.get("sasl.mechanism"));
    assertTrue(w.get("sasl.jaas.config").toString().contains("$ConnectionString"));
    assertEquals("PKCS12", w.get("ssl.truststore.type"));
    // the declared witness keys are not client settings
    assertFalse(w.containsKey("topic"));
    assertFalse(w.containsKey("lease.ms"));
    assertEquals(5, w.size());

    // a misspelt witness key is named, its value (maybe a password) is not shown
    p.put("tandem.witness.sasl.jass.config", "password=\"hunter2\"");
    ConfigException e = refused(p);
    assertNames(e, "tandem.witness.sasl.jass.config", "unknown witness setting");
    assertFalse(e.getMessage().contains("hunter2"), e.getMessage());
  }

  @Test
  void aMissingKeyIsNamed() {
    for (String key : new String[] {"tandem.regions", "tandem.region", "tandem.state.dir",
        "tandem.shards"}) {
      Properties p = valid();
      p.remove(key);
      assertNames(refused(p), key);
    }
    Properties p = valid();
    p.remove("tandem.region.northeurope.bootstrap.servers");
    assertNames(refused(p), "tandem.region.northeurope.bootstrap.servers");
  }

  @Test
  void aWrongTypeOrValueIsNamedWithItsValue() {
    Properties p = valid();
    p.put("tandem.shards", "eight");
    assertNames(refused(p), "tandem.shards", "eight");
    p = valid();
    p.put("tandem.lease.timeout.ms", "6s");
    assertNames(refused(p), "tandem.lease.timeout.ms", "6s");
    p = valid();
    p.put("tandem.ownership.policy", "sometimes");
    assertNames(refused(p), "tandem.ownership.policy", "sometimes");
    p = valid();
    p.put("tandem.changelog.replication.factor", "0");
    assertNames(refused(p), "tandem.changelog.replication.factor", "0");
    p = valid();
    p.put("tandem.regions", "westeurope,North_Europe");
    assertNames(refused(p), "tandem.regions", "North_Europe");
  }

  @Test
  void inconsistentDurationsAreNamed() {
    Properties p = valid();
    p.put("tandem.heartbeat.interval.ms", "4000"); // L is 6000: more than half
    assertNames(refused(p), "tandem.heartbeat.interval.ms", "4000", "tandem.lease.timeout.ms");
    p = valid();
    p.put("tandem.handler.timeout.ms", "500");
    assertNames(refused(p), "tandem.handler.timeout.ms", "500", "tandem.heartbeat.interval.ms");
    p = valid();
    p.put("tandem.record.ttl.ms", "600000");
    p.put("tandem.stale.margin.ms", "600000");
    assertNames(refused(p), "tandem.stale.margin.ms", "tandem.record.ttl.ms");
    p = valid();
    p.put("tandem.record.ttl.ms", "600000"); // 10 min; default margin 1 min
    p.put("tandem.claim.lease.ms", "560000");
    assertNames(refused(p), "tandem.claim.lease.ms", "560000", "tandem.record.ttl.ms");
    p = valid();
    p.put("tandem.changelog.retention.ms", "3600000"); // TTL 7 days
    assertNames(refused(p), "tandem.changelog.retention.ms", "3600000", "tandem.record.ttl.ms");
  }

  @Test
  void anUnknownTandemKeyIsAnError() {
    Properties p = valid();
    p.put("tandem.lease.timeout", "6000"); // the .ms forgotten: must not silently keep the default
    assertNames(refused(p), "tandem.lease.timeout", "unknown");
    p = valid();
    p.put("tandem.region.eastus.bootstrap.servers", "kafka-us:9092");
    assertNames(refused(p), "tandem.region.eastus.bootstrap.servers", "eastus", "tandem.regions");
    // a Kafka key (not tandem.*) is the application consumer's business, not an error here
    p = valid();
    p.put("max.poll.records", "200");
    assertEquals("200", new TandemRegionConfig(p).nonTandemOriginals().get("max.poll.records"));
  }

  @Test
  void aConsumerWithoutOwnershipIsRefusedUnlessDetectOnlyIsAskedForByName() {
    Properties p = valid();
    p.put("tandem.ownership.policy", "none");
    assertNames(refused(p), "tandem.ownership.policy", "none", "tandem.guarantee=detect-only");
    p.put("tandem.guarantee", "detect-only");
    assertTrue(new TandemRegionConfig(p).detectOnly());
  }

  @Test
  void theLocalRegionMustBeListedAndWitnessNeedsAWitness() {
    Properties p = valid();
    p.put("tandem.region", "eastus");
    assertNames(refused(p), "tandem.region", "eastus", "tandem.regions");
    p = valid();
    p.put("tandem.ownership.policy", "witness");
    assertNames(refused(p), "tandem.ownership.policy", "tandem.witness.bootstrap.servers");
    p.put("tandem.witness.bootstrap.servers", "witness:9092");
    assertEquals("witness", new TandemRegionConfig(p).policyName());
  }

  @Test
  void theRegionFailsAtBuildNamingTheKeyAndOpensNothing(@TempDir Path tmp) {
    Path state = tmp.resolve("state");
    String[][] mistakes = {
        {"tandem.shards", null}, // missing
        {"tandem.shards", "many"}, // wrong type
        {"tandem.heartbeat.interval.ms", "5000"}, // inconsistent with L
        {"tandem.regoin", "westeurope"}, // unknown tandem.* key
        {"tandem.ownership.policy", "none"}, // a consumer without ownership
    };
    for (String[] m : mistakes) {
      Properties p = valid();
      p.put("tandem.state.dir", state.toString());
      if (m[1] == null) {
        p.remove(m[0]);
      } else {
        p.put(m[0], m[1]);
      }
      ConfigException e = assertThrows(ConfigException.class, () -> TandemRegion.create(p));
      assertNames(e, m[0]);
      assertFalse(Files.exists(state), "nothing opened before the configuration is valid");
    }
    // the builder sets the same keys and takes the same path
    ConfigException e = assertThrows(ConfigException.class, () -> TandemRegion.builder()
        .configs(valid()).stateDir(state).heartbeatInterval(Duration.ofSeconds(5)).build());
    assertNames(e, "tandem.heartbeat.interval.ms", "5000");
  }

  @Test
  void theDefaultInstanceIdIsStableForItsStateDirectoryAndDiffersBetweenDirectories(@TempDir Path tmp)
      throws Exception {
    String first = TandemRegion.instanceIdOf(tmp.resolve("one"));
    assertEquals(first, TandemRegion.instanceIdOf(tmp.resolve("one")), "a restart keeps its id");
    assertEquals(first, Files.readString(tmp.resolve("one").resolve("instance.id")).trim());
    String other = TandemRegion.instanceIdOf(tmp.resolve("two"));
    assertFalse(first.equals(other), "another directory (another process) gets another id");
    assertTrue(first.matches("[a-z0-9-]+-[0-9a-f]{8}"), first);
  }

  @Test
  void anEmptyWitnessClusterIsNotAWitness() {
    Properties p = valid();
    p.put("tandem.ownership.policy", "witness");
    p.put("tandem.witness.bootstrap.servers", "");
    assertNames(refused(p), "tandem.witness.bootstrap.servers");
    p.put("tandem.witness.bootstrap.servers", "  ");
    assertNames(refused(p), "tandem.witness.bootstrap.servers");
  }

  @Test
  void theRevokeBoundMustBeBelowTheConsumersMaxPollInterval() {
    Properties p = valid();
    p.put("max.poll.interval.ms", "60000"); // the revoke bound's default is 60000
    assertNames(refused(p), "tandem.revoke.timeout.ms", "60000", "max.poll.interval.ms");
    p = valid();
    p.put("tandem.region.westeurope.max.poll.interval.ms", "30000");
    assertNames(refused(p), "tandem.revoke.timeout.ms", "max.poll.interval.ms");
    p = valid();
    p.put("max.poll.interval.ms", "120000");
    new TandemRegionConfig(p); // accepted
  }

  /** Two processes starting on one fresh state directory both end with the id in its file. */
  @Test
  void concurrentFirstStartsOnOneStateDirectoryAgreeOnItsInstanceId(@TempDir Path tmp)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      for (int round = 0; round < 30; round++) {
        Path dir = tmp.resolve("d" + round);
        CyclicBarrier start = new CyclicBarrier(4);
        List<Future<String>> ids = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
          ids.add(pool.submit(() -> {
            start.await(10, TimeUnit.SECONDS);
            return TandemRegion.instanceIdOf(dir);
          }));
        }
        Set<String> seen = new HashSet<>();
        for (Future<String> f : ids) {
          seen.add(f.get(20, TimeUnit.SECONDS));
        }
        String inFile = Files.readString(dir.resolve("instance.id")).trim();
        assertEquals(Set.of(inFile), seen, "round " + round + ": every start runs as the file's id");
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** A state directory in use (its lock held) is refused at once, naming the directory. */
  @Test
  void aStateDirectoryInUseIsRefusedNamingIt(@TempDir Path tmp) throws Exception {
    Path state = tmp.resolve("state");
    Files.createDirectories(state);
    Properties p = valid();
    p.put("tandem.state.dir", state.toString());
    p.put("tandem.region.westeurope.bootstrap.servers", "localhost:1");
    p.put("tandem.region.northeurope.bootstrap.servers", "localhost:1");
    try (FileChannel ch = FileChannel.open(state.resolve(".lock"), StandardOpenOption.CREATE,
        StandardOpenOption.WRITE); FileLock held = ch.tryLock()) {
      assertTrue(held != null);
      ConfigException e = assertThrows(ConfigException.class, () -> TandemRegion.create(p));
      assertNames(e, "tandem.state.dir", state.toString(), "in use");
    }
  }

  /**
   * A build failing at the second region's changelog producer (a bad per-region setting) closes the
   * first region's producer and the store it opened: no producer thread is left running.
   */
  @Test
  void aBuildFailingAtTheSecondRegionClosesWhatItOpened(@TempDir Path tmp) throws Exception {
    Properties p = valid();
    Path state = tmp.resolve("state");
    p.put("tandem.state.dir", state.toString());
    p.put("tandem.region.westeurope.bootstrap.servers", "localhost:1");
    p.put("tandem.region.northeurope.bootstrap.servers", "localhost:1");
    p.put("tandem.region.northeurope.linger.ms", "soon"); // refused by KafkaProducer, not by Tandem
    assertThrows(ConfigException.class, () -> TandemRegion.create(p));
    List<String> left = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.isAlive() && t.getName().contains("tandem-changelog-")) {
        left.add(t.getName());
      }
    }
    assertEquals(List.of(), left, "changelog producer threads left after the failed build");
    // the store was closed too: the directory opens again (RocksDB's lock released)
    p.remove("tandem.region.northeurope.linger.ms");
    p.put("tandem.region.northeurope.linger.ms", "also-bad");
    ConfigException again = assertThrows(ConfigException.class, () -> TandemRegion.create(p));
    assertNames(again, "linger.ms");
  }
}
