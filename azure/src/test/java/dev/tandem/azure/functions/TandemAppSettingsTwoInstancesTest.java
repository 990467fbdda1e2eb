package dev.tandem.azure.functions;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemIds;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two instances of one region's function app (two processes: the same app settings, each its own
 * platform instance id) on real Kafka clusters: each gets its own store directory on its local disk
 * from {@link TandemAppSettings}, and messages of one shard go from one instance to the other (the
 * first scales in; the trigger redelivers its messages to the second) without running twice.
 */
@TandemClusters
class TandemAppSettingsTwoInstancesTest {

  static final int SHARDS = 4;
  static TwoRegions regions;
  @TempDir static Path localTemp;

  /** Region A's app settings as instance {@code instanceId} sees them on the platform. */
  static Map<String, String> instance(String instanceId) {
    Map<String, String> env = new HashMap<>();
    env.put("TANDEM_REGIONS", "region-a,region-b");
    env.put("TANDEM_REGION", "region-a");
    env.put("TANDEM_SHARDS", String.valueOf(SHARDS));
    env.put("TANDEM_REGION_REGION_A_CONNECTION", "KafkaBrokers"); // the Kafka trigger's setting
    env.put("KafkaBrokers", regions.a().bootstrapServers());
    env.put("TANDEM_REGION_REGION_B_BOOTSTRAP_SERVERS", regions.b().bootstrapServers());
    env.put("WEBSITE_SITE_NAME", "orders-a");
    env.put("HOME", "/home");
    env.put("WEBSITE_INSTANCE_ID", instanceId);
    return env;
  }

  static ServiceBusTriggerMessage delivery(String id, int deliveryCount) {
    String body = "{\"order\":\"" + id + "\"}";
    Envelope e = Envelope.forPayload(id, body.getBytes(StandardCharsets.UTF_8),
        Shards.forKey(id, SHARDS), System.currentTimeMillis());
    Map<String, Object> props = new HashMap<>();
    EnvelopeCodec.write(e, props::put);
    return ServiceBusTriggerMessage.of(body, props, deliveryCount);
  }

  static List<String> idsOnShard(int shard, int n) {
    List<String> ids = new ArrayList<>();
    while (ids.size() < n) {
      String id = TandemIds.newId();
      if (Shards.forKey(id, SHARDS) == shard) {
        ids.add(id);
      }
    }
    return ids;
  }

  static TandemFunctions functions(TandemRegion region) {
    return TandemFunctions.builder()
        .region(region, letter -> CompletableFuture.completedFuture(null))
        .build();
  }

  @Test
  void twoInstancesHaveTheirOwnStoresAndAShardPassesBetweenThemWithoutDuplicates() {
    TandemAppSettings one = TandemAppSettings.from(instance("a1".repeat(32)), localTemp);
    TandemAppSettings two = TandemAppSettings.from(instance("b2".repeat(32)), localTemp);
    Path dirOne = one.instanceDirectory().directory();
    Path dirTwo = two.instanceDirectory().directory();
    assertNotEquals(dirOne, dirTwo, "two instances share the store directory " + dirOne);
    assertTrue(dirOne.startsWith(localTemp) && dirTwo.startsWith(localTemp),
        "on the instances' local disk: " + dirOne + ", " + dirTwo);

    Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();
    MessageHandler handler = ctx -> runs.computeIfAbsent(ctx.id(), k -> new AtomicInteger())
        .incrementAndGet();
    List<String> first = idsOnShard(0, 5); // shard 0: region A's
    List<String> later = idsOnShard(0, 5);
    TandemRegion regionOne = one.region();
    try (TandemRegion regionTwo = two.region()) {
      assertTrue(regionOne.replicationLog().awaitRestored(Duration.ofSeconds(60)));
      assertTrue(regionTwo.replicationLog().awaitRestored(Duration.ofSeconds(60)));
      assertNotEquals(regionOne.instance(), regionTwo.instance());
      assertTrue(Files.isDirectory(dirOne) && Files.isDirectory(dirTwo), "both opened");
      TandemFunctions fnOne = functions(regionOne);
      TandemFunctions fnTwo = functions(regionTwo);

      // instance one runs the timer (one instance at a time on the platform) and the messages
      HeartbeatReport tick = fnOne.heartbeat();
      assertFalse(tick.silent(), tick.toString());
      for (String id : first) {
        Outcome o = fnOne.once(delivery(id, 1), handler);
        assertTrue(o.settled(), id + ": " + o);
      }
      // instance two's replica learns them from region A's changelog
      long t0 = System.nanoTime();
      await().atMost(Duration.ofSeconds(30)).until(() -> first.stream()
          .allMatch(id -> regionTwo.store().isTerminal(id, 0)));
      long seenMs = (System.nanoTime() - t0) / 1_000_000;

      // instance one scales in; the trigger redelivers to instance two, which runs the timer now
      regionOne.close();
      tick = fnTwo.heartbeat();
      assertFalse(tick.silent(), tick.toString());
      for (String id : first) {
        assertTrue(fnTwo.once(delivery(id, 2), handler).settled(), id);
      }
      for (String id : later) {
        assertTrue(fnTwo.once(delivery(id, 1), handler).settled(), id);
        assertTrue(fnTwo.once(delivery(id, 2), handler).settled(), id);
      }
      Map<String, Integer> counts = new HashMap<>();
      runs.forEach((id, n) -> counts.put(id, n.get()));
      assertEquals(10, counts.size(), "every message ran: " + counts);
      assertTrue(counts.values().stream().allMatch(n -> n == 1), "a message ran twice: " + counts);
      System.out.println("two instances of region-a: " + dirOne.getFileName() + " / "
          + dirTwo.getFileName() + "; instance two saw instance one's 5 completions " + seenMs
          + " ms after; 15 deliveries, 10 runs, 0 duplicates");
    } finally {
      regionOne.close();
    }
  }
}
