package dev.tandem.azure.functions;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatus;
import com.microsoft.azure.functions.HttpStatusType;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.RocksIdempotencyStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link IdempotentHttp} against what the store keeps: the stored form of a response (JSON, escaped
 * text or base64 bytes, plus headers) is larger than its body, and the store refuses a result over
 * its {@code maxResultBytes} (64 KiB by default) — after the function's side effect. And responses
 * that tell the client to come back (429, 408) are not answers to keep.
 */
class IdempotentHttpStoredFormTest {

  @TempDir Path dir;
  IdempotencyStore store;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  IdempotentHttp http;
  final AtomicInteger runs = new AtomicInteger();

  @BeforeEach
  void open() {
    // the defaults: the store keeps results up to 64 KiB, the HTTP layer bodies up to 32 KiB
    store = IdempotencyStore.builder().region(TestRegions.A).instance("i-1")
        .directory(dir).maxAttempts(3).build();
    http = IdempotentHttp.builder().store(store).shardCount(4).lease(Duration.ofMillis(300))
        .meterRegistry(meters).build();
  }

  @AfterEach
  void close() {
    store.close();
  }

  double count(String outcome) {
    var c = meters.find("tandem.http.requests").tags("outcome", outcome).counter();
    return c == null ? 0 : c.count();
  }

  Supplier<HttpResponseMessage> respond(TestHttp.Request req, int status, String body,
      String... headers) {
    return () -> {
      runs.incrementAndGet();
      HttpResponseMessage.Builder b = req.createResponseBuilder(HttpStatusType.custom(status))
          .header("Content-Type", "application/json");
      for (int i = 0; i < headers.length; i += 2) {
        b.header(headers[i], headers[i + 1]);
      }
      return b.body(body).build();
    };
  }

  /** Sends the retry until it is not answered 409 (the first claim's lease has run out). */
  HttpResponseMessage retryAfterTheLease(TestHttp.Request req, Supplier<HttpResponseMessage> fn) {
    AtomicReference<HttpResponseMessage> answer = new AtomicReference<>();
    await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).until(() -> {
      answer.set(http.execute(req, fn));
      return answer.get().getStatusCode() != 409;
    });
    return answer.get();
  }

  @Test
  void aBodyUnderMaxBodyBytesWhoseStoredFormExceedsTheStoreLimitIsCompletedAndNeverRunAgain() {
    // 32 KiB of quotes: under maxBodyBytes (32 KiB), but JSON-escaped it is 64 KiB + the record's
    // fields, over the store's 64 KiB
    String body = "\"".repeat(IdempotentHttp.Builder.DEFAULT_MAX_BODY_BYTES);
    TestHttp.Request req = TestHttp.post("/orders", "key-big", "{}");
    HttpResponseMessage first;
    try {
      first = http.execute(req, respond(req, 201, body, "Location", "/orders/1"));
    } catch (RuntimeException e) {
      first = null; // today: the store refuses the result after the side effect
    }
    HttpResponseMessage retry = retryAfterTheLease(req, respond(req, 201, "again"));

    assertEquals(1, runs.get(), "the function ran again for a completed request (first answer: "
        + (first == null ? "an exception" : first.getStatusCode()) + ", the store's record: "
        + store.get("key-big", dev.tandem.core.Shards.forKey("key-big", 4)).orElse(null) + ")");
    assertEquals(201, first.getStatusCode());
    assertEquals(body, first.getBody(), "the client gets the function's response");
    assertEquals(Phase.COMPLETED,
        store.get("key-big", dev.tandem.core.Shards.forKey("key-big", 4)).orElseThrow().phase());
    // the retry: the first status and headers, the body not kept
    assertEquals(201, retry.getStatusCode());
    assertEquals("true", retry.getHeader(IdempotentHttp.REPLAYED_HEADER));
    assertEquals("true", retry.getHeader(IdempotentHttp.BODY_OMITTED_HEADER));
    assertEquals("/orders/1", retry.getHeader("Location"));
    assertNull(retry.getBody());
    assertEquals(1.0, count("processed-response-not-kept"));
  }

  @Test
  void headersTooLargeToKeepLeaveAMarkerCompletedResponseNotKeptAndNeverRunAgain() {
    // a store that keeps small results only: even without the body, the headers do not fit
    store.close();
    store = RocksIdempotencyStore.builder().region(TestRegions.A).instance("i-1")
        .directory(dir.resolve("small")).maxAttempts(3).maxResultBytes(512).build();
    http = IdempotentHttp.builder().store(store).shardCount(4).lease(Duration.ofMillis(300))
        .maxBodyBytes(256).meterRegistry(meters).build();
    TestHttp.Request req = TestHttp.post("/orders", "key-hdr", "{}");
    String location = "/orders/" + "x".repeat(1000);
    HttpResponseMessage first;
    try {
      first = http.execute(req, respond(req, 201, "{\"id\":1}", "Location", location));
    } catch (RuntimeException e) {
      first = null;
    }
    HttpResponseMessage retry = retryAfterTheLease(req, respond(req, 201, "again"));

    assertEquals(1, runs.get(), "the function ran again for a completed request");
    assertEquals(201, first.getStatusCode());
    assertEquals(201, retry.getStatusCode(), "the marker keeps the status");
    assertEquals("true", retry.getHeader(IdempotentHttp.REPLAYED_HEADER));
    assertEquals("true", retry.getHeader(IdempotentHttp.RESPONSE_NOT_KEPT_HEADER));
    assertNull(retry.getHeader("Location"), "headers not kept");
    assertNull(retry.getBody());
  }

  @Test
  void aBodyThatCannotBeStoredAsJsonStillCompletesTheRequestWhichNeverRunsAgain() {
    TestHttp.Request req = TestHttp.post("/orders", "key-obj", "{}");
    Supplier<HttpResponseMessage> fn = () -> {
      runs.incrementAndGet();
      // Jackson has no serializer for a bare Object: the body cannot be kept as JSON
      return req.createResponseBuilder(HttpStatus.ACCEPTED).body(new Object()).build();
    };
    HttpResponseMessage first;
    try {
      first = http.execute(req, fn);
    } catch (RuntimeException e) {
      first = null;
    }
    HttpResponseMessage retry = retryAfterTheLease(req, respond(req, 201, "again"));
    assertEquals(1, runs.get(), "the function ran again for a completed request");
    assertEquals(202, first.getStatusCode());
    assertEquals(202, retry.getStatusCode());
    assertEquals("true", retry.getHeader(IdempotentHttp.RESPONSE_NOT_KEPT_HEADER));
  }

  @Test
  void aTooManyRequestsOrTimeoutResponseIsNotKeptTheRetryRunsTheFunctionAgain() {
    for (int status : new int[] {429, 408}) {
      TestHttp.Request req = TestHttp.post("/orders", "key-" + status, "{}");
      HttpResponseMessage first =
          http.execute(req, respond(req, status, "slow down", "Retry-After", "30"));
      assertEquals(status, first.getStatusCode());
      assertEquals("30", first.getHeader("Retry-After"), "the client gets the function's answer");

      HttpResponseMessage retry = http.execute(req, respond(req, 201, "{\"id\":2}"));
      assertEquals(201, retry.getStatusCode(), status + " was kept and replayed to the retry");
      assertNull(retry.getHeader(IdempotentHttp.REPLAYED_HEADER));
      assertEquals("{\"id\":2}", retry.getBody());
    }
    assertEquals(4, runs.get());
    assertEquals(2.0, count("not-kept-retryable"));
  }

  /**
   * A store delegating to {@code real} that records the size of every result given to complete;
   * with {@code tellsLimit} false it does not tell its limit (the interface's default:
   * UnsupportedOperationException), like a store written before maxResultBytes existed.
   */
  static IdempotencyStore delegating(IdempotencyStore real, boolean tellsLimit,
      List<Integer> completeSizes) {
    return (IdempotencyStore) Proxy.newProxyInstance(IdempotencyStore.class.getClassLoader(),
        new Class<?>[] {IdempotencyStore.class}, (proxy, method, args) -> {
          if (method.getName().equals("maxResultBytes") && !tellsLimit) {
            throw new UnsupportedOperationException("this store does not tell its limit");
          }
          if (method.getName().equals("complete")) {
            completeSizes.add(args[2] == null ? -1 : ((byte[]) args[2]).length);
          }
          try {
            return method.invoke(real, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  @Test
  void theStoredFormIsSizedAgainstTheStoresLimitBeforeCompleting() {
    List<Integer> sizes = new CopyOnWriteArrayList<>();
    http = IdempotentHttp.builder().store(delegating(store, true, sizes)).shardCount(4)
        .lease(Duration.ofMillis(300)).meterRegistry(meters).build();
    // whole stored form over the store's 64 KiB (see the first test): never offered to the store
    String body = "\"".repeat(IdempotentHttp.Builder.DEFAULT_MAX_BODY_BYTES);
    TestHttp.Request req = TestHttp.post("/orders", "key-sized", "{}");
    http.execute(req, respond(req, 201, body));
    assertEquals(1, sizes.size(), "complete calls: " + sizes);
    assertTrue(sizes.get(0) <= store.maxResultBytes(), "offered " + sizes.get(0) + " bytes");
    assertEquals(1.0, count("processed-response-not-kept"));
  }

  @Test
  void aStoreThatDoesNotTellItsLimitFallsBackToTheFormsItAccepts() {
    store.close();
    IdempotencyStore small = RocksIdempotencyStore.builder().region(TestRegions.A)
        .instance("i-1").directory(dir.resolve("small-untold")).maxAttempts(3)
        .maxResultBytes(512).build();
    List<Integer> sizes = new CopyOnWriteArrayList<>();
    store = delegating(small, false, sizes);
    http = IdempotentHttp.builder().store(store).shardCount(4).lease(Duration.ofMillis(300))
        .maxBodyBytes(256).meterRegistry(meters).build();
    TestHttp.Request req = TestHttp.post("/orders", "key-untold", "{}");
    String location = "/orders/" + "x".repeat(1000);
    HttpResponseMessage first = http.execute(req, respond(req, 201, "{}", "Location", location));
    HttpResponseMessage retry = http.execute(req, respond(req, 201, "again"));

    assertEquals(201, first.getStatusCode());
    assertEquals(1, runs.get(), "the function ran again for a completed request");
    // whole and without-body refused by the store (IllegalArgumentException), the marker accepted
    assertEquals(3, sizes.size(), "complete calls: " + sizes);
    assertTrue(sizes.get(2) <= 512, "the marker: " + sizes);
    assertEquals(201, retry.getStatusCode());
    assertEquals("true", retry.getHeader(IdempotentHttp.RESPONSE_NOT_KEPT_HEADER));
    assertEquals(1.0, count("processed-response-not-kept"));
  }

  @Test
  void aStoreWhoseResultLimitIsBelowTheMarkersSizeIsRefusedAtBuildNamingBothSizes() {
    IdempotencyStore tiny = RocksIdempotencyStore.builder().region(TestRegions.A)
        .instance("i-1").directory(dir.resolve("tiny")).maxResultBytes(40).build();
    try {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> IdempotentHttp.builder().store(tiny).shardCount(4).build(),
          "a store keeping 40 bytes: every replay would be 200, even of a 4xx");
      assertTrue(e.getMessage().contains("40 bytes")
          && e.getMessage().contains(IdempotentHttp.MARKER_BYTES + " bytes"), e.getMessage());
    } finally {
      tiny.close();
    }
  }

  @Test
  void eachComeBackLaterAnswerSpendsOneOfTheStoresAttempts() {
    // documented behaviour (README, Javadoc): the store has no release that spends no attempt, so
    // a client answered 429 maxAttempts (3 here) times gets 422 for the record's TTL
    TestHttp.Request req = TestHttp.post("/orders", "key-busy", "{}");
    for (int i = 0; i < 3; i++) {
      assertEquals(429, http.execute(req, respond(req, 429, "busy", "Retry-After", "1"))
          .getStatusCode());
    }
    HttpResponseMessage next = http.execute(req, respond(req, 201, "{}"));
    assertEquals(422, next.getStatusCode());
    assertEquals(3, runs.get());
  }

  @Test
  void ordinaryResponsesAreStillKeptWhole() {
    TestHttp.Request req = TestHttp.post("/orders", "key-ok", "{}");
    http.execute(req, () -> {
      runs.incrementAndGet();
      return req.createResponseBuilder(HttpStatus.CREATED).body("{\"id\":3}").build();
    });
    HttpResponseMessage retry = http.execute(req, respond(req, 201, "again"));
    assertEquals("{\"id\":3}", retry.getBody());
    assertNull(retry.getHeader(IdempotentHttp.BODY_OMITTED_HEADER));
    assertEquals(1, runs.get());
  }
}
