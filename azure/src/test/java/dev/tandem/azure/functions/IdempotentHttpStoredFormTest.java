package dev.tandem.azure.functions;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatus;
import com.microsoft.azure.functions.HttpStatusType;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.RocksIdempotencyStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
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
    store = IdempotencyStore.builder().region(RegionId.of("region-a")).instance("i-1")
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
    store = RocksIdempotencyStore.builder().region(RegionId.of("region-a")).instance("i-1")
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

  @Test
  void aStoreThatTellsItsResultLimitIsCheckedBeforeTheFunctionRuns() {
    assertEquals(RocksIdempotencyStore.DEFAULT_MAX_RESULT_BYTES, store.maxResultBytes());
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
