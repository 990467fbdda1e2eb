package dev.tandem.consumer;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link OnceProcessor} semantics on one real RocksDB store (temp dir). */
class OnceProcessorTest {

  @TempDir Path dir;
  IdempotencyStore store;
  CollectingDeadLetterSink sink;
  SimpleMeterRegistry registry;
  OnceProcessor processor;
  final Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(TestRegions.A).instance("i1")
        .directory(dir).maxAttempts(3).build();
    sink = new CollectingDeadLetterSink();
    registry = new SimpleMeterRegistry();
    processor = processor(b -> {});
  }

  OnceProcessor processor(java.util.function.Consumer<OnceProcessor.Builder> options) {
    OnceProcessor.Builder b = OnceProcessor.builder().store(store).deadLetterSink(sink)
        .meterRegistry(registry);
    options.accept(b);
    return b.build();
  }

  @AfterEach
  void close() {
    processor.close();
    store.close();
  }

  static IncomingMessage message(String id, String payload, long publishedAt) {
    byte[] bytes = payload.getBytes(StandardCharsets.UTF_8);
    Map<String, String> headers = new HashMap<>();
    EnvelopeCodec.write(Envelope.forPayload(id, bytes, 0, publishedAt), headers::put);
    return IncomingMessage.of(headers::get, bytes, 0, 1, null);
  }

  static IncomingMessage message(String id, String payload) {
    return message(id, payload, System.currentTimeMillis());
  }

  MessageHandler counting() {
    return ctx -> runs.computeIfAbsent(ctx.id(), k -> new AtomicInteger()).incrementAndGet();
  }

  double counter(String name, String tagKey, String tagValue) {
    var c = registry.find(name).tag(tagKey, tagValue).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void processesOnceAndSkipsTheDuplicate() {
    String id = TandemIds.newId();
    Outcome first = processor.process(message(id, "order 1"), counting());
    Outcome second = processor.process(message(id, "order 1"), counting());

    Outcome.Processed p = assertInstanceOf(Outcome.Processed.class, first);
    assertEquals(1, p.attempt());
    assertFalse(p.claimLost());
    assertEquals(new Outcome.Skipped(id, Phase.COMPLETED), second);
    assertEquals(1, runs.get(id).get());
    assertEquals(Phase.COMPLETED, store.get(id, 0).orElseThrow().phase());
    assertEquals(1.0, counter("tandem.consumer.messages", "outcome", "processed"));
    assertEquals(1.0, counter("tandem.consumer.duplicates.suppressed", "region", "region-a"));
  }

  @Test
  void handlerFailureReleasesRetriesAndDeadLettersAfterMaxAttempts() {
    String id = TandemIds.newId();
    AtomicInteger calls = new AtomicInteger();
    MessageHandler failing = ctx -> {
      calls.incrementAndGet();
      assertEquals(calls.get(), ctx.attempt(), "each retry is the next attempt");
      throw new IllegalStateException("boom " + ctx.attempt());
    };
    Outcome o1 = processor.process(message(id, "x"), failing);
    assertEquals(Outcome.RetryReason.HANDLER_FAILED,
        assertInstanceOf(Outcome.RetryLater.class, o1).reason());
    IdRecord afterFirst = store.get(id, 0).orElseThrow();
    assertEquals(Phase.RELEASED, afterFirst.phase());
    assertEquals(1, afterFirst.attempt());

    assertInstanceOf(Outcome.RetryLater.class, processor.process(message(id, "x"), failing));
    Outcome o3 = processor.process(message(id, "x"), failing);

    assertEquals(DeadLetterReason.MAX_ATTEMPTS,
        assertInstanceOf(Outcome.DeadLettered.class, o3).reason());
    assertEquals(3, calls.get());
    assertEquals(Phase.DEAD_LETTERED, store.get(id, 0).orElseThrow().phase());
    assertEquals(1, sink.letters.size());
    assertEquals(id, sink.letters.get(0).id());
    assertEquals(3.0, counter("tandem.consumer.handler.failures", "region", "region-a"));
    assertEquals(1.0, counter("tandem.consumer.dead.letters", "reason", "MAX_ATTEMPTS"));
  }

  @Test
  void conflictGoesToTheDeadLetterPathAndIsNeverProcessed() {
    String id = TandemIds.newId();
    assertInstanceOf(Outcome.Processed.class, processor.process(message(id, "payload A"), counting()));
    Outcome o = processor.process(message(id, "payload B"), counting());

    Outcome.DeadLettered d = assertInstanceOf(Outcome.DeadLettered.class, o);
    assertEquals(DeadLetterReason.CONFLICT, d.reason());
    assertEquals(1, runs.get(id).get(), "the conflicting copy never ran the handler");
    assertEquals(1, sink.letters.size());
    assertEquals("payload B", new String(sink.letters.get(0).message().payload(), StandardCharsets.UTF_8));
    assertTrue(store.get(id, 0).orElseThrow().isConflict());
    assertEquals(1.0, counter("tandem.consumer.conflicts", "region", "region-a"));
  }

  @Test
  void conflictBeforeAnyCompletionIsDeadLetteredInTheStoreToo() {
    String id = TandemIds.newId();
    // both copies arrive in one poll: the second digest makes the id a conflict before any handler ran
    List<Outcome> out = processor.processAll(
        List.of(message(id, "A"), message(id, "B")), s -> 0L, counting());

    assertInstanceOf(Outcome.Processed.class, out.get(0));
    assertEquals(DeadLetterReason.CONFLICT,
        assertInstanceOf(Outcome.DeadLettered.class, out.get(1)).reason());
    assertTrue(store.get(id, 0).orElseThrow().isConflict());
  }

  @Test
  void staleMessageIsDeadLetteredNotProcessed() {
    String id = TandemIds.newId();
    long eightDaysAgo = System.currentTimeMillis() - Duration.ofDays(8).toMillis();
    Outcome o = processor.process(message(id, "old", eightDaysAgo), counting());

    assertEquals(DeadLetterReason.STALE, assertInstanceOf(Outcome.DeadLettered.class, o).reason());
    assertFalse(runs.containsKey(id));
    IdRecord rec = store.get(id, 0).orElseThrow();
    assertEquals(Phase.DEAD_LETTERED, rec.phase());
    assertEquals("STALE", rec.reason());
    // just inside the TTL minus the margin is not stale
    String fresh = TandemIds.newId();
    long sixDaysAgo = System.currentTimeMillis() - Duration.ofDays(6).toMillis();
    assertInstanceOf(Outcome.Processed.class, processor.process(message(fresh, "ok", sixDaysAgo), counting()));
  }

  @Test
  void missingIdRejectByDefault() {
    IncomingMessage bare = IncomingMessage.of(h -> null, "no envelope".getBytes(StandardCharsets.UTF_8), 0, 1, null);
    Outcome o = processor.process(bare, counting());

    assertEquals(DeadLetterReason.MISSING_ID, assertInstanceOf(Outcome.DeadLettered.class, o).reason());
    assertTrue(runs.isEmpty());
    assertEquals(1, sink.letters.size());
    assertEquals(1.0, counter("tandem.consumer.dead.letters", "reason", "MISSING_ID"));
  }

  @Test
  void missingIdDerivedFromPayloadIsProcessedOnce() {
    processor.close();
    processor = processor(b -> b.missingIdPolicy(MissingIdPolicy.DERIVE_FROM_PAYLOAD));
    byte[] payload = "same bytes".getBytes(StandardCharsets.UTF_8);
    IncomingMessage bare = IncomingMessage.of(h -> null, payload, 0, 1, null);

    Outcome first = processor.process(bare, counting());
    Outcome second = processor.process(IncomingMessage.of(h -> null, payload.clone(), 0, 1, null), counting());

    String derived = OnceProcessor.DERIVED_ID_PREFIX + PayloadDigest.of(payload).toHex();
    assertEquals(derived, assertInstanceOf(Outcome.Processed.class, first).id());
    assertEquals(new Outcome.Skipped(derived, Phase.COMPLETED), second);
    assertEquals(1, runs.get(derived).get());
  }

  @Test
  void missingIdPassThroughRunsTheHandlerWithoutTheStore() {
    processor.close();
    processor = processor(b -> b.missingIdPolicy(MissingIdPolicy.PASS_THROUGH));
    AtomicInteger calls = new AtomicInteger();
    byte[] payload = "legacy".getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < 2; i++) {
      Outcome o = processor.process(IncomingMessage.of(h -> null, payload, 0, 1, null), ctx -> calls.incrementAndGet());
      assertInstanceOf(Outcome.PassedThrough.class, o);
    }
    assertEquals(2, calls.get(), "no once-guarantee without an id: both copies ran");
    assertEquals(2.0, counter("tandem.consumer.messages", "outcome", "passed_through"));
  }

  @Test
  void malformedEnvelopeAndDigestMismatchAreDeadLettered() {
    String id = TandemIds.newId();
    Map<String, String> headers = new HashMap<>();
    EnvelopeCodec.write(Envelope.forPayload(id, "original".getBytes(StandardCharsets.UTF_8), 0, System.currentTimeMillis()), headers::put);
    IncomingMessage tampered = IncomingMessage.of(headers::get, "tampered".getBytes(StandardCharsets.UTF_8), 0, 1, null);
    assertEquals(DeadLetterReason.DIGEST_MISMATCH,
        assertInstanceOf(Outcome.DeadLettered.class, processor.process(tampered, counting())).reason());

    Map<String, String> bad = new HashMap<>(headers);
    bad.put(TandemHeaders.DIGEST, "not-hex");
    IncomingMessage malformed = IncomingMessage.of(bad::get, "original".getBytes(StandardCharsets.UTF_8), 0, 1, null);
    assertEquals(DeadLetterReason.MALFORMED_ENVELOPE,
        assertInstanceOf(Outcome.DeadLettered.class, processor.process(malformed, counting())).reason());

    Map<String, String> oversized = new HashMap<>(headers);
    oversized.put(TandemHeaders.ID, "x".repeat(129));
    IncomingMessage tooLong = IncomingMessage.of(oversized::get, "original".getBytes(StandardCharsets.UTF_8), 0, 1, null);
    assertEquals(DeadLetterReason.MALFORMED_ENVELOPE,
        assertInstanceOf(Outcome.DeadLettered.class, processor.process(tooLong, counting())).reason());

    assertTrue(runs.isEmpty());
    assertEquals(3, sink.letters.size());
    assertTrue(store.get(id, 0).isEmpty(), "a tampered copy never touches the store");
  }

  @Test
  void inProgressIsTryLaterNotDuplicateAndABoundedWaitSeesTheCompletion() throws Exception {
    String id = TandemIds.newId();
    CountDownLatch running = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Outcome> slow = CompletableFuture.supplyAsync(() -> processor.process(message(id, "p"), ctx -> {
      running.countDown();
      assertTrue(release.await(30, TimeUnit.SECONDS));
    }));
    assertTrue(running.await(30, TimeUnit.SECONDS));

    Outcome meanwhile = processor.process(message(id, "p"), counting());
    assertEquals(Outcome.RetryReason.IN_PROGRESS,
        assertInstanceOf(Outcome.RetryLater.class, meanwhile).reason());
    assertEquals(1.0, counter("tandem.consumer.in.progress", "region", "region-a"));

    // a processor configured to wait sees the completion through the store listener
    OnceProcessor waiting = processor(b -> b.inProgressWait(Duration.ofSeconds(30)));
    try {
      CompletableFuture<Outcome> waiter = CompletableFuture.supplyAsync(() -> waiting.process(message(id, "p"), counting()));
      await().atMost(Duration.ofSeconds(10)).until(() -> registry.find("tandem.consumer.in.progress").counters()
          .stream().mapToDouble(c -> c.count()).sum() >= 2.0);
      release.countDown();
      assertInstanceOf(Outcome.Processed.class, slow.get(30, TimeUnit.SECONDS));
      assertEquals(new Outcome.Skipped(id, Phase.COMPLETED), waiter.get(30, TimeUnit.SECONDS));
      assertFalse(runs.containsKey(id), "the waiting copy never ran the handler");
    } finally {
      release.countDown();
      waiting.close();
    }
  }

  @Test
  void longHandlerKeepsItsClaimByRenewal() throws Exception {
    processor.close();
    processor = processor(b -> b.claimLease(Duration.ofMillis(400)).renewEvery(Duration.ofMillis(100)));
    String id = TandemIds.newId();
    AtomicInteger renewals = new AtomicInteger();
    store.addListener(new StoreListener() {
      @Override
      public void onRecord(IdRecord record, WriteOrigin origin) {
        if (record.id().equals(id) && record.phase() == Phase.CLAIMED) {
          renewals.incrementAndGet();
        }
      }
    });
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Outcome> slow = CompletableFuture.supplyAsync(() -> processor.process(message(id, "p"), ctx -> {
      assertTrue(release.await(30, TimeUnit.SECONDS));
    }));
    // ten claim writes = the claim plus nine renewals, at least 900 ms: over twice the lease
    await().atMost(Duration.ofSeconds(20)).until(() -> renewals.get() >= 10);
    Outcome other = processor.process(message(id, "p"), counting());
    assertEquals(Outcome.RetryReason.IN_PROGRESS,
        assertInstanceOf(Outcome.RetryLater.class, other).reason(), "the renewed claim is still live");
    release.countDown();
    Outcome.Processed p = assertInstanceOf(Outcome.Processed.class, slow.get(30, TimeUnit.SECONDS));
    assertFalse(p.claimLost());
    assertFalse(runs.containsKey(id));
  }

  @Test
  void deadLetterSinkFailureLeavesTheMessageForRedelivery() {
    sink.failing = true;
    String id = TandemIds.newId();
    long old = System.currentTimeMillis() - Duration.ofDays(8).toMillis();
    Outcome o = processor.process(message(id, "old", old), counting());
    assertEquals(Outcome.RetryReason.DEAD_LETTER_FAILED,
        assertInstanceOf(Outcome.RetryLater.class, o).reason());
    assertFalse(o.settled());
    sink.failing = false;
    Outcome again = processor.process(message(id, "old", old), counting());
    assertEquals(DeadLetterReason.STALE, assertInstanceOf(Outcome.DeadLettered.class, again).reason());
    assertEquals(1, sink.letters.size());
  }

  @Test
  void batchClaimsTogetherAndRunsHandlersInOrder() {
    String a = TandemIds.newId();
    String b = TandemIds.newId();
    List<String> order = new java.util.concurrent.CopyOnWriteArrayList<>();
    List<Outcome> out = processor.processAll(
        List.of(message(a, "a"), message(b, "b"), message(a, "a")), s -> 7L, ctx -> {
          order.add(ctx.id());
          assertEquals(7L, ctx.epoch());
        });
    assertEquals(List.of(a, b), order);
    assertInstanceOf(Outcome.Processed.class, out.get(0));
    assertInstanceOf(Outcome.Processed.class, out.get(1));
    assertEquals(new Outcome.Skipped(a, Phase.COMPLETED), out.get(2),
        "the same id twice in one poll runs once");
  }

  @Test
  void fencedShardIsNotProcessed() {
    processor.close();
    processor = processor(b -> b.fence((shard, epoch) -> epoch >= 2));
    String id = TandemIds.newId();
    Outcome o = processor.process(message(id, "p"), 1L, counting());
    assertEquals(Outcome.RetryReason.FENCED, assertInstanceOf(Outcome.RetryLater.class, o).reason());
    assertTrue(store.get(id, 0).isEmpty(), "a fenced owner does not even claim");
    assertInstanceOf(Outcome.Processed.class, processor.process(message(id, "p"), 2L, counting()));
  }

  @Test
  void handlersWaitUntilTheClaimsAreDurableAndNeverRunWithoutThem() throws Exception {
    processor.close();
    java.util.concurrent.CompletableFuture<Void> durable = new java.util.concurrent.CompletableFuture<>();
    java.util.List<Integer> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
    processor = processor(b -> b.claimsDurable(shard -> {
      asked.add(shard);
      return durable;
    }, Duration.ofSeconds(30)));
    String id = TandemIds.newId();
    java.util.concurrent.CompletableFuture<List<Outcome>> batch =
        java.util.concurrent.CompletableFuture.supplyAsync(
            () -> processor.processAll(List.of(message(id, "d")), s -> 0L, counting()));
    await().atMost(Duration.ofSeconds(10)).until(() -> !asked.isEmpty());
    assertEquals(Phase.CLAIMED, store.get(id, 0).orElseThrow().phase(), "claimed first");
    assertTrue(runs.get(id) == null, "no handler before the claim is durable");
    durable.complete(null);
    assertInstanceOf(Outcome.Processed.class, batch.get(10, java.util.concurrent.TimeUnit.SECONDS).get(0));
    assertEquals(1, runs.get(id).get());
    assertEquals(List.of(0), asked);

    // a changelog that never acknowledges: the handler does not run after the timeout either (a
    // takeover could not count its claim); the copy is to be retried, and it is counted
    processor.close();
    processor = processor(b -> b.claimsDurable(shard -> new java.util.concurrent.CompletableFuture<>(),
        Duration.ofMillis(200)));
    String late = TandemIds.newId();
    assertEquals(Outcome.RetryReason.CLAIMS_NOT_DURABLE, assertInstanceOf(Outcome.RetryLater.class,
        processor.process(message(late, "l"), counting())).reason());
    assertNull(runs.get(late));
    assertEquals(1.0, registry.get("tandem.consumer.claims.not.durable").counter().count());
  }
}
