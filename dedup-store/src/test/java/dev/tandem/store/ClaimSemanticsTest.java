package dev.tandem.store;

import dev.tandem.core.ManualClock;
import dev.tandem.core.PayloadDigest;
import dev.tandem.store.spi.ReplicaStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static dev.tandem.store.Stores.A;
import static dev.tandem.store.Stores.B;
import static dev.tandem.store.Stores.LEASE;
import static dev.tandem.store.Stores.START;
import static dev.tandem.store.Stores.digest;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The claim state machine of one store (and a second replica fed through applyRemote). */
class ClaimSemanticsTest {

  @TempDir Path dirA;
  @TempDir Path dirB;
  ManualClock clock;
  IdempotencyStore a;
  IdempotencyStore b;
  final PayloadDigest d1 = digest("payload-1");
  final PayloadDigest d2 = digest("payload-2");

  @BeforeEach
  void open() {
    clock = new ManualClock(START);
    a = Stores.builder(dirA, A, "a1", clock).maxAttempts(3).build();
    b = Stores.builder(dirB, B, "b1", clock).maxAttempts(3).build();
  }

  @AfterEach
  void close() {
    a.close();
    b.close();
  }

  @Test
  void firstClaimAcquiresAndWritesTheDigest() {
    ClaimResult r = a.claim("m1", 0, d1, 4, LEASE);
    assertEquals(new ClaimResult.Acquired(1, 0, 4), r);
    IdRecord rec = a.get("m1", 0).orElseThrow();
    assertEquals(Phase.CLAIMED, rec.phase());
    assertEquals(Set.of(d1), rec.digests());
    assertEquals(4, rec.epoch());
    assertEquals(LEASE.toMillis(), rec.leaseMillis());
    assertEquals(a.owner(), rec.owner());
  }

  @Test
  void aSecondClaimWhileLiveIsInProgressEvenForTheSameOwner() {
    a.claim("m1", 0, d1, 0, LEASE);
    clock.advance(Duration.ofSeconds(10));
    ClaimResult r = a.claim("m1", 0, d1, 0, LEASE);
    ClaimResult.InProgress p = assertInstanceOf(ClaimResult.InProgress.class, r);
    assertEquals(a.owner(), p.owner());
    assertEquals(20_000, p.leaseRemainingMillis());
  }

  @Test
  void completeThenClaimIsAlreadyCompletedWithTheStoredResult() {
    a.claim("m1", 0, d1, 0, LEASE);
    IdRecord done = a.complete("m1", 0, new byte[] {1, 2, 3});
    assertEquals(Phase.COMPLETED, done.phase());
    assertEquals(Set.of(Completer.of(a.owner(), 1)), done.completers());
    ClaimResult r = a.claim("m1", 0, d1, 0, LEASE);
    IdRecord seen = assertInstanceOf(ClaimResult.AlreadyCompleted.class, r).record();
    assertArrayEquals(new byte[] {1, 2, 3}, seen.result());
    assertTrue(a.isTerminal("m1", 0));
  }

  @Test
  void anotherDigestIsAStickyConflictOnEveryPath() {
    a.claim("m1", 0, d1, 0, LEASE);
    ClaimResult.Conflict c = assertInstanceOf(ClaimResult.Conflict.class,
        a.claim("m1", 0, d2, 0, LEASE));
    assertEquals(Set.of(d1, d2), c.digests());
    // sticky: the original digest conflicts now too, even after a completion
    a.complete("m1", 0, null);
    assertInstanceOf(ClaimResult.Conflict.class, a.claim("m1", 0, d1, 0, LEASE));
    // and a conflict on a completed record is found on the cached fast path as well
    assertInstanceOf(ClaimResult.Conflict.class, a.claim("m1", 0, d1, 0, LEASE));
    // on a completed record that never saw d2, the first claim with d2 writes it and conflicts
    a.claim("m2", 0, d1, 0, LEASE);
    a.complete("m2", 0, null);
    assertInstanceOf(ClaimResult.AlreadyCompleted.class, a.claim("m2", 0, d1, 0, LEASE));
    assertInstanceOf(ClaimResult.Conflict.class, a.claim("m2", 0, d2, 0, LEASE));
    assertTrue(a.get("m2", 0).orElseThrow().isConflict());
  }

  @Test
  void theDigestJoinsARecordThatHadNone() {
    a.complete("m1", 0, null); // complete from ABSENT: no digest known
    assertInstanceOf(ClaimResult.AlreadyCompleted.class, a.claim("m1", 0, d1, 0, LEASE));
    assertEquals(Set.of(d1), a.get("m1", 0).orElseThrow().digests());
    assertInstanceOf(ClaimResult.Conflict.class, a.claim("m1", 0, d2, 0, LEASE));
  }

  @Test
  void releaseLetsTheNextAttemptClaimAndMaxAttemptsDeadLetters() {
    assertEquals(1, ((ClaimResult.Acquired) a.claim("m1", 0, d1, 0, LEASE)).attempt());
    assertEquals(Phase.RELEASED, a.release("m1", 0).phase());
    ClaimResult.Acquired second = (ClaimResult.Acquired) a.claim("m1", 0, d1, 0, LEASE);
    assertEquals(2, second.attempt());
    assertEquals(new ClaimResult.PreviousClaim(new Owner(A, "a1"), 1, 0,
        ClaimResult.PreviousClaim.Reason.RELEASED), second.previous(), "it follows a release");
    assertFalse(second.previous().mayHaveRun());
    assertEquals(Phase.RELEASED, a.release("m1", 0).phase());
    assertEquals(3, ((ClaimResult.Acquired) a.claim("m1", 0, d1, 0, LEASE)).attempt());
    IdRecord last = a.release("m1", 0); // attempt 3 of maxAttempts 3
    assertEquals(Phase.DEAD_LETTERED, last.phase());
    assertEquals(RocksStore.MAX_ATTEMPTS_REASON, last.reason());
    assertInstanceOf(ClaimResult.DeadLettered.class, a.claim("m1", 0, d1, 0, LEASE));
  }

  @Test
  void releaseOfAClaimThisOwnerDoesNotHoldWritesNothing() {
    b.claim("m1", 0, d1, 0, LEASE);
    IdRecord remote = b.get("m1", 0).orElseThrow();
    ReplicaStore.of(a).applyRemote(remote);
    assertEquals(remote, a.release("m1", 0));
    assertEquals(remote, a.get("m1", 0).orElseThrow());
    assertThrows(IllegalStateException.class, () -> a.release("absent", 0));
  }

  @Test
  void anExpiredClaimIsReclaimedAsTheNextAttempt() {
    b.claim("m1", 0, d1, 0, LEASE);
    ReplicaStore.of(a).applyRemote(b.get("m1", 0).orElseThrow());
    assertInstanceOf(ClaimResult.InProgress.class, a.claim("m1", 0, d1, 0, LEASE));
    clock.advance(LEASE.plusMillis(1));
    // the new attempt names the claim it follows: its handler may have run (a re-run to report)
    assertEquals(new ClaimResult.Acquired(2, 0, 0, new ClaimResult.PreviousClaim(
        new Owner(B, "b1"), 1, 0, ClaimResult.PreviousClaim.Reason.LEASE_EXPIRED)),
        a.claim("m1", 0, d1, 0, LEASE));
  }

  @Test
  void expiryCountsFromFirstSightOnTheMonotonicClockNotFromTheWallClock() {
    b.claim("m1", 0, d1, 0, LEASE);
    IdRecord claim = b.get("m1", 0).orElseThrow();
    // the claim reaches A 25 s later (replication lag): A still gives it its full 30 s
    clock.advance(Duration.ofSeconds(25));
    ReplicaStore.of(a).applyRemote(claim);
    clock.advance(Duration.ofSeconds(25));
    ClaimResult.InProgress p =
        assertInstanceOf(ClaimResult.InProgress.class, a.claim("m1", 0, d1, 0, LEASE));
    assertEquals(5_000, p.leaseRemainingMillis());
    // a wall-clock step (NTP) a day ahead does not expire it: only the monotonic clock counts
    clock.setWallMillis(clock.wallMillis() + Duration.ofDays(1).toMillis());
    assertInstanceOf(ClaimResult.InProgress.class, a.claim("m1", 0, d1, 0, LEASE));
  }

  @Test
  void aNewerShardEpochTakesOverALiveClaim() {
    b.claim("m1", 0, d1, 3, LEASE);
    ReplicaStore.of(a).applyRemote(b.get("m1", 0).orElseThrow());
    assertInstanceOf(ClaimResult.InProgress.class, a.claim("m1", 0, d1, 3, LEASE));
    assertEquals(new ClaimResult.Acquired(2, 0, 4, new ClaimResult.PreviousClaim(
        new Owner(B, "b1"), 1, 3, ClaimResult.PreviousClaim.Reason.TAKEN_OVER)),
        a.claim("m1", 0, d1, 4, LEASE));
  }

  @Test
  void claimsThatKeepExpiringEndDeadLettered() {
    for (int attempt = 1; attempt <= 3; attempt++) {
      assertEquals(attempt, ((ClaimResult.Acquired) a.claim("m1", 0, d1, 0, LEASE)).attempt());
      clock.advance(LEASE.plusMillis(1)); // the handler crashed: the claim just expires
    }
    ClaimResult.DeadLettered dl =
        assertInstanceOf(ClaimResult.DeadLettered.class, a.claim("m1", 0, d1, 0, LEASE));
    assertEquals(Phase.DEAD_LETTERED, dl.record().phase());
  }

  @Test
  void renewRestartsTheLeaseAndIsRefusedToAnotherOwner() {
    a.claim("m1", 0, d1, 0, LEASE);
    clock.advance(Duration.ofSeconds(25));
    IdRecord renewed = a.renew("m1", 0, Duration.ofMinutes(1));
    assertTrue(renewed.isClaimedBy(a.owner()));
    assertEquals(60_000, renewed.leaseMillis());
    ReplicaStore.of(b).applyRemote(renewed);
    clock.advance(Duration.ofSeconds(50)); // 75 s after the claim, 50 s after the renewal
    assertInstanceOf(ClaimResult.InProgress.class, b.claim("m1", 0, d1, 0, LEASE));
    IdRecord notMine = b.renew("m1", 0, LEASE);
    assertEquals(renewed, notMine);
    assertFalse(notMine.isClaimedBy(b.owner()));
  }

  @Test
  void aRenewalAfterARestartWithTheWallClockSteppedBackStillWins() {
    clock.advance(Duration.ofHours(1));
    a.claim("m1", 0, d1, 0, LEASE);
    IdRecord before = a.get("m1", 0).orElseThrow();
    a.close();
    clock.setWallMillis(START); // an hour back: the new HLC starts below the stored stamp
    a = Stores.builder(dirA, A, "a1", clock).maxAttempts(3).build();
    IdRecord renewed = a.renew("m1", 0, Duration.ofMinutes(5));
    assertTrue(renewed.hlc() > before.hlc());
    assertEquals(Duration.ofMinutes(5).toMillis(), renewed.leaseMillis());
  }

  @Test
  void deadLetterAndRedriveOpenANewGeneration() {
    a.claim("m1", 0, d1, 0, LEASE);
    IdRecord dl = a.deadLetter("m1", 0, "poison");
    assertEquals(Phase.DEAD_LETTERED, dl.phase());
    assertEquals("poison", dl.reason());
    assertTrue(a.isTerminal("m1", 0));
    IdRecord redriven = a.redrive("m1", 0);
    assertEquals(1, redriven.generation());
    assertEquals(Phase.RELEASED, redriven.phase());
    assertFalse(a.isTerminal("m1", 0)); // the cache no longer answers "dead-lettered"
    assertEquals(new ClaimResult.Acquired(1, 1, 0), a.claim("m1", 0, d1, 0, LEASE));
    assertThrows(IllegalStateException.class, () -> a.redrive("m1", 0));
  }

  @Test
  void deadLetterFromAbsentAndCompletionBeatsADeadLetter() {
    assertEquals(Phase.DEAD_LETTERED, a.deadLetter("stale", 0, "STALE").phase());
    assertInstanceOf(ClaimResult.DeadLettered.class, a.claim("stale", 0, d1, 0, LEASE));
    a.claim("m1", 0, d1, 0, LEASE);
    a.complete("m1", 0, null);
    assertEquals(Phase.COMPLETED, a.deadLetter("m1", 0, "late").phase());
  }

  @Test
  void completeBeatsAConcurrentClaimOfAnotherOwner() {
    a.claim("m1", 0, d1, 0, LEASE);
    clock.advance(LEASE.plusSeconds(1));
    ReplicaStore.of(b).applyRemote(a.get("m1", 0).orElseThrow());
    clock.advance(LEASE.plusSeconds(1));
    assertInstanceOf(ClaimResult.Acquired.class, b.claim("m1", 0, d1, 0, LEASE)); // took over
    ReplicaStore.of(a).applyRemote(b.get("m1", 0).orElseThrow());
    IdRecord done = a.complete("m1", 0, null); // A's slow handler finished after all
    assertEquals(Phase.COMPLETED, done.phase());
    IdRecord atB = ReplicaStore.of(b).applyRemote(done);
    assertEquals(Phase.COMPLETED, atB.phase());
    assertEquals(done, atB);
  }

  @Test
  void oversizedResultIsRefusedNamingTheLimit() {
    IdempotencyStore small = Stores.builder(dirA.resolve("small"), A, "s", clock)
        .maxResultBytes(4).build();
    try (small) {
      small.claim("m1", 0, d1, 0, LEASE);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> small.complete("m1", 0, new byte[5]));
      assertTrue(e.getMessage().contains("4 bytes"), e.getMessage());
      assertEquals(Phase.CLAIMED, small.get("m1", 0).orElseThrow().phase());
    }
  }

  @Test
  void badIdsAreRefusedClearly() {
    assertThrows(IllegalArgumentException.class, () -> a.claim("x".repeat(129), 0, d1, 0, LEASE));
    assertThrows(IllegalArgumentException.class, () -> a.claim("", 0, d1, 0, LEASE));
    assertThrows(IllegalArgumentException.class, () -> a.claim("m", -1, d1, 0, LEASE));
    assertThrows(IllegalArgumentException.class, () -> a.claim("m", 0, d1, 0, Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> a.get("m", -1));
    assertThrows(IllegalArgumentException.class, () -> a.complete("m\u0000", 0, null));
    assertThrows(IllegalArgumentException.class, () -> a.release("m", -2));
  }

  @Test
  void batchesClaimAndCompleteInOneWriteAndSeeTheirOwnEarlierEntries() {
    List<ClaimResult> rs = a.claimAll(List.of(
        new ClaimRequest("x", 1, d1, 0, LEASE),
        new ClaimRequest("y", 2, d1, 0, LEASE),
        new ClaimRequest("x", 1, d1, 0, LEASE),
        new ClaimRequest("y", 2, d2, 0, LEASE)));
    assertInstanceOf(ClaimResult.Acquired.class, rs.get(0));
    assertInstanceOf(ClaimResult.Acquired.class, rs.get(1));
    assertInstanceOf(ClaimResult.InProgress.class, rs.get(2));
    assertInstanceOf(ClaimResult.Conflict.class, rs.get(3));
    List<IdRecord> done = a.completeAll(List.of(
        new CompleteRequest("x", 1, new byte[] {7}), new CompleteRequest("z", 3, null)));
    assertEquals(Phase.COMPLETED, done.get(0).phase());
    assertEquals(Phase.COMPLETED, done.get(1).phase());
    assertInstanceOf(ClaimResult.AlreadyCompleted.class, a.claim("x", 1, d1, 0, LEASE));
  }

  @Test
  void aRestartCountsLiveClaimsFromTheRestartConservatively() {
    b.claim("m1", 0, d1, 0, LEASE);
    ReplicaStore.of(a).applyRemote(b.get("m1", 0).orElseThrow());
    clock.advance(Duration.ofSeconds(20));
    a.close();
    a = Stores.builder(dirA, A, "a1", clock).maxAttempts(3).build();
    clock.advance(Duration.ofSeconds(20)); // 40 s after the claim, 20 s after the restart
    ClaimResult.InProgress p =
        assertInstanceOf(ClaimResult.InProgress.class, a.claim("m1", 0, d1, 0, LEASE));
    assertEquals(LEASE.toMillis(), p.leaseRemainingMillis());
  }
}
