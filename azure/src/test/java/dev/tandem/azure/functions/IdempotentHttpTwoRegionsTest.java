package dev.tandem.azure.functions;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatus;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Front Door retries a request in the other region: two function instances, one per region, each
 * with its RocksDB store replicated over its region's real Kafka cluster (two KRaft clusters in this
 * JVM). The retry gets the first response and the function does not run again.
 */
class IdempotentHttpTwoRegionsTest {

  static final int SHARDS = 4;
  static TwoRegions regions;
  @TempDir static Path dir;
  static IdempotencyStore storeA;
  static IdempotencyStore storeB;
  static KafkaReplicationLog logA;
  static KafkaReplicationLog logB;

  @BeforeAll
  static void start() {
    regions = TwoRegions.start();
    storeA = store("region-a");
    storeB = store("region-b");
    logA = log(storeA, "region-a");
    logB = log(storeB, "region-b");
    assertTrue(logA.awaitRestored(Duration.ofSeconds(30)));
    assertTrue(logB.awaitRestored(Duration.ofSeconds(30)));
  }

  static IdempotencyStore store(String region) {
    return IdempotencyStore.builder().region(RegionId.of(region)).instance("fn-" + region)
        .directory(dir.resolve(region).resolve("store")).build();
  }

  static KafkaReplicationLog log(IdempotencyStore store, String region) {
    return KafkaReplicationLog.builder()
        .store(store)
        .region(RegionId.of("region-a"), regions.a().bootstrapServers())
        .region(RegionId.of("region-b"), regions.b().bootstrapServers())
        .spoolDirectory(dir.resolve(region).resolve("spool"))
        .shards(SHARDS)
        .topicPrefix("http-idem")
        .materializeAllShards()
        .build();
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {logA, logB, storeA, storeB, regions}) {
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
    IdempotentHttp inA = IdempotentHttp.builder().store(logA.replicatedStore()).shardCount(SHARDS)
        .build();
    IdempotentHttp inB = IdempotentHttp.builder().store(logB.replicatedStore()).shardCount(SHARDS)
        .build();
    AtomicInteger runs = new AtomicInteger();
    String key = "pay-2026-11-25-0001";

    TestHttp.Request first = TestHttp.post("/payments", key, "{\"amount\":1999}");
    HttpResponseMessage original = inA.execute(first, charge(first, runs, "region-a"));
    assertEquals(201, original.getStatusCode());

    // Replication: B's replica learns that the key is completed (with its response).
    int shard = Shards.forKey(key, SHARDS);
    await().atMost(Duration.ofSeconds(30)).until(() -> storeB.isTerminal(key, shard));

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

  static Supplier<HttpResponseMessage> charge(TestHttp.Request req, AtomicInteger runs,
      String region) {
    return () -> {
      runs.incrementAndGet();
      return req.createResponseBuilder(HttpStatus.CREATED).header("Location", "/payments/1")
          .body("{\"charged\":\"" + region + "\"}").build();
    };
  }
}
