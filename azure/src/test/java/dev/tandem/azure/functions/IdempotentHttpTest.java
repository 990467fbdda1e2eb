package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatus;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.spi.ReplicaStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link IdempotentHttp} on a real RocksDB store: every answer of the class doc. */
class IdempotentHttpTest {

  @TempDir Path dir;
  IdempotencyStore store;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  IdempotentHttp http;
  final AtomicInteger runs = new AtomicInteger();

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(TestRegions.A).instance("i-1")
        .directory(dir).maxAttempts(3).build();
    http = IdempotentHttp.builder().store(store).shardCount(4).maxBodyBytes(64)
        .meterRegistry(meters).build();
  }

  @AfterEach
  void close() {
    store.close();
  }

  Supplier<HttpResponseMessage> created(TestHttp.Request req, String body) {
    return () -> {
      runs.incrementAndGet();
      return req.createResponseBuilder(HttpStatus.CREATED).header("Location", "/orders/42")
          .header("Content-Type", "application/json").header("X-Not-Stored", "1").body(body).build();
    };
  }

  double count(String outcome) {
    var c = meters.find("tandem.http.requests").tags("outcome", outcome).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aRetryOfACompletedKeyGetsTheFirstResponseAndTheFunctionRunsOnce() {
    TestHttp.Request first = TestHttp.post("/orders", "key-1", "{\"item\":7}");
    HttpResponseMessage r1 = http.execute(first, created(first, "{\"id\":42}"));
    assertEquals(201, r1.getStatusCode());
    assertNull(r1.getHeader(IdempotentHttp.REPLAYED_HEADER));

    TestHttp.Request retry = TestHttp.post("/orders", "key-1", "{\"item\":7}");
    HttpResponseMessage r2 = http.execute(retry, created(retry, "{\"id\":43}"));
    assertEquals(1, runs.get(), "the function ran once");
    assertEquals(201, r2.getStatusCode());
    assertEquals("{\"id\":42}", r2.getBody(), "the first response's body");
    assertEquals("/orders/42", r2.getHeader("Location"));
    assertEquals("application/json", r2.getHeader("Content-Type"));
    assertNull(r2.getHeader("X-Not-Stored"), "only the selected headers are stored");
    assertEquals("true", r2.getHeader(IdempotentHttp.REPLAYED_HEADER));
    assertEquals(1.0, count("processed"));
    assertEquals(1.0, count("replayed"));
  }

  @Test
  void theSameKeyWithAnotherBodyOrPathGets422AndNeverRuns() {
    TestHttp.Request first = TestHttp.post("/orders", "key-2", "a");
    http.execute(first, created(first, "ok"));
    TestHttp.Request otherBody = TestHttp.post("/orders", "key-2", "b");
    assertEquals(422, http.execute(otherBody, created(otherBody, "x")).getStatusCode());
    TestHttp.Request otherPath = TestHttp.post("/refunds", "key-2", "a");
    assertEquals(422, http.execute(otherPath, created(otherPath, "x")).getStatusCode());
    assertEquals(1, runs.get());
    // sticky: even the original request is now a conflict
    assertEquals(422, http.execute(first, created(first, "x")).getStatusCode());
    assertEquals(3.0, count("conflict"));
  }

  @Test
  void aRetryWhileTheFirstIsRunningGets409WithRetryAfter() throws Exception {
    CountDownLatch running = new CountDownLatch(1);
    CountDownLatch finish = new CountDownLatch(1);
    TestHttp.Request first = TestHttp.post("/orders", "key-3", "a");
    CompletableFuture<HttpResponseMessage> firstResponse = CompletableFuture.supplyAsync(
        () -> http.execute(first, () -> {
          running.countDown();
          try {
            finish.await(10, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return created(first, "done").get();
        }));
    running.await(10, TimeUnit.SECONDS);

    TestHttp.Request retry = TestHttp.post("/orders", "key-3", "a");
    HttpResponseMessage busy = http.execute(retry, created(retry, "again"));
    assertEquals(409, busy.getStatusCode());
    assertEquals("2", busy.getHeader("Retry-After"));

    finish.countDown();
    assertEquals(201, firstResponse.get(10, TimeUnit.SECONDS).getStatusCode());
    assertEquals(1, runs.get());
    assertEquals("done", http.execute(retry, created(retry, "again")).getBody());
  }

  @Test
  void aFailedOrServerErrorFirstAttemptIsNotStoredSoTheRetryRunsAgain() {
    TestHttp.Request req = TestHttp.post("/orders", "key-4", "a");
    assertThrows(IllegalStateException.class, () -> http.execute(req, () -> {
      runs.incrementAndGet();
      throw new IllegalStateException("database down");
    }));
    HttpResponseMessage unavailable = http.execute(req, () -> {
      runs.incrementAndGet();
      return req.createResponseBuilder(HttpStatus.SERVICE_UNAVAILABLE).build();
    });
    assertEquals(503, unavailable.getStatusCode());
    HttpResponseMessage ok = http.execute(req, created(req, "third time"));
    assertEquals(201, ok.getStatusCode());
    assertEquals(3, runs.get());
    assertEquals("third time", http.execute(req, created(req, "x")).getBody());
    assertEquals(3, runs.get());
  }

  @Test
  void aKeyThatKeepsFailingIsDeadLetteredAndAnswered422() {
    TestHttp.Request req = TestHttp.post("/orders", "key-5", "a");
    for (int i = 0; i < 3; i++) { // maxAttempts = 3
      http.execute(req, () -> req.createResponseBuilder(HttpStatus.INTERNAL_SERVER_ERROR).build());
    }
    HttpResponseMessage gone = http.execute(req, created(req, "x"));
    assertEquals(422, gone.getStatusCode());
    assertEquals(0, runs.get());
    assertEquals(1.0, count("dead-lettered"));
  }

  @Test
  void withoutAKeyTheFunctionRunsUnlessAKeyIsRequired() {
    TestHttp.Request noKey = TestHttp.post("/orders", null, "a");
    http.execute(noKey, created(noKey, "x"));
    http.execute(noKey, created(noKey, "x"));
    assertEquals(2, runs.get());

    IdempotentHttp strict = IdempotentHttp.builder().store(store).shardCount(4).requireKey(true)
        .build();
    assertEquals(400, strict.execute(noKey, created(noKey, "x")).getStatusCode());
    TestHttp.Request tooLong = TestHttp.post("/orders", "k".repeat(129), "a");
    assertEquals(400, strict.execute(tooLong, created(tooLong, "x")).getStatusCode());
    assertEquals(2, runs.get());
  }

  @Test
  void aBodyOverTheLimitIsNotStoredAndTheReplaySaysSo() {
    TestHttp.Request req = TestHttp.post("/orders", "key-6", "a");
    String big = "x".repeat(65);
    assertEquals(big, http.execute(req, created(req, big)).getBody());
    HttpResponseMessage replay = http.execute(req, created(req, big));
    assertEquals(201, replay.getStatusCode());
    assertNull(replay.getBody());
    assertEquals("true", replay.getHeader(IdempotentHttp.BODY_OMITTED_HEADER));
    assertEquals("/orders/42", replay.getHeader("Location"));
    assertEquals(1, runs.get());
  }

  @Test
  void aBinaryBodyIsReplayedAsBytes() {
    TestHttp.Request req = TestHttp.post("/files", "key-7", "a");
    byte[] bytes = {0, 1, (byte) 0xff};
    http.execute(req, () -> req.createResponseBuilder(HttpStatus.OK).body(bytes).build());
    Object replayed = http.execute(req, () -> {
      throw new AssertionError("must not run");
    }).getBody();
    org.junit.jupiter.api.Assertions.assertArrayEquals(bytes, (byte[]) replayed);
  }

  @Test
  void twoSimultaneousFirstRequestsRunTheFunctionOnce() throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    Supplier<HttpResponseMessage> call = () -> {
      try {
        go.await();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      TestHttp.Request r = TestHttp.post("/orders", "key-8", "same");
      return http.execute(r, created(r, "only once"));
    };
    var a = CompletableFuture.supplyAsync(call);
    var b = CompletableFuture.supplyAsync(call);
    go.countDown();
    int sa = a.get(10, TimeUnit.SECONDS).getStatusCode();
    int sb = b.get(10, TimeUnit.SECONDS).getStatusCode();
    assertEquals(1, runs.get());
    // one ran (201); the other was either replayed (201) or told to retry (409)
    assertEquals(true, (sa == 201 && (sb == 201 || sb == 409)) || (sb == 201 && sa == 409));
  }

  @Test
  void aRetryProcessedInTheOtherRegionBeforeReplicationIsDetectedAndCounted(
      @TempDir Path otherDir) {
    IdempotencyStore other = IdempotencyStore.builder().region(TestRegions.B)
        .instance("i-2").directory(otherDir).build();
    try {
      SimpleMeterRegistry otherMeters = new SimpleMeterRegistry();
      IdempotentHttp inB = IdempotentHttp.builder().store(other).shardCount(4)
          .meterRegistry(otherMeters).build();
      TestHttp.Request first = TestHttp.post("/orders", "key-9", "a");
      http.execute(first, created(first, "from a"));
      int shard = dev.tandem.core.Shards.forKey("key-9", 4);

      // Front Door retried in region B before A's claim replicated there; A's COMPLETED arrives
      // while B's function runs.
      TestHttp.Request retry = TestHttp.post("/orders", "key-9", "a");
      HttpResponseMessage r = inB.execute(retry, () -> {
        ReplicaStore.of(other).applyRemote(store.get("key-9", shard).orElseThrow());
        return created(retry, "from b").get();
      });
      assertEquals(201, r.getStatusCode());
      assertEquals(2, runs.get(), "processed twice: the documented window");
      assertEquals(1.0, otherMeters.get("tandem.http.requests")
          .tags("outcome", "duplicate-detected").counter().count());
      assertEquals(1, other.detectedDuplicates());
    } finally {
      other.close();
    }
  }
}
