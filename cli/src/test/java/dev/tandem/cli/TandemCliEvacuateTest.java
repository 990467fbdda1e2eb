package dev.tandem.cli;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.cli.CliProcess.Run;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.ShardLease;
import dev.tandem.testkit.History;
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
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
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
 * {@code tandem evacuate} and {@code tandem return} run as separate processes (a child JVM with this
 * module's class path, as {@link TandemCliTest}) against two real KRaft clusters, while two
 * instances per region ({@link TandemRegion}'s Kafka consumers) process a steady stream: the
 * command's request travels through region A's ownership request topic, A's instances hand their
 * shards over and answer, and the command prints each shard's new epoch (issue 21's tests). The two
 * tests share the clusters and the four instances; the second starts where the first left off
 * (every shard at home).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TandemCliEvacuateTest {

  static final String TOPIC = "orders-evacuate";
  static final int SHARDS = 12;
  static final int TOTAL = 3000;
  /** Home shards: sorted([region-a, region-b])[shard % 2]. */
  static final Set<Integer> HOME_A = new TreeSet<>(List.of(0, 2, 4, 6, 8, 10));

  @TempDir
  static Path dir;
  static TwoRegions regions;
  static Path regionFile;
  static final History history = new History();
  /** Per instance: the shards whose handler it ran since the last reset. */
  static final Map<String, Set<Integer>> ran = new ConcurrentHashMap<>();
  static final AtomicBoolean hangA2 = new AtomicBoolean();
  static final CountDownLatch releaseA2 = new CountDownLatch(1);
  static final AtomicInteger hungInA2 = new AtomicInteger();
  static final Map<String, TandemRegion> nodes = new TreeMap<>();
  static TandemKafkaProducer<String, byte[]> producer;

  @BeforeAll
  static void start() throws Exception {
    long t0 = System.nanoTime();
    regions = TwoRegions.start();
    regions.createTopic(TOPIC, SHARDS);
    // the four instances open their stores and join their groups together: one rebalance per group
    List<CompletableFuture<TandemRegion>> starting = new ArrayList<>();
    for (String[] n : new String[][] {{"region-a", "a1"}, {"region-a", "a2"}, {"region-b", "b1"},
        {"region-b", "b2"}}) {
      starting.add(CompletableFuture.supplyAsync(() -> node(n[0], n[1])));
    }
    producer = TandemKafkaProducer.builder(new StringSerializer(), new ByteArraySerializer())
        .region(RegionId.of("region-a"), regions.a().producerProperties())
        .region(RegionId.of("region-b"), regions.b().producerProperties())
        .publisher(p -> p.spoolDirectory(dir.resolve("spool")))
        .build();
    for (CompletableFuture<TandemRegion> f : starting) {
      TandemRegion r = f.join();
      nodes.put(r.health().instance(), r);
    }
    // the operator's copy of region A's file (the command ignores the state directory and instance)
    regionFile = dir.resolve("region-a.properties");
    try (var out = Files.newOutputStream(regionFile)) {
      keys("region-a", "operator").store(out, null);
    }
    // every shard's owner heartbeats before the command reads the leases
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      for (int s = 0; s < SHARDS; s++) {
        if (node("a1").ownership().lease(s).heartbeatHlc() == 0) {
          return false;
        }
      }
      return true;
    });
    System.out.printf("setup: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
  }

  @AfterAll
  static void stop() throws Exception {
    releaseA2.countDown();
    long t0 = System.nanoTime();
    // closed together: each close waits on its brokers, not on the others
    List<CompletableFuture<Void>> closing = new ArrayList<>();
    List<AutoCloseable> all = new ArrayList<>(nodes.values());
    all.add(producer);
    for (AutoCloseable c : all) {
      if (c != null) {
        closing.add(CompletableFuture.runAsync(() -> {
          try {
            c.close();
          } catch (Exception e) {
            throw new CompletionException(e);
          }
        }));
      }
    }
    try {
      CompletableFuture.allOf(closing.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
    } finally {
      long t1 = System.nanoTime();
      if (regions != null) {
        regions.close();
      }
      System.out.printf("teardown: instances %d ms, clusters %d ms%n", (t1 - t0) / 1_000_000,
          (System.nanoTime() - t1) / 1_000_000);
    }
  }

  static TandemRegion node(String instance) {
    return nodes.get(instance);
  }

  static Properties keys(String region, String instance) {
    Properties p = new Properties();
    p.put("tandem.regions", "region-a,region-b");
    p.put("tandem.region", region);
    p.put("tandem.instance", instance);
    for (KafkaRegion r : regions.both()) {
      p.put("tandem.region." + r.name() + ".bootstrap.servers", r.bootstrapServers());
    }
    p.put("tandem.state.dir", dir.resolve("state-" + instance).toString());
    p.put("tandem.shards", String.valueOf(SHARDS));
    p.put("tandem.changelog.topic.prefix", "ev");
    p.put("tandem.changelog.publish.timeout.ms", "3000");
    p.put("tandem.heartbeat.interval.ms", "500");
    // a hung handler (the second test) is busy, not stuck, for the whole test
    p.put("tandem.handler.timeout.ms", "60000");
    // MANUAL: nothing moves by itself (a loaded machine can delay heartbeats past AUTOMATIC's
    // L + margin), so every move seen here is the command's
    p.put("tandem.ownership.policy", "manual");
    p.put("group.id", "evacuate-" + region);
    p.put("auto.offset.reset", "earliest");
    p.put("session.timeout.ms", "6000");
    p.put("heartbeat.interval.ms", "1000");
    p.put("max.poll.records", "200");
    return p;
  }

  /** One instance: a handler that takes a few ms, as real work does, and hangs while asked to. */
  static TandemRegion node(String region, String instance) {
    TandemRegion r = TandemRegion.create(keys(region, instance));
    AtomicBoolean hang = instance.equals("a2") ? hangA2 : new AtomicBoolean();
    r.kafkaConsumer(TOPIC, new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {
      if (hang.get()) {
        hungInA2.incrementAndGet();
        releaseA2.await(60, TimeUnit.SECONDS);
      }
      Thread.sleep(2);
      ran.computeIfAbsent(instance, k -> ConcurrentHashMap.newKeySet()).add(ctx.shard());
      history.handled(ctx.id(), region, instance, ctx.epoch());
    }).start();
    return r;
  }

  static void publish(String prefix, int from, int to) throws Exception {
    List<Future<RecordMetadata>> acks = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    for (int i = from; i < to; i++) {
      String id = prefix + "-" + i;
      ProducerRecord<String, byte[]> r = new ProducerRecord<>(TOPIC, "key-" + i,
          ("payload " + i).getBytes(StandardCharsets.UTF_8));
      r.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
      acks.add(producer.send(r));
      ids.add(id);
    }
    producer.flush();
    for (int i = 0; i < acks.size(); i++) {
      acks.get(i).get(30, TimeUnit.SECONDS);
      history.published(ids.get(i));
    }
  }

  /** {@code tandem args... --config <region A's file>} in a new JVM with this module's class path. */
  static Run tandem(String... args) throws Exception {
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of("--config", regionFile.toString()));
    return CliProcess.tandem(dir, all);
  }

  /** Every row MOVED to {@code to}, its epoch the one the leases show now, one row per shard. */
  static void assertMoved(JsonNode rows, Set<Integer> shards, String to, Map<Integer, Long> before) {
    Set<Integer> seen = new TreeSet<>();
    for (JsonNode m : rows) {
      int shard = m.get("shard").asInt();
      seen.add(shard);
      assertEquals("MOVED", m.get("outcome").asText(), m.toString());
      assertEquals(to, m.get("to").asText(), m.toString());
      assertEquals(0, m.get("bound").asLong(), "a planned handover: no duplicate expected " + m);
      assertEquals(before.get(shard) + 1, m.get("epoch").asLong(), "epoch + 1: " + m);
      for (TandemRegion n : nodes.values()) {
        await().atMost(Duration.ofSeconds(20)).until(() -> n.ownership().lease(shard).epoch()
            == m.get("epoch").asLong());
        ShardLease l = n.ownership().lease(shard);
        assertEquals(to, l.owner().name(), "every instance sees the new owner of " + shard);
      }
    }
    assertEquals(shards, seen, "one row per shard: " + rows);
  }

  static Map<Integer, Long> epochs() {
    Map<Integer, Long> e = new TreeMap<>();
    for (int s = 0; s < SHARDS; s++) {
      e.put(s, node("a1").ownership().lease(s).epoch());
    }
    return e;
  }

  /** Ids acknowledged by the producer so far (the stream's progress). */
  static final AtomicInteger published = new AtomicInteger();
  /** Set once both commands ended: the rest of the stream goes out unpaced. */
  static final AtomicBoolean hurry = new AtomicBoolean();

  /**
   * A steady stream of {@code to - from} messages, 10 every 200 ms (50/s): slow enough that it
   * still flows when both commands (each a new JVM that opens its own replica, 10–25 s on a loaded
   * machine) have ended; after {@link #hurry} the rest goes out at once.
   */
  static CompletableFuture<Void> stream(String prefix, int from, int to) {
    return CompletableFuture.runAsync(() -> {
      try {
        for (int i = from; i < to; i += 10) {
          publish(prefix, i, Math.min(to, i + 10));
          published.set(Math.min(to, i + 10) - from);
          if (!hurry.get()) {
            Thread.sleep(200); // pacing of the stream, not a synchronisation
          }
        }
      } catch (Exception e) {
        throw new CompletionException(e);
      }
    });
  }

  @Test
  @Order(1)
  void evacuateAndReturnDuringASteadyStreamWithoutDuplicatesOrLoss() throws Exception {
    CompletableFuture<Void> feed = stream("ev", 0, TOTAL);
    await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() >= 300);

    Map<Integer, Long> before = epochs();
    Run evacuate = tandem("evacuate", "--region", "region-a", "--timeout", "20s", "--output",
        "json");
    int publishedAfterEvacuate = published.get();
    assertEquals(TandemCli.OK, evacuate.code(), evacuate.out() + evacuate.err());
    assertMoved(evacuate.json().get("shards"), HOME_A, "region-b", before);

    Map<Integer, Long> away = epochs();
    Run back = tandem("return", "--region", "region-a", "--timeout", "20s", "--output", "json");
    int publishedAfterReturn = published.get();
    hurry.set(true);
    assertEquals(TandemCli.OK, back.code(), back.out() + back.err());
    assertMoved(back.json().get("shards"), HOME_A, "region-a", away);
    // the stream flowed through both commands: messages went out after each of them had ended
    assertTrue(publishedAfterEvacuate < TOTAL && publishedAfterReturn < TOTAL,
        "mid-stream: " + publishedAfterEvacuate + ", " + publishedAfterReturn + " of " + TOTAL);

    feed.get(60, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == TOTAL);
    History.Report report = history.check(Duration.ofSeconds(5).toNanos());
    System.out.printf("cli evacuate: messages=%d duplicates=%d lost=%d; evacuate(6 shards): "
        + "slowest shard result %d ms after the request, command took %s (process %d ms); "
        + "return(6): slowest %d ms, took %s (process %d ms); published when each ended: %d, %d; "
        + "%s%n", TOTAL, report.duplicates(), report.lost().size(),
        slowest(evacuate.json()), evacuate.json().get("took").asText(), evacuate.millis(),
        slowest(back.json()), back.json().get("took").asText(), back.millis(),
        publishedAfterEvacuate, publishedAfterReturn, report);
    assertEquals(0, report.lost().size(), report.toString());
    assertEquals(0, report.duplicates(), report.toString());
    for (TandemRegion n : nodes.values()) {
      assertEquals(0, n.ownership().reports().size(), n + ": no takeover, only handovers");
    }
  }

  /** The slowest shard's time from the request to its result, in ms. */
  static long slowest(JsonNode answer) {
    long max = 0;
    for (JsonNode m : answer.get("shards")) {
      max = Math.max(max, Long.parseLong(m.get("took").asText().replace(" ms", "")));
    }
    return max;
  }

  @Test
  @Order(2)
  void anInstanceThatIsStoppedKeepsItsShardsReportedNotAnsweredNothingForced() throws Exception {
    ran.clear();
    publish("hg", 0, 120);
    await().atMost(Duration.ofSeconds(60)).until(() -> history.distinctHandled() == TOTAL + 120);
    Set<Integer> ranByA2 = Set.copyOf(ran.getOrDefault("a2", Set.of()));
    Set<Integer> ranByA1 = Set.copyOf(ran.getOrDefault("a1", Set.of()));
    assertFalse(ranByA2.isEmpty() || ranByA1.isEmpty(), "both of A's instances run shards");

    // a2 stops inside a handler, as a paused process (SIGSTOP, a GC pause, a stuck call): alive in
    // its group, holding its partitions, answering nothing. (An instance stopped cleanly leaves its
    // group: the other instance then serves its shards and answers for them.)
    hangA2.set(true);
    publish("hg", 120, 180);
    await().atMost(Duration.ofSeconds(30)).until(() -> hungInA2.get() > 0);

    Map<Integer, Long> before = epochs();
    Run evacuate = tandem("evacuate", "--region", "region-a", "--timeout", "4s", "--output",
        "json");
    // documented: 1 = done in part (a shard did not answer), nothing forced without --force
    assertEquals(TandemCli.PARTIAL, evacuate.code(), evacuate.out() + evacuate.err());
    Set<Integer> notAnswered = new TreeSet<>();
    for (JsonNode m : evacuate.json().get("shards")) {
      int shard = m.get("shard").asInt();
      if (m.get("outcome").asText().equals("NOT_ANSWERED")) {
        notAnswered.add(shard);
        assertTrue(ranByA2.contains(shard), "only the stopped instance's shards: " + m);
        assertEquals(before.get(shard), m.get("epoch").asLong(), "the epoch it stays at: " + m);
        assertTrue(m.get("bound").isNull(), "not moved, no bound: " + m);
      } else {
        assertEquals("MOVED", m.get("outcome").asText(), m.toString());
        assertTrue(ranByA1.contains(shard), "a1 answered for its own shards: " + m);
      }
    }
    assertEquals(ranByA2, notAnswered, "every shard of the stopped instance is reported: "
        + evacuate.out());
    for (int s : notAnswered) {
      for (TandemRegion n : nodes.values()) {
        ShardLease l = n.ownership().lease(s);
        assertEquals("region-a", l.owner().name(), "nothing forced without --force: " + l);
        assertEquals((long) before.get(s), l.epoch(), l.toString());
      }
    }
    releaseA2.countDown();
  }
}
