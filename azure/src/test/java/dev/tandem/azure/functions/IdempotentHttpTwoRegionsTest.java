package dev.tandem.azure.functions;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatus;
import dev.tandem.azure.servicebus.TandemServiceBusProcessor;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.core.Shards;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Front Door retries a request in the other region: two function instances, one per region, each
 * a {@link TandemRegion} (its RocksDB store replicated over its region's real Kafka cluster; two
 * KRaft clusters in this JVM). The retry gets the first response and the function does not run
 * again.
 */
@TandemClusters
class IdempotentHttpTwoRegionsTest {

  static final int SHARDS = 4;
  static TwoRegions regions;
  @TempDir static Path dir;
  static TandemRegion regionA;
  static TandemRegion regionB;

  @BeforeAll
  static void start() {
    regionA = region("region-a");
    regionB = region("region-b");
    assertTrue(regionA.replicationLog().awaitRestored(Duration.ofSeconds(30)));
    assertTrue(regionB.replicationLog().awaitRestored(Duration.ofSeconds(30)));
  }

  static TandemRegion region(String region) {
    Map<String, String> both = new LinkedHashMap<>();
    both.put("region-a", regions.a().bootstrapServers());
    both.put("region-b", regions.b().bootstrapServers());
    return TandemRegion.builder().regions(both).localRegion(region).instance("fn-" + region)
        .stateDir(dir.resolve(region)).shards(SHARDS)
        .config("tandem.changelog.topic.prefix", "http-idem")
        .meterRegistry(new SimpleMeterRegistry())
        .build();
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {regionA, regionB}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  @Test
  void aRetryInTheOtherRegionGetsTheFirstResponseWithoutRunningTheFunctionAgain() {
    IdempotentHttp inA = IdempotentHttp.builder().region(regionA).build();
    IdempotentHttp inB = IdempotentHttp.builder().region(regionB).build();
    AtomicInteger runs = new AtomicInteger();
    String key = "pay-2026-11-25-0001";

    TestHttp.Request first = TestHttp.post("/payments", key, "{\"amount\":1999}");
    HttpResponseMessage original = inA.execute(first, charge(first, runs, "region-a"));
    assertEquals(201, original.getStatusCode());

    // Replication: B's replica learns that the key is completed (with its response).
    int shard = Shards.forKey(key, SHARDS);
    await().atMost(Duration.ofSeconds(30)).until(() -> regionB.store().isTerminal(key, shard));

    TestHttp.Request retry = TestHttp.post("/payments", key, "{\"amount\":1999}");
    HttpResponseMessage replayed = inB.execute(retry, charge(retry, runs, "region-b"));
    assertEquals(1, runs.get(), "the function ran once across both regions");
    assertEquals(201, replayed.getStatusCode());
    assertEquals("{\"charged\":\"region-a\"}", replayed.getBody());
    assertEquals("/payments/1", replayed.getHeader("Location"));
    assertEquals("true", replayed.getHeader(IdempotentHttp.REPLAYED_HEADER));

    // The same key with another amount is refused in the other region too.
    TestHttp.Request tampered = TestHttp.post("/payments", key, "{\"amount\":1}");
    assertEquals(422, inB.execute(tampered, charge(tampered, runs, "region-b")).getStatusCode());
    assertEquals(1, runs.get());
  }

  /**
   * A builder given region(...) and a piece region(...) sets fails at build, naming both: the
   * piece would otherwise silently replace the region's (a raw store, another shard count, a
   * processor without the fence).
   */
  @Test
  void aBuilderGivenTheRegionAndAPieceItSetsIsRefusedNamingBoth() {
    SimpleMeterRegistry other = new SimpleMeterRegistry();
    Map<String, Executable> builds = new LinkedHashMap<>();
    builds.put("store(...)", () -> IdempotentHttp.builder().region(regionA)
        .store(regionA.store()).build());
    builds.put("shardCount(...)", () -> IdempotentHttp.builder().region(regionA).shardCount(8)
        .build());
    builds.put("meterRegistry(...)", () -> IdempotentHttp.builder().meterRegistry(other)
        .region(regionA).build());
    builds.put("processor(...)", () -> TandemServiceBusProcessor.builder().region(regionA)
        .processor(OnceProcessor.builder().store(regionA.store())
            .deadLetterSink(TandemServiceBusProcessor.settlementDeadLetterSink()))
        .build());
    builds.put("ownership(...)", () -> TandemServiceBusProcessor.builder()
        .ownership(regionA.ownership()).region(regionA).build());
    builds.put("epochOfShard(...)", () -> TandemFunctions.builder()
        .region(regionA, letter -> CompletableFuture.completedFuture(null))
        .epochOfShard(s -> 0L).build());
    builds.put("shardCount(...) ", () -> TandemFunctions.builder().shardCount(SHARDS)
        .region(regionA, letter -> CompletableFuture.completedFuture(null)).build());
    for (Map.Entry<String, Executable> e : builds.entrySet()) {
      IllegalStateException x = assertThrows(IllegalStateException.class, e.getValue(),
          "region(...) with " + e.getKey() + " was accepted");
      assertTrue(x.getMessage().contains("region(...)")
          && x.getMessage().contains(e.getKey().strip()), x.getMessage());
    }
    // and with region(...) alone each builds, from the region's pieces
    TandemFunctions fn = TandemFunctions.builder()
        .region(regionA, letter -> CompletableFuture.completedFuture(null)).build();
    assertEquals(regionA.ownership(), fn.ownership().orElseThrow());
    assertEquals(List.of(), fn.startupFindings());
  }

  static Supplier<HttpResponseMessage> charge(TestHttp.Request req, AtomicInteger runs,
      String region) {
    return () -> {
      runs.incrementAndGet();
      return req.createResponseBuilder(HttpStatus.CREATED).header("Location", "/payments/1")
          .body("{\"charged\":\"" + region + "\"}").build();
    };
  }
}
