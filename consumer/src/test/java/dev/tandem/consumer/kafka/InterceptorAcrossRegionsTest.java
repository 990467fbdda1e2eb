package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.SharedStores;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.RecordKey;
import dev.tandem.testkit.History;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The property-only interceptor across two regions (issue 16), checked the way Kafka's own
 * {@code VerifiableConsumer} checks a consumer: a plain {@code new KafkaConsumer<>(props)} poll loop
 * with {@code commitSync}, configured by properties alone (no Tandem type in the consumer code). The
 * ids are published to both regions with {@link TandemKafkaProducer}. Assertions read the regions'
 * replicas through {@link SharedStores} (test side only).
 */
@TandemClusters
class InterceptorAcrossRegionsTest {

  static final int PARTITIONS = 2;
  static TwoRegions regions;

  @TempDir static Path tmp;

  /** A consumer configuration as a user writes it in a properties file. */
  static Properties props(String region, String topicPrefix, String group) throws Exception {
    KafkaRegion own = region.equals("region-a") ? regions.a() : regions.b();
    KafkaRegion other = region.equals("region-a") ? regions.b() : regions.a();
    String file = """
        bootstrap.servers=%s
        group.id=%s
        client.id=%s-%s
        auto.offset.reset=earliest
        enable.auto.commit=false
        max.poll.records=10
        key.deserializer=org.apache.kafka.common.serialization.StringDeserializer
        value.deserializer=org.apache.kafka.common.serialization.ByteArrayDeserializer
        interceptor.classes=dev.tandem.consumer.kafka.TandemConsumerInterceptor
        tandem.region=%s
        tandem.regions=region-a,region-b
        tandem.region.%s.bootstrap.servers=%s
        tandem.region.%s.bootstrap.servers=%s
        tandem.guarantee=detect-only
        tandem.state.dir=%s
        tandem.instance=%s-1
        tandem.shards=%d
        tandem.changelog.topic.prefix=%s
        """.formatted(own.bootstrapServers(), group, group, region, region,
            own.name(), own.bootstrapServers(), other.name(), regions.peerBootstrapServers(other),
            stateDir(topicPrefix, region).toString().replace('\\', '/'),
            region, PARTITIONS, topicPrefix);
    Properties p = new Properties();
    p.load(new StringReader(file));
    return p;
  }

  /**
   * The VerifiableConsumer-style loop: polls until every partition of {@code topic} is read to its
   * end, commits after each poll, and returns the {@code tandem-id}s handed to the application (with
   * the partition each came from).
   */
  static Map<String, Integer> consumeToEnd(KafkaConsumer<String, byte[]> c, String topic) {
    Map<String, Integer> seen = new java.util.LinkedHashMap<>();
    List<String> order = new ArrayList<>();
    if (c.subscription().isEmpty()) {
      c.subscribe(List.of(topic));
    }
    await().atMost(Duration.ofSeconds(45)).pollInterval(Duration.ZERO).until(() -> {
      for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
        Header h = r.headers().lastHeader("tandem-id");
        String id = new String(h.value(), StandardCharsets.UTF_8);
        order.add(id);
        seen.merge(id, r.partition(), (x, y) -> x);
      }
      c.commitSync();
      Set<TopicPartition> assigned = c.assignment();
      if (assigned.size() < PARTITIONS) {
        return false;
      }
      Map<TopicPartition, Long> ends = c.endOffsets(assigned);
      for (TopicPartition tp : assigned) {
        if (c.position(tp) < ends.get(tp)) {
          return false;
        }
      }
      return true;
    });
    assertEquals(order.size(), seen.size(), "an id handed twice to one region's consumer: " + order);
    return seen;
  }

  static Path stateDir(String topicPrefix, String region) {
    return tmp.resolve(topicPrefix + "-" + region);
  }

  static IdempotencyStore replica(String topicPrefix, String region) {
    Path dir = stateDir(topicPrefix, region).resolve("store");
    IdempotencyStore s = SharedStores.acquire(dir, RegionId.of(region), region + "-1", () -> {
      throw new AssertionError("the interceptor has not opened " + dir);
    });
    SharedStores.release(dir); // the interceptor holds it open
    return s;
  }

  static boolean allTerminal(IdempotencyStore store, Map<String, Integer> ids) {
    List<RecordKey> keys = new ArrayList<>();
    ids.forEach((id, partition) -> keys.add(new RecordKey(partition, id)));
    return store.terminalRecords(keys).size() == keys.size();
  }

  static List<String> publish(String topic, String prefix, int from, int to) throws Exception {
    try (TandemKafkaProducer<String, byte[]> p = Publishing.producer(regions, tmp.resolve(prefix + "-spool-" + from))) {
      return Publishing.publish(p, topic, prefix, from, to, new History());
    }
  }

  /**
   * Fault-free, the regions taking turns: what region A committed is dropped in region B once it
   * replicated, and the other way round; each id is processed once in all.
   */
  @Test
  void regionsConsumingAtDifferentTimesProcessEachIdOnce() throws Exception {
    String topic = "turns";
    regions.createTopic(topic, PARTITIONS);
    List<String> first = publish(topic, "t1", 0, 20);
    try (KafkaConsumer<String, byte[]> a = new KafkaConsumer<>(props("region-a", "turns", "g-turns"));
        KafkaConsumer<String, byte[]> b = new KafkaConsumer<>(props("region-b", "turns", "g-turns"))) {
      Map<String, Integer> byA1 = consumeToEnd(a, topic);
      assertEquals(new HashSet<>(first), byA1.keySet(), "region A processes the first batch");
      await("ids completed and committed in region A are terminal in region B's replica")
          .atMost(Duration.ofSeconds(20)).until(() -> allTerminal(replica("turns", "region-b"), byA1));
      Map<String, Integer> byB1 = consumeToEnd(b, topic);
      assertEquals(Set.of(), byB1.keySet(), "region B drops every id region A completed and committed");

      List<String> second = publish(topic, "t2", 20, 40);
      Map<String, Integer> byB2 = consumeToEnd(b, topic);
      assertEquals(new HashSet<>(second), byB2.keySet(), "region B processes the second batch");
      await("ids completed and committed in region B are terminal in region A's replica")
          .atMost(Duration.ofSeconds(20)).until(() -> allTerminal(replica("turns", "region-a"), byB2));
      Map<String, Integer> byA2 = consumeToEnd(a, topic);
      assertEquals(Set.of(), byA2.keySet(), "region A drops every id region B completed and committed");

      assertEquals(0L, replica("turns", "region-a").detectedDuplicates());
      assertEquals(0L, replica("turns", "region-b").detectedDuplicates());
    }
  }

  /**
   * Both regions consume the same ids at the same time: an id is processed twice only when each
   * region passed it before the other's completion reached it (inside the replication lag), and every
   * such duplicate is detected and counted by both replicas: processed copies = ids + detected.
   */
  @Test
  void concurrentRegionsMakeOnlyDetectedAndCountedDuplicates() throws Exception {
    String topic = "together";
    regions.createTopic(topic, PARTITIONS);
    List<String> ids = publish(topic, "c", 0, 200);
    Map<String, Map<String, Integer>> processed = new ConcurrentHashMap<>();
    List<CompletableFuture<Void>> runs = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> a = new KafkaConsumer<>(props("region-a", "together", "g-tog"));
        KafkaConsumer<String, byte[]> b = new KafkaConsumer<>(props("region-b", "together", "g-tog"))) {
      for (var e : Map.of("region-a", a, "region-b", b).entrySet()) {
        runs.add(CompletableFuture.runAsync(() -> processed.put(e.getKey(), consumeToEnd(e.getValue(), topic))));
      }
      CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).join();
      Map<String, Integer> byA = processed.get("region-a");
      Map<String, Integer> byB = processed.get("region-b");
      Set<String> all = new HashSet<>(byA.keySet());
      all.addAll(byB.keySet());
      assertEquals(new HashSet<>(ids), all, "every id processed at least once");
      Set<String> twice = new HashSet<>(byA.keySet());
      twice.retainAll(byB.keySet());
      Map<String, Integer> everyId = new HashMap<>(byA);
      everyId.putAll(byB);
      IdempotencyStore ra = replica("together", "region-a");
      IdempotencyStore rb = replica("together", "region-b");
      await("both replicas hold every completion and count every duplicate")
          .atMost(Duration.ofSeconds(20)).until(() -> allTerminal(ra, everyId) && allTerminal(rb, everyId)
              && ra.detectedDuplicates() == twice.size() && rb.detectedDuplicates() == twice.size());
      for (String id : twice) {
        IdRecord rec = ra.get(id, everyId.get(id)).orElseThrow();
        assertTrue(rec.isDetectedDuplicate(), id + " processed in both regions is a detected duplicate: " + rec);
      }
      assertEquals(ids.size() + ra.detectedDuplicates(), byA.size() + byB.size(),
          "processed copies = ids + detected duplicates (A " + byA.size() + ", B " + byB.size() + ")");
      System.out.printf("concurrent: %d ids, A processed %d, B processed %d, duplicates %d, detected %d/%d%n",
          ids.size(), byA.size(), byB.size(), twice.size(), ra.detectedDuplicates(), rb.detectedDuplicates());
    }
    // outside the lag nothing passes: the same ids read again from the start (new groups, the
    // replicas reopened from their state directories) are all dropped in both regions
    try (KafkaConsumer<String, byte[]> a = new KafkaConsumer<>(props("region-a", "together", "g-tog-again"));
        KafkaConsumer<String, byte[]> b = new KafkaConsumer<>(props("region-b", "together", "g-tog-again"))) {
      assertEquals(Set.of(), consumeToEnd(a, topic).keySet(), "region A, read again");
      assertEquals(Set.of(), consumeToEnd(b, topic).keySet(), "region B, read again");
    }
  }

  static double count(SimpleMeterRegistry meters, String name, String... tags) {
    return meters.find(name).tags(tags).counters().stream().mapToDouble(c -> c.count()).sum();
  }

  /**
   * Every interceptor of a directory shares one replica (RocksDB opens a directory once per
   * process); the last close closes it. A directory already open as a plain store is refused.
   */
  /**
   * The application commits with commitAsync: Kafka calls the interceptor's onCommit when the commit
   * completes (inside a later poll), and the passed records below the committed offsets are completed.
   */
  @Test
  void commitAsyncCompletesThePassedRecords() throws Exception {
    String topic = "async";
    regions.createTopic(topic, PARTITIONS);
    List<String> ids = publish(topic, "as", 0, 10);
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(props("region-a", "async", "g-async"))) {
      c.subscribe(List.of(topic));
      Map<String, Integer> seen = new ConcurrentHashMap<>();
      await("passed records completed after commitAsync").atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ZERO).until(() -> {
            for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
              seen.put(new String(r.headers().lastHeader("tandem-id").value(), StandardCharsets.UTF_8),
                  r.partition());
            }
            c.commitAsync();
            return seen.size() == ids.size() && allTerminal(replica("async", "region-a"), seen);
          });
      assertEquals(new HashSet<>(ids), seen.keySet());
    }
  }

  @Test
  void oneReplicaPerDirectoryClosedWithTheLastInterceptor() throws Exception {
    Properties p1 = props("region-a", "shared", "g-shared-1");
    Properties p2 = props("region-a", "shared", "g-shared-2");
    Path dir = Path.of(p1.getProperty("tandem.state.dir")).resolve("store");
    KafkaConsumer<String, byte[]> c1 = new KafkaConsumer<>(p1);
    IdempotencyStore replica;
    try (KafkaConsumer<String, byte[]> c2 = new KafkaConsumer<>(p2)) {
      assertEquals(2, SharedStores.references(dir), "two interceptors, one replica");
      replica = replica("shared", "region-a");
      assertTrue(replica instanceof dev.tandem.store.replication.ReplicatedStore, replica.getClass().getName());
      // a third consumer of the directory with another shard count or TTL would silently share a
      // replica of another configuration (partitions beyond the real shard count fail every lookup
      // and completion): refused, naming the key
      for (String[] kv : new String[][] {{"tandem.shards", String.valueOf(PARTITIONS * 2)},
          {"tandem.record.ttl.ms", "3600000"}}) {
        Properties differing = props("region-a", "shared", "g-shared-3");
        differing.setProperty(kv[0], kv[1]);
        Exception e = assertThrows(Exception.class,
            () -> new KafkaConsumer<String, byte[]>(differing).close(), kv[0]);
        assertTrue(rootMessage(e).contains(kv[0]), kv[0] + ": " + rootMessage(e));
        assertEquals(2, SharedStores.references(dir), "the refused interceptor holds no reference");
      }
    } finally {
      c1.close();
    }
    assertEquals(0, SharedStores.references(dir), "the last interceptor closed it");
    assertThrows(RuntimeException.class, () -> replica.get("x", 0), "the replica is closed");

    // the application opened the directory as a plain store first: no replication, refused
    IdempotencyStore plain = SharedStores.acquire(dir, TestRegions.A, "region-a-1",
        () -> IdempotencyStore.builder().region(TestRegions.A).instance("region-a-1")
            .directory(dir).build());
    try {
      Exception e = assertThrows(Exception.class, () -> new KafkaConsumer<String, byte[]>(p1).close());
      assertTrue(rootMessage(e).contains("tandem.state.dir"), rootMessage(e));
      assertEquals(1, SharedStores.references(dir), "the refused interceptor holds no reference");
    } finally {
      SharedStores.release(dir);
    }
    assertEquals(0, SharedStores.references(dir));
  }

  static String rootMessage(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null) {
      root = root.getCause();
    }
    return root.getMessage();
  }

  /**
   * The interceptor reads the region entry point's key table: a missing key, an unknown {@code
   * tandem.*} key, and the full guarantee it cannot give each fail the consumer's construction,
   * naming the key.
   */
  @Test
  void badConfigurationFailsNamingTheKey() throws Exception {
    Properties missing = props("region-a", "bad", "g-bad");
    missing.remove("tandem.state.dir");
    Properties unknown = props("region-a", "bad", "g-bad");
    unknown.put("tandem.store.directory", "/old/key");
    Properties full = props("region-a", "bad", "g-bad");
    full.remove("tandem.guarantee");
    for (var c : Map.of("tandem.state.dir", missing, "tandem.store.directory", unknown,
        "tandem.guarantee", full).entrySet()) {
      Exception e = assertThrows(Exception.class, () -> new KafkaConsumer<String, byte[]>(c.getValue()).close());
      assertTrue(rootMessage(e).contains(c.getKey()), c.getKey() + ": " + rootMessage(e));
    }
    assertEquals(0, SharedStores.references(stateDir("bad", "region-a").resolve("store")));
  }

  /**
   * The replica fails under a running consumer (here: closed): Kafka would swallow the exception and
   * pass everything without a trace; the interceptor passes the poll's records (dropping would lose
   * them), counts each failure and logs a WARN.
   */
  @Test
  void aFailingReplicaPassesThePollCountedAndLogged() throws Exception {
    String topic = "broken";
    regions.createTopic(topic, PARTITIONS);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Metrics.addRegistry(meters);
    try (KafkaConsumer<String, byte[]> a = new KafkaConsumer<>(props("region-a", "broken", "g-broken"))) {
      replica("broken", "region-a").close(); // under the interceptor
      List<String> ids = publish(topic, "x", 0, 6);
      PrintStream old = System.err;
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      Map<String, Integer> passed;
      try {
        passed = consumeToEnd(a, topic);
      } finally {
        System.setErr(old);
      }
      assertEquals(new HashSet<>(ids), passed.keySet(), "every record passed: none lost");
      assertTrue(count(meters, "tandem.consumer.interceptor.store.failures", "operation", "read") >= 1);
      assertTrue(count(meters, "tandem.consumer.interceptor.store.failures", "operation", "complete") >= 1);
      String log = err.toString(StandardCharsets.UTF_8);
      assertTrue(log.contains("WARN") && log.contains("Tandem interceptor (region-a"), log);
    } finally {
      Metrics.removeRegistry(meters);
    }
  }
}
