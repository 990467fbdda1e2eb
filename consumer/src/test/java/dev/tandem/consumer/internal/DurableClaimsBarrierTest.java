package dev.tandem.consumer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.IncomingMessage;
import dev.tandem.core.Envelope;
import dev.tandem.core.RegionId;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.Owner;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * {@link DurableClaimsBarrier} with in-memory barriers (completed, failing or never completing
 * futures): which claims of a batch may run their handlers. Timeouts are short real times (the wait
 * is a real wait); no store, no Kafka.
 */
class DurableClaimsBarrierTest {

  static final Duration TIMEOUT = Duration.ofMillis(100);
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final Map<Integer, CompletableFuture<Void>> barrierOf = new HashMap<>();
  final AtomicInteger barriersTaken = new AtomicInteger();
  final Owner owner = new Owner(TestRegions.A, "i1");

  DurableClaimsBarrier barrier() {
    return new DurableClaimsBarrier(shard -> {
      barriersTaken.incrementAndGet();
      return barrierOf.computeIfAbsent(shard, s -> new CompletableFuture<>());
    }, TIMEOUT, owner, registry);
  }

  static ClaimAttempt acquired(String id, int shard) {
    byte[] p = id.getBytes(StandardCharsets.UTF_8);
    ClaimAttempt a = new ClaimAttempt(IncomingMessage.of(h -> null, p, shard, 1, null),
        Envelope.forPayload(id, p, shard, 0L), false);
    a.claim = new ClaimResult.Acquired(1, 1L, 0L, null);
    return a;
  }

  double notDurableCount() {
    return registry.get("tandem.consumer.claims.not.durable").counter().count();
  }

  @Test
  void acknowledgedClaimsAllRunAndOneBarrierIsTakenPerShard() {
    barrierOf.put(0, CompletableFuture.completedFuture(null));
    barrierOf.put(1, CompletableFuture.completedFuture(null));
    List<ClaimAttempt> batch = List.of(acquired("a", 0), acquired("b", 1), acquired("c", 0));
    assertEquals(Set.of(), barrier().await(batch));
    assertEquals(2, barriersTaken.get(), "one barrier per shard of the batch");
    assertEquals(0.0, notDurableCount());
  }

  @Test
  void aShardNotAcknowledgedHoldsItsClaimsAndOnlyThem() {
    barrierOf.put(0, CompletableFuture.completedFuture(null));
    // shard 1's barrier never completes
    ClaimAttempt a = acquired("a", 0);
    ClaimAttempt b = acquired("b", 1);
    ClaimAttempt c = acquired("c", 1);
    Set<ClaimAttempt> held = barrier().await(List.of(a, b, c));
    assertEquals(2, held.size());
    assertTrue(held.contains(b) && held.contains(c));
    assertFalse(held.contains(a), "shard 0 was acknowledged");
    assertEquals(1.0, notDurableCount(), "counted once per batch");
  }

  @Test
  void aHookThatThrowsCountsAsNotAcknowledged() {
    DurableClaimsBarrier b = new DurableClaimsBarrier(shard -> {
      throw new IllegalStateException("log down");
    }, TIMEOUT, owner, registry);
    ClaimAttempt a = acquired("a", 0);
    assertEquals(Set.of(a), b.await(List.of(a)));
  }

  @Test
  void afterATimeoutBatchesDoNotWaitForOneTimeout() {
    DurableClaimsBarrier b = barrier();
    assertEquals(1, b.await(List.of(acquired("a", 0))).size());
    Duration left = b.coolDownLeft();
    assertTrue(left.compareTo(Duration.ZERO) > 0 && left.compareTo(TIMEOUT) <= 0, left.toString());
    long start = System.nanoTime();
    CompletableFuture<Void> late = new CompletableFuture<>();
    barrierOf.put(0, late); // a fresh, never-completing barrier
    assertEquals(1, b.await(List.of(acquired("b", 0))).size());
    // no wait during the cool-down: a wait would take the whole 100 ms timeout
    assertTrue(System.nanoTime() - start < TIMEOUT.toNanos(),
        "waited " + Duration.ofNanos(System.nanoTime() - start));
    assertEquals(2.0, notDurableCount());
    late.complete(null);
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
        .until(() -> b.coolDownLeft().isZero());
    assertEquals(Set.of(), b.await(List.of(acquired("c", 0))));
  }

  @Test
  void aResumedClaimWaitsForItsOriginalWriteNotOnlyTheNewBarrier() {
    // the resume's fresh barrier never completes, but the barrier after its original claim did
    ClaimAttempt r = acquired("a", 0);
    CompletableFuture<Void> original = CompletableFuture.completedFuture(null);
    r.resumed = new ParkedClaims.Parked((ClaimResult.Acquired) r.claim, 0L, 0L, original,
        new CompletableFuture<>());
    assertEquals(Set.of(), barrier().await(List.of(r)));
  }

  @Test
  void firstSuccessFailsOnlyWhenAllFail() {
    CompletableFuture<Void> f1 = new CompletableFuture<>();
    CompletableFuture<Void> f2 = new CompletableFuture<>();
    CompletableFuture<Void> first = DurableClaimsBarrier.firstSuccess(List.of(f1, f2));
    f1.completeExceptionally(new IllegalStateException("one"));
    assertFalse(first.isDone());
    f2.completeExceptionally(new IllegalStateException("two"));
    assertTrue(first.isCompletedExceptionally());
    CompletableFuture<Void> g1 = new CompletableFuture<>();
    CompletableFuture<Void> second = DurableClaimsBarrier.firstSuccess(
        List.of(g1, CompletableFuture.failedFuture(new IllegalStateException())));
    g1.complete(null);
    assertTrue(second.isDone() && !second.isCompletedExceptionally());
  }
}
