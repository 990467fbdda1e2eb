package dev.tandem.consumer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.IncomingMessage;
import dev.tandem.core.Envelope;
import dev.tandem.core.ManualClock;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.RecordKey;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ParkedClaims} on one local store (temp dir) and a {@link ManualClock}: resume under the
 * claim's epoch only, eviction of the oldest when full, forgetting shards, the last attempt kept.
 */
class ParkedClaimsTest {

  static final Duration LEASE = Duration.ofSeconds(10);
  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_000_000L);
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  IdempotencyStore store;

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(TestRegions.A).instance("i1").directory(dir)
        .clock(clock).maxAttempts(3).build();
  }

  @AfterEach
  void close() {
    store.close();
  }

  /** Claims {@code id} on {@code shard} under {@code epoch}, as the processor would have. */
  ClaimAttempt claimed(String id, int shard, long epoch) {
    byte[] p = id.getBytes(StandardCharsets.UTF_8);
    ClaimAttempt a = new ClaimAttempt(IncomingMessage.of(h -> null, p, shard, 1, null),
        Envelope.forPayload(id, p, shard, 0L), false);
    a.epoch = epoch;
    a.claim = assertInstanceOf(ClaimResult.Acquired.class,
        store.claim(id, shard, a.envelope.digest(), epoch, LEASE));
    a.fresh = new CompletableFuture<>();
    return a;
  }

  /** A new delivery of the same copy, claimed again in the store. */
  ClaimAttempt redelivered(ClaimAttempt first, long epoch) {
    ClaimAttempt b = new ClaimAttempt(first.message, first.envelope, false);
    b.epoch = epoch;
    b.claim = store.claim(first.id(), first.shard(), first.envelope.digest(), epoch, LEASE);
    return b;
  }

  double released(String cause) {
    return registry.find("tandem.consumer.parked.released").tag("cause", cause).counters()
        .stream().mapToDouble(c -> c.count()).sum();
  }

  @Test
  void theNextDeliveryUnderTheClaimsEpochResumesItAsTheSameAttempt() {
    ParkedClaims parked = new ParkedClaims(store, clock, LEASE, 10, registry);
    ClaimAttempt a = claimed("a", 0, 5L);
    parked.keep(a);
    ClaimAttempt other = redelivered(a, 3L); // an older epoch: the live claim stays in the way
    assertInstanceOf(ClaimResult.InProgress.class, other.claim, "our own live claim");
    assertSame(other.claim, parked.adopt(other, other.claim), "another epoch: not resumed");
    assertEquals(Set.of(a.key()), parked.keys(), "kept for a delivery under its epoch");
    ClaimAttempt same = redelivered(a, 5L);
    ClaimResult adopted = parked.adopt(same, same.claim);
    assertSame(a.claim, adopted, "resumed: the same attempt");
    assertTrue(same.resumed != null);
    assertEquals(Set.of(), parked.keys());
  }

  @Test
  void whenFullTheOldestIsReleasedAndCounted() {
    ParkedClaims parked = new ParkedClaims(store, clock, LEASE, 2, registry);
    ClaimAttempt a = claimed("a", 0, 0L);
    parked.keep(a);
    clock.advance(Duration.ofMillis(10));
    parked.keep(claimed("b", 0, 0L));
    clock.advance(Duration.ofMillis(10));
    parked.keep(claimed("c", 1, 0L));
    assertFalse(parked.keys().contains(a.key()), "the oldest went: " + parked.keys());
    assertEquals(2, parked.keys().size());
    assertEquals(Phase.RELEASED, store.get("a", 0).orElseThrow().phase());
    assertEquals(1.0, released("evicted"));
  }

  @Test
  void forgettingShardsReleasesOnlyTheirClaims() {
    ParkedClaims parked = new ParkedClaims(store, clock, LEASE, 10, registry);
    parked.keep(claimed("a", 0, 0L));
    ClaimAttempt b = claimed("b", 1, 0L);
    parked.keep(b);
    assertEquals(1, parked.forget(List.of(0)));
    assertEquals(Set.of(b.key()), parked.keys());
    assertEquals(Phase.RELEASED, store.get("a", 0).orElseThrow().phase());
    assertEquals(Phase.CLAIMED, store.get("b", 1).orElseThrow().phase());
    assertEquals(1.0, released("forgotten"));
  }

  @Test
  void aClaimAtTheLastAttemptIsNotReleased() {
    ParkedClaims parked = new ParkedClaims(store, clock, LEASE, 10, registry);
    ClaimAttempt a = claimed("a", 0, 0L);
    store.release("a", 0);
    claimed("a", 0, 0L);
    store.release("a", 0);
    ClaimAttempt third = claimed("a", 0, 0L);
    assertEquals(3, ((ClaimResult.Acquired) third.claim).attempt());
    assertFalse(parked.abandon(new RecordKey(0, "a"), (ClaimResult.Acquired) third.claim, "closed"),
        "a release would dead-letter it with no copy to route");
    assertEquals(Phase.CLAIMED, store.get("a", 0).orElseThrow().phase());
    assertEquals(0.0, released("closed"));
    assertTrue(a.claim instanceof ClaimResult.Acquired);
  }
}
