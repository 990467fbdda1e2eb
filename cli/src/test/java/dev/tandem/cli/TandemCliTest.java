package dev.tandem.cli;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.cli.CliProcess.Run;
import dev.tandem.store.ShardLease;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code tandem} command run as a separate process (this module's class path) against two real
 * KRaft clusters that only accept SASL/PLAIN over TLS: the operator's file is the region's own
 * properties file without any security key, and {@code --command-config} carries the SASL/TLS
 * client settings for both regions, as with Kafka's tools. Two running regions (a consumer each)
 * make the ownership the command reads, moves and fences.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TandemCliTest {

  static final String TOPIC = "orders";
  static final int SHARDS = 4;

  @TempDir
  static Path dir;
  static TwoRegions regions;
  static TandemRegion a;
  static TandemRegion b;
  static Path regionFile;
  static Path commandConfig;
  static final Set<String> poison = ConcurrentHashMap.newKeySet();
  static final Map<String, AtomicInteger> completed = new ConcurrentHashMap<>();
  static final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
  static final Map<String, Integer> shardOf = new ConcurrentHashMap<>();

  @BeforeAll
  static void start() throws Exception {
    regions = TwoRegions.start("region-a", KafkaRegion.Security.SASL_SSL, "region-b",
        KafkaRegion.Security.SASL_SSL);
    regions.createTopic(TOPIC, SHARDS);
    regions.createTopic(KafkaDeadLetterSink.topicFor(TOPIC), SHARDS);
    // the two regions open their stores and join their groups together (as TandemCliEvacuateTest's
    // four instances do): setup waits for the slower one, not for both in turn
    CompletableFuture<TandemRegion> startingA = CompletableFuture.supplyAsync(() -> region("region-a"));
    b = region("region-b");
    a = startingA.get(120, TimeUnit.SECONDS);
    // the operator's copy of region A's file: the same keys, A's own (locked) state directory, and
    // no security key (those come from --command-config)
    Properties file = keys("region-a", false);
    regionFile = dir.resolve("region-a.properties");
    store(file, regionFile);
    Properties security = new Properties();
    security.putAll(regions.a().clientSecurity());
    commandConfig = dir.resolve("command.properties");
    store(security, commandConfig);
    // both regions heartbeat every shard they own before the command reads them
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      for (int s = 0; s < SHARDS; s++) {
        if (a.ownership().lease(s).heartbeatHlc() == 0 || b.ownership().lease(s).heartbeatHlc() == 0) {
          return false;
        }
      }
      return true;
    });
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {a, b, regions}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception ignored) {
        // closing the rest
      }
    }
  }

  static Properties keys(String region, boolean withSecurity) {
    Properties p = new Properties();
    p.put("tandem.regions", "region-a,region-b");
    p.put("tandem.region", region);
    for (KafkaRegion r : regions.both()) {
      p.put("tandem.region." + r.name() + ".bootstrap.servers", r.bootstrapServers());
      if (withSecurity) {
        r.clientSecurity().forEach((k, v) -> p.put("tandem.region." + r.name() + "." + k, v));
      }
    }
    p.put("tandem.state.dir", dir.resolve("state-" + region).toString());
    p.put("tandem.shards", String.valueOf(SHARDS));
    p.put("tandem.changelog.topic.prefix", "cli");
    p.put("tandem.heartbeat.interval.ms", "500");
    p.put("tandem.store.max.attempts", "2");
    // MANUAL: nothing moves by itself, so what the command reads and moves is all that moves (a
    // loaded machine can delay heartbeats past AUTOMATIC's L + margin); handovers on request and
    // fenced moves work under every policy
    p.put("tandem.ownership.policy", "manual");
    p.put("group.id", "orders");
    p.put("auto.offset.reset", "earliest");
    p.put("session.timeout.ms", "6000");
    p.put("heartbeat.interval.ms", "1000");
    return p;
  }

  static TandemRegion region(String name) {
    TandemRegion r = TandemRegion.create(keys(name, true));
    r.kafkaConsumer(TOPIC, new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {
      attempts.computeIfAbsent(ctx.id(), k -> new AtomicInteger()).incrementAndGet();
      shardOf.put(ctx.id(), ctx.shard());
      if (poison.contains(ctx.id())) {
        throw new IllegalStateException("poison " + ctx.id());
      }
      completed.computeIfAbsent(ctx.id(), k -> new AtomicInteger()).incrementAndGet();
    }).start();
    return r;
  }

  static void store(Properties p, Path file) throws Exception {
    try (var out = Files.newOutputStream(file)) {
      p.store(out, null);
    }
  }

  /** {@code tandem args...} in a new JVM with this module's test class path. */
  static Run tandem(String... args) throws Exception {
    return CliProcess.tandem(dir, List.of(args));
  }

  /** A command run on its own thread (its JVM is started now); its failure is the future's. */
  static CompletableFuture<Run> async(Callable<Run> command) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return command.call();
      } catch (Exception e) {
        throw new CompletionException(e);
      }
    }, runsAside);
  }

  /** One thread per command started together (each only waits on its process). */
  static final ExecutorService runsAside = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "cli-command");
    t.setDaemon(true);
    return t;
  });

  /** A command against the running regions, through the operator's file and --command-config. */
  static Run op(String... args) throws Exception {
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of("--config", regionFile.toString(), "--command-config",
        commandConfig.toString()));
    return tandem(all.toArray(String[]::new));
  }

  /** Every shard's owner and epoch in a {@code status --output json} answer equal the regions'. */
  static void assertStatusMatchesOwnership(JsonNode status) {
    assertEquals(SHARDS, status.get("shards").size(), status.toString());
    for (JsonNode row : status.get("shards")) {
      int s = row.get("shard").asInt();
      ShardLease la = a.ownership().lease(s);
      ShardLease lb = b.ownership().lease(s);
      assertEquals(la.owner().name(), row.get("owner").asText(), "shard " + s + ": " + row);
      assertEquals(la.epoch(), row.get("epoch").asLong(), "shard " + s + ": " + row);
      assertEquals(lb.owner().name(), row.get("owner").asText(), "B agrees, shard " + s);
      assertEquals(lb.epoch(), row.get("epoch").asLong(), "B agrees, shard " + s);
    }
  }

  @Test
  @Order(1)
  void statusOverSaslSslShowsTheOwnershipOfTheRunningRegions() throws Exception {
    // region A runs on the very state directory the file names: the command takes no lock of it.
    // The two answers are read together (two JVMs, neither changes anything)
    CompletableFuture<Run> jsonRun = async(() -> op("status", "--output", "json"));
    Run text = op("status", "--verbose");
    assertEquals(TandemCli.OK, text.code(), text.err());
    assertTrue(text.out().contains("region-a=reachable, region-b=reachable"), text.out());
    assertTrue(text.out().contains("policy: manual"), text.out());
    for (int s = 0; s < SHARDS; s++) {
      ShardLease l = a.ownership().lease(s);
      assertTrue(text.out().lines().anyMatch(line -> line.matches(
          "^" + l.shard() + "\\s+" + l.owner().name() + "\\s+" + l.epoch() + "\\s.*")),
          "a row for shard " + s + " owned by " + l.owner() + ": " + text.out());
    }

    Run json = jsonRun.get();
    assertEquals(TandemCli.OK, json.code(), json.err());
    JsonNode status = json.json();
    assertEquals("full", status.get("guarantee").asText());
    assertEquals(0, status.get("detected_duplicates").asLong());
    assertStatusMatchesOwnership(status);
    for (JsonNode row : status.get("shards")) {
      assertEquals(row.get("home").asText(), row.get("owner").asText(), "no move yet: " + row);
      assertTrue(row.get("heartbeat").asText().endsWith("ms ago"), "owners heartbeat: " + row);
    }
  }

  @Test
  @Order(2)
  void moveAndFenceChangeWhatStatusShows() throws Exception {
    // shard 1's home is region-b; moved to region-a with B's acknowledgement: bound known, exit 0
    Run move = op("move", "--shard", "1", "--output", "json", "--verbose");
    assertEquals(TandemCli.OK, move.code(), move.out() + move.err());
    JsonNode m = move.json().get("moves").get(0);
    assertEquals("region-b", m.get("from").asText());
    assertEquals("region-a", m.get("to").asText());
    assertEquals(1, m.get("epoch").asLong());
    assertTrue(m.get("acknowledged").asBoolean(), m.toString());
    await().atMost(Duration.ofSeconds(15)).until(() ->
        a.ownership().lease(1).epoch() == 1 && b.ownership().lease(1).epoch() == 1);

    // fence does not wait for the old owner: bound unknown, exit 1
    Run fence = op("fence", "--shard", "0", "--to", "region-b");
    assertEquals(TandemCli.PARTIAL, fence.code(), fence.out() + fence.err());
    assertTrue(fence.out().contains("unknown"), fence.out());
    await().atMost(Duration.ofSeconds(15)).until(() ->
        a.ownership().lease(0).epoch() == 1 && b.ownership().lease(0).epoch() == 1);

    JsonNode status = op("status", "--output", "json").json();
    assertStatusMatchesOwnership(status);
    assertEquals("region-a", status.get("shards").get(1).get("owner").asText());
    assertEquals(1, status.get("shards").get(1).get("epoch").asLong());
    assertEquals("region-b", status.get("shards").get(0).get("owner").asText());
    assertEquals(1, status.get("shards").get(0).get("epoch").asLong());
    assertEquals("epoch 1 to region-b", status.get("shards").get(0).get("last_takeover").asText());
  }

  @Test
  @Order(3)
  void evacuateAndReturnMoveEveryShardByPlannedHandover() throws Exception {
    // after the move and the fence: region-a owns shards 1 and 2
    Run evacuate = op("evacuate", "--region", "region-a", "--output", "json", "--verbose");
    assertEquals(TandemCli.OK, evacuate.code(), evacuate.out() + evacuate.err());
    JsonNode moved = evacuate.json().get("shards");
    assertEquals(2, moved.size(), moved.toString());
    for (JsonNode m : moved) {
      assertEquals("MOVED", m.get("outcome").asText(), m.toString());
      assertEquals("region-b", m.get("to").asText(), m.toString());
      assertEquals(0, m.get("bound").asLong(), "a planned handover: no duplicate expected");
      int shard = m.get("shard").asInt();
      assertEquals(a.ownership().lease(shard).epoch(), m.get("epoch").asLong(), m.toString());
    }
    for (int s = 0; s < SHARDS; s++) {
      assertEquals("region-b", a.ownership().lease(s).owner().name(), "shard " + s);
    }
    // status shows which shards are away by an evacuation (held against failback until a return)
    JsonNode away = op("status", "--output", "json").json();
    assertStatusMatchesOwnership(away);
    for (JsonNode m : moved) {
      JsonNode row = away.get("shards").get(m.get("shard").asInt());
      assertEquals("region-a", row.get("evacuated_from").asText(), row.toString());
    }

    // region-a's home shards (0 and 2) go back to it; 1 and 3 stay with their home region-b
    Run back = op("return", "--region", "region-a", "--output", "json");
    assertEquals(TandemCli.OK, back.code(), back.out() + back.err());
    assertEquals(2, back.json().get("shards").size(), back.out());
    for (JsonNode m : back.json().get("shards")) {
      assertEquals("MOVED", m.get("outcome").asText(), m.toString());
      assertEquals("region-a", m.get("to").asText(), m.toString());
    }
    for (int s = 0; s < SHARDS; s++) {
      int shard = s;
      await().atMost(Duration.ofSeconds(15)).until(() -> b.ownership().lease(shard).owner()
          .equals(b.ownership().initialOwner(shard)));
      assertEquals(a.ownership().initialOwner(s), a.ownership().lease(s).owner(), "home: " + s);
    }
  }

  @Test
  @Order(4)
  void aDeadLetterIsListedAndRedrivenOnceWithItsEnvelope() throws Exception {
    String id = "poison-1";
    poison.add(id);
    Properties pub = new Properties();
    pub.put("tandem.regions", "region-a,region-b");
    for (KafkaRegion r : regions.both()) {
      pub.put("tandem.region." + r.name() + ".bootstrap.servers", r.bootstrapServers());
      r.clientSecurity().forEach((k, v) -> pub.put("tandem.region." + r.name() + "." + k, v));
    }
    pub.put("tandem.spool.dir", dir.resolve("spool").toString());
    pub.put("tandem.ack.policy", "ALL");
    pub.put("key.serializer", StringSerializer.class.getName());
    pub.put("value.serializer", ByteArraySerializer.class.getName());
    try (TandemKafkaProducer<String, byte[]> producer = new TandemKafkaProducer<>(pub)) {
      ProducerRecord<String, byte[]> r = new ProducerRecord<>(TOPIC, "k1",
          "payload".getBytes(StandardCharsets.UTF_8));
      r.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
      producer.send(r).get(30, TimeUnit.SECONDS);
    }
    // the owner fails it twice (tandem.store.max.attempts=2): dead-lettered in its region
    await().atMost(Duration.ofSeconds(40)).until(() -> dlqIds().contains(id));
    Run list = op("dlq", "list", "--topic", TOPIC, "--output", "json", "--verbose");
    assertEquals(TandemCli.OK, list.code(), list.err());
    JsonNode letters = list.json().get("letters");
    assertEquals(1, letters.size(), letters.toString());
    assertEquals(id, letters.get(0).get("id").asText());
    assertEquals("MAX_ATTEMPTS", letters.get(0).get("reason").asText());
    assertEquals(TOPIC + "/" + letters.get(0).get("partition").asInt() + "@",
        letters.get(0).get("source").asText().replaceAll("@.*", "@"), "same partition = shard");
    assertEquals(null, completed.get(id), "never completed while poisoned");

    poison.remove(id);
    Run redrive = op("dlq", "redrive", "--topic", TOPIC, "--id", id, "--settle", "1s");
    assertEquals(TandemCli.OK, redrive.code(), redrive.out() + redrive.err());
    assertTrue(redrive.out().contains("generation 1"), redrive.out());
    assertTrue(redrive.out().contains("redriven to " + TOPIC + "/"), redrive.out());
    // the command waits until a running consumer took the re-driven id up (its replica reads the
    // claim or completion of generation 1), instead of only a fixed settle time
    assertTrue(redrive.out().contains("taken up: 1 of 1"), redrive.out());
    assertTrue(redrive.out().contains("CLAIMED at generation 1")
        || redrive.out().contains("COMPLETED at generation 1"), redrive.out());
    await().atMost(Duration.ofSeconds(30)).until(() -> completed.containsKey(id));
    // the peer region's copy of the id (never dead-lettered there: it only followed) meets the
    // re-driven one in the store: processed once
    await().atMost(Duration.ofSeconds(15)).until(() ->
        a.store().isTerminal(id, shardOf.get(id)) && b.store().isTerminal(id, shardOf.get(id)));
    assertEquals(1, completed.get(id).get(), "processed once after the redrive");
  }

  /** The tandem-ids in both regions' dead-letter topics of {@link #TOPIC}. */
  static Set<String> dlqIds() {
    Set<String> ids = new java.util.HashSet<>();
    for (KafkaRegion r : regions.both()) {
      Properties p = r.consumerProperties("unused");
      p.remove("group.id");
      try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(),
          new ByteArrayDeserializer())) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int s = 0; s < SHARDS; s++) {
          tps.add(new TopicPartition(KafkaDeadLetterSink.topicFor(TOPIC), s));
        }
        c.assign(tps);
        c.seekToBeginning(tps);
        Map<TopicPartition, Long> end = c.endOffsets(tps);
        while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
          for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(200))) {
            Header h = rec.headers().lastHeader(TandemHeaders.ID);
            if (h != null) {
              ids.add(new String(h.value(), StandardCharsets.UTF_8));
            }
          }
        }
      }
    }
    return ids;
  }

  @Test
  @Order(5)
  void usageErrorsExitTwoNamingTheOption() throws Exception {
    // the region's file is checked by the region's own key table: a misspelt key names itself
    Path bad = dir.resolve("misspelt.properties");
    Files.writeString(bad, Files.readString(regionFile) + "tandem.shards.count=4\n");
    // four independent commands (each its own JVM, reading only its arguments and files, changing
    // nothing): started together, so the test waits for the slowest JVM start, not for the sum
    CompletableFuture<Run> unknownRun = async(() -> op("status", "--bogus"));
    CompletableFuture<Run> missingRun = async(() -> op("move"));
    CompletableFuture<Run> misspeltRun = async(() -> tandem("status", "--config", bad.toString()));
    CompletableFuture<Run> noConfigRun = async(() -> tandem("status"));

    Run unknown = unknownRun.get();
    assertEquals(TandemCli.USAGE, unknown.code());
    assertTrue(unknown.err().contains("--bogus"), unknown.err());

    Run missing = missingRun.get();
    assertEquals(TandemCli.USAGE, missing.code());
    assertTrue(missing.err().contains("--shard"), missing.err());

    Run misspelt = misspeltRun.get();
    assertEquals(TandemCli.USAGE, misspelt.code(), misspelt.err());
    assertTrue(misspelt.err().contains("tandem.shards.count"), misspelt.err());

    Run noConfig = noConfigRun.get();
    assertEquals(TandemCli.USAGE, noConfig.code());
    assertTrue(noConfig.err().contains("--config"), noConfig.err());
  }

  @Test
  @Order(6)
  void refusedCredentialsExitThree() throws Exception {
    Properties wrong = new Properties();
    wrong.putAll(regions.a().clientSecurity(KafkaRegion.SASL_USERNAME, "not-the-password"));
    Path file = dir.resolve("wrong.properties");
    store(wrong, file);
    Run refused = tandem("status", "--config", regionFile.toString(), "--command-config",
        file.toString());
    assertEquals(TandemCli.UNREACHABLE, refused.code(), refused.out() + refused.err());
    assertTrue(refused.err().contains("refused"), refused.err());
  }
}
