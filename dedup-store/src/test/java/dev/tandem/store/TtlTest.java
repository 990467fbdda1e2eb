package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static dev.tandem.store.Stores.A;
import static dev.tandem.store.Stores.B;
import static dev.tandem.store.Stores.LEASE;
import static dev.tandem.store.Stores.START;
import static dev.tandem.store.Stores.digest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Records expire by whole TTL buckets (column families) dropped on a manual clock: no scan. */
class TtlTest {

  static final Duration TTL = Duration.ofDays(7); // buckets of one day

  @TempDir Path dir;
  @TempDir Path remoteDir;
  final ManualClock clock = new ManualClock(START);
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  IdempotencyStore open() {
    return Stores.builder(dir, A, "a1", clock).ttl(TTL).meterRegistry(registry).build();
  }

  double dropped() {
    return registry.get(StoreMetrics.BUCKETS_DROPPED).counter().count();
  }

  @Test
  void aRecordIsGoneAfterTheTtlAndAYoungerOneStays() {
    try (IdempotencyStore store = open()) {
      store.claim("old", 0, digest("p"), 0, LEASE);
      store.complete("old", 0, null); // cached as terminal too
      assertTrue(store.isTerminal("old", 0));
      clock.advance(Duration.ofDays(3));
      store.claim("young", 0, digest("p"), 0, LEASE);
      assertEquals(2, store.stats().liveBuckets());

      clock.advance(Duration.ofDays(4).minusMinutes(1)); // 7 days - 1 min after "old"
      assertTrue(store.get("old", 0).isPresent(), "not expired before the TTL");

      clock.advance(Duration.ofDays(1).plusMinutes(1)); // past TTL + one bucket width
      assertTrue(store.get("old", 0).isEmpty(), "expired");
      assertFalse(store.isTerminal("old", 0), "the cache does not outlive the TTL");
      assertEquals(1, dropped());
      assertTrue(store.get("young", 0).isPresent());
      assertEquals(1, store.stats().liveBuckets());
      // the id is new again: a copy arriving after the TTL would be processed (hence TTL > lag)
      assertInstanceOf(ClaimResult.Acquired.class, store.claim("old", 0, digest("p"), 0, LEASE));
    }
  }

  @Test
  void theCachedFastPathDoesNotAnswerForAnExpiredRecord() {
    try (IdempotencyStore store = open()) {
      store.claim("m", 0, digest("p"), 0, LEASE);
      store.complete("m", 0, null);
      assertInstanceOf(ClaimResult.AlreadyCompleted.class,
          store.claim("m", 0, digest("p"), 0, LEASE)); // answered by the cache
      clock.advance(TTL.plusDays(1).plusMinutes(1));
      // the very first call after expiry is a claim: it must not be answered by the cache
      assertInstanceOf(ClaimResult.Acquired.class, store.claim("m", 0, digest("p"), 0, LEASE));
    }
  }

  @Test
  void aRewriteMovesARecordToTheCurrentBucketSoItLivesFromItsLatestWrite() {
    try (IdempotencyStore store = open()) {
      store.claim("m", 0, digest("p"), 0, LEASE);
      clock.advance(Duration.ofDays(5));
      store.complete("m", 0, null); // latest write: day 5
      clock.advance(Duration.ofDays(4)); // day 9: the day-0 bucket is dropped at the next access
      assertEquals(Phase.COMPLETED, store.get("m", 0).orElseThrow().phase());
      assertEquals(1, dropped());
      clock.advance(Duration.ofDays(4)); // day 13: day 5 + 8 days
      assertTrue(store.get("m", 0).isEmpty());
    }
  }

  @Test
  void bucketsThatExpiredWhileClosedAreDroppedAtOpen() {
    try (IdempotencyStore store = open()) {
      store.claim("m", 0, digest("p"), 0, LEASE);
      assertEquals(1, store.stats().liveBuckets());
    }
    clock.advance(Duration.ofDays(9));
    try (IdempotencyStore store = open()) {
      assertEquals(0, store.stats().liveBuckets());
      assertTrue(store.get("m", 0).isEmpty());
    }
  }

  @Test
  void aRemoteRecordOlderThanTheTtlIsNotStoredAndAFreshOneIs() {
    ManualClock remoteClock = new ManualClock(START);
    try (IdempotencyStore remote = Stores.open(remoteDir, B, "b1", remoteClock);
        IdempotencyStore store = open()) {
      remote.claim("m", 0, digest("p"), 0, LEASE);
      IdRecord old = remote.complete("m", 0, null);
      clock.advance(Duration.ofDays(9)); // the changelog delivers it 9 days late (a restore)
      ReplicaStore.of(store).applyRemote(old);
      assertTrue(store.get("m", 0).isEmpty());
      assertEquals(1.0, registry.get(StoreMetrics.REMOTE_APPLIED).tag("outcome", "expired")
          .counter().count());
      remoteClock.advance(Duration.ofDays(9));
      remote.claim("n", 0, digest("p"), 0, LEASE);
      ReplicaStore.of(store).applyRemote(remote.get("n", 0).orElseThrow());
      assertTrue(store.get("n", 0).isPresent());
    }
  }

  /**
   * The waker way (the system clock's, ExpiryWatch), driven by hand: a cache-hit check reads no
   * clock; past the expiry the cached answer and RocksDB's record stay together until the waker has
   * seen the expiry, and then the bucket and the cache go in the same maintenance.
   */
  @Test
  void withTheWakerACachedCheckReadsNoClockAndLeavesWithItsBucket() {
    ExpiryWatchTest.CountingClock counting = new ExpiryWatchTest.CountingClock();
    ExpiryWatchTest.HandScheduler waker = new ExpiryWatchTest.HandScheduler();
    RocksIdempotencyStore.Builder b = RocksIdempotencyStore.builder().region(A).instance("a1")
        .directory(dir).clock(counting).ttl(TTL).meterRegistry(registry);
    b.ttlWaker = waker;
    try (IdempotencyStore store = b.build()) {
      store.claim("m", 0, digest("p"), 0, LEASE); // the first bucket: the store arms the waker
      store.complete("m", 0, null);
      assertEquals(1, waker.pending());
      assertTrue(store.isTerminal("m", 0));
      long reads = counting.wallReads.get();
      for (int i = 0; i < 1_000; i++) {
        assertTrue(store.isTerminal("m", 0));
      }
      assertEquals(reads, counting.wallReads.get(), "a cache-hit check reads no clock");

      counting.clock.advance(TTL.plusDays(1).plusMinutes(1));
      // not seen by the waker yet: the record lives on, in RocksDB and in the cache alike
      assertTrue(store.isTerminal("m", 0));
      assertTrue(store.get("m", 0).isPresent());
      assertEquals(0, dropped());

      waker.runPending();
      assertFalse(store.isTerminal("m", 0), "the cache does not outlive the bucket");
      assertTrue(store.get("m", 0).isEmpty());
      assertEquals(1, dropped());
      assertInstanceOf(ClaimResult.Acquired.class, store.claim("m", 0, digest("p"), 0, LEASE));
    }
    assertEquals(0, waker.pending(), "close cancels the wake-up");
  }
}
