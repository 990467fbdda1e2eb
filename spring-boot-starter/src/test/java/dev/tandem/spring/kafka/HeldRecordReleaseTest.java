package dev.tandem.spring.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.store.IdRecord;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20 (follower latency), Spring listeners: a follower's held record is released when its
 * owner's completion applies in the follower's store, not at the end of the error handler's fixed
 * back-off ({@link TandemListenerSupport#HOLD_RECHECK}, 200 ms).
 */
@TandemClusters
class HeldRecordReleaseTest {

  static TwoRegions regions;
  @TempDir Path dir;

  /**
   * The owner (region-a) completes the record just after region-b's listener held it (b's error
   * handler has just started its back-off), while the partition's stream flows (a record every
   * 10 ms after it, so the re-fetch after the error handler's seek is answered at once); b must
   * acknowledge its copy well within the 200 ms back-off of the completion's apply in b's store.
   * Asserted: the back-off ended early on the completion ({@code follower.early.releases}), and the
   * acknowledgement came soon after the apply (a loose wall-clock bound; the counter is exact); what remains after the apply on the fixed
   * path is a seek, one fetch from the in-JVM broker, and Awaitility's 2 ms polling.
   *
   * <p>Not covered (a known limit, see the notes): an idle partition. After the seek, the classic
   * consumer sends the new fetch only once the one it pipelined at the held delivery's poll returns,
   * which the broker parks up to {@code fetch.max.wait.ms} (500 ms) when no record comes.
   */
  @Test
  void aHeldRecordIsAcknowledgedSoonAfterItsOwnersCompletionAppliesWhileItsPartitionFlows()
      throws Exception {
    String topic = topicWithChangelogs("spring-release-");
    Map<String, String> bootstrap = bootstrap();
    RegionContext[] holder = new RegionContext[2];
    AtomicLong heldAt = new AtomicLong();
    // region-a's listener returns only once region-b has held the copy (its back-off just began)
    var fa = CompletableFuture.supplyAsync(() -> new RegionContext(topic + "/region-a", "region-a",
        bootstrap, dir, topic, false, Map.of(), (rec, region) -> await().atMost(Duration.ofSeconds(30))
            .pollInterval(Duration.ofMillis(1))
            .until(() -> holder[1] != null
                && holder[1].counter("tandem.consumer.follower.held", null, null) >= 1
                && heldAt.compareAndSet(0, System.nanoTime()) | true)));
    var fb = CompletableFuture.supplyAsync(() -> new RegionContext(topic + "/region-b", "region-b",
        bootstrap, dir, topic, false, Map.of(), (rec, region) -> { }));
    try (RegionContext a = fa.join(); RegionContext b = fb.join()) {
      holder[1] = b;
      int shard = shardOwnedByA(a, b);
      String id = topic + "-1";
      AtomicLong appliedAt = new AtomicLong();
      StoreListener applied = new StoreListener() {
        @Override
        public void onRecord(IdRecord record, WriteOrigin origin) {
          if (record.id().equals(id) && record.phase().isTerminal()) {
            appliedAt.compareAndSet(0, System.nanoTime());
          }
        }
      };
      b.tandem().store().addListener(applied);
      try (KafkaRegionalSink sa = KafkaRegionalSink.create(RegionId.of("region-a"),
              regions.a().producerProperties());
          KafkaRegionalSink sb = KafkaRegionalSink.create(RegionId.of("region-b"),
              regions.b().producerProperties())) {
        for (KafkaRegionalSink s : List.of(sa, sb)) {
          s.send(copy(topic, shard, id)).get(30, TimeUnit.SECONDS);
        }
        // the stream behind it: one more record of the shard every 10 ms, both regions, until b
        // acknowledged the first (records of a partition are acknowledged in order)
        int shardOfStream = shard;
        var stream = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
        AtomicLong next = new AtomicLong(2);
        stream.scheduleAtFixedRate(() -> {
          String more = topic + "-" + next.getAndIncrement();
          for (KafkaRegionalSink s : List.of(sa, sb)) {
            s.send(copy(topic, shardOfStream, more));
          }
        }, 0, 10, TimeUnit.MILLISECONDS);
        try {
          await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(2))
              .until(() -> b.counter("tandem.consumer.follower.acknowledged", null, null) >= 1);
        } finally {
          stream.shutdownNow();
          stream.awaitTermination(10, TimeUnit.SECONDS);
        }
        long ackedAt = System.nanoTime();
        assertTrue(appliedAt.get() != 0, "the owner's completion applied in region-b's store");
        long ms = (ackedAt - appliedAt.get()) / 1_000_000;
        System.out.printf("held record: held -> completion applied in region-b %d ms, applied -> "
            + "acknowledged %d ms (held deliveries %.0f, early releases %.0f)%n",
            (appliedAt.get() - heldAt.get()) / 1_000_000, ms,
            b.counter("tandem.consumer.follower.held", null, null),
            b.counter("tandem.consumer.follower.early.releases", null, null));
        // the mechanism, exactly: the back-off ended because the completion applied, not because
        // its interval ran out (a wall-clock bound alone failed once at load ~21 with 122 ms)
        assertTrue(b.counter("tandem.consumer.follower.early.releases", null, null) >= 1,
            "the held record's back-off ended on its owner's completion, before its interval");
        // and soon: well inside the 30 s a held record waits for a silent owner (a wall-clock bound
        // near HOLD_RECHECK would measure the loaded machine, not the release; the counter above does)
        assertTrue(ms < 10 * TandemListenerSupport.HOLD_RECHECK.toMillis(), "a held record is "
            + "acknowledged soon after its owner's completion applied in the follower's store; it took "
            + ms + " ms");
      } finally {
        b.tandem().store().removeListener(applied);
      }
    }
  }

  /**
   * s9 task 2: a partition revoked from this application (here: its listener containers stopped,
   * which revokes every partition) takes its held record with it. Before, the support kept the
   * shard's held entry, so {@code heldFor(shard)} — what the ticker's {@code observe} weighs for a
   * NO_PROGRESS takeover (held beyond stuckAfter while the owner's position does not move, as on an
   * idle shard) — kept growing for a record this application no longer reads or holds; the plain
   * consumer's FollowerHold forgets a revoked partition.
   */
  @Test
  void aRevokedPartitionsHeldRecordNoLongerCountsAsHeldHere() throws Exception {
    String topic = topicWithChangelogs("spring-revoke-");
    Map<String, String> bootstrap = bootstrap();
    java.util.concurrent.CountDownLatch ownerMayComplete = new java.util.concurrent.CountDownLatch(1);
    // region-a's listener does not complete until the test says so: region-b holds its copy
    var fa = CompletableFuture.supplyAsync(() -> new RegionContext(topic + "/region-a", "region-a",
        bootstrap, dir, topic, false, Map.of(), (rec, region) -> {
          try {
            ownerMayComplete.await(60, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }));
    var fb = CompletableFuture.supplyAsync(() -> new RegionContext(topic + "/region-b", "region-b",
        bootstrap, dir, topic, false, Map.of(), (rec, region) -> { }));
    try (RegionContext a = fa.join(); RegionContext b = fb.join()) {
      int shard = shardOwnedByA(a, b);
      try (KafkaRegionalSink sa = KafkaRegionalSink.create(RegionId.of("region-a"),
              regions.a().producerProperties());
          KafkaRegionalSink sb = KafkaRegionalSink.create(RegionId.of("region-b"),
              regions.b().producerProperties())) {
        for (KafkaRegionalSink s : List.of(sa, sb)) {
          s.send(copy(topic, shard, topic + "-1")).get(30, TimeUnit.SECONDS);
        }
      }
      int held = shard;
      await().atMost(Duration.ofSeconds(30))
          .until(() -> b.support().heldFor(held).compareTo(Duration.ZERO) > 0);

      var registry = b.context.getBean(
          org.springframework.kafka.config.KafkaListenerEndpointRegistry.class);
      registry.stop(); // every partition of region-b's listener containers revoked
      await().atMost(Duration.ofSeconds(30)).until(() -> !registry.isRunning());
      try {
        await().atMost(Duration.ofSeconds(10)).until(() -> b.support().heldFor(held).isZero());
      } catch (org.awaitility.core.ConditionTimeoutException e) {
        throw new AssertionError("shard " + held + " revoked from region-b's containers still "
            + "counts as held there: heldFor = " + b.support().heldFor(held), e);
      } finally {
        ownerMayComplete.countDown();
      }
    }
  }

  /** A fresh topic of 8 partitions with its changelog in both regions, leaders elected. */
  private static String topicWithChangelogs(String prefix) {
    String topic = prefix + Long.toHexString(System.nanoTime());
    regions.createTopic(topic, 8);
    for (var r : regions.both()) {
      r.createTopic("tandem-" + topic + ".changelog", 8,
          Map.of("cleanup.policy", "compact,delete", "retention.ms", "691200000"));
      awaitLeaders(r.bootstrapServers(), "tandem-" + topic + ".changelog");
    }
    return topic;
  }

  /** Both regions' bootstrap servers, by region name, for a {@link RegionContext}. */
  private static Map<String, String> bootstrap() {
    Map<String, String> bootstrap = new LinkedHashMap<>();
    bootstrap.put("region-a", regions.a().bootstrapServers());
    bootstrap.put("region-b", regions.b().bootstrapServers());
    return bootstrap;
  }

  /** A shard region-a owns in both regions' views (so region-b is its follower). */
  private static int shardOwnedByA(RegionContext a, RegionContext b) {
    for (int s = 0; s < 8; s++) {
      if (a.tandem().ownership().lease(s).owner().equals(RegionId.of("region-a"))
          && b.tandem().ownership().lease(s).owner().equals(RegionId.of("region-a"))) {
        return s;
      }
    }
    throw new AssertionError("region-a owns a shard in both regions' views");
  }

  /** One copy of record {@code id} of {@code shard}, as each region's publisher would send it. */
  private static OutboundMessage copy(String topic, int shard, String id) {
    return OutboundMessage.builder(topic, shard).key("k".getBytes(StandardCharsets.UTF_8))
        .value("order".getBytes(StandardCharsets.UTF_8)).id(id).build();
  }

  private static void awaitLeaders(String bootstrapServers, String topic) {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
        bootstrapServers))) {
      await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> admin
          .describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic)
          .partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()));
    }
  }
}
