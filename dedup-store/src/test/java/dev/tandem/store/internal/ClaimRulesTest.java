package dev.tandem.store.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.Hlc;
import dev.tandem.core.ManualClock;
import dev.tandem.core.PayloadDigest;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * The claim / complete / release / dead-letter / re-drive / renew transitions over {@link IdRecord},
 * without RocksDB: examples of each rule of {@code IdempotencyStore}'s class comment, and properties
 * over random sequences of operations by two owners (the stored record only grows; the attempt never
 * exceeds maxAttempts; COMPLETED is final within a generation; Acquired is answered once per attempt).
 */
class ClaimRulesTest {

  static final Owner A = Owner.of("region-a", "a1");
  static final Owner B = Owner.of("region-b", "b1");
  static final PayloadDigest P = digest("p");
  static final PayloadDigest Q = digest("q");
  static final int MAX = 3;
  static final Duration LEASE = Duration.ofSeconds(30);

  final ManualClock clock = new ManualClock(1_000_000);
  final Hlc hlc = new Hlc(clock);
  final ClaimRules a = new ClaimRules(A, MAX, hlc, clock);
  final ClaimRules b = new ClaimRules(B, MAX, hlc, clock);

  static PayloadDigest digest(String s) {
    return PayloadDigest.of(s.getBytes(StandardCharsets.UTF_8));
  }

  static ClaimRequest req(PayloadDigest d, long epoch) {
    return new ClaimRequest("id-1", 0, d, epoch, LEASE);
  }

  /** A lease that is live for this many millis whatever the record (the store's sightings). */
  static java.util.function.ToLongFunction<IdRecord> live(long millis) {
    return r -> millis;
  }

  @Example
  void firstClaimAcquiresAttemptOneWithTheDigest() {
    ClaimRules.Claim c = a.claim(null, req(P, 4), live(0));
    assertEquals(new ClaimResult.Acquired(1, 0, 4), c.result());
    assertEquals(Phase.CLAIMED, c.write().phase());
    assertEquals(1, c.write().attempt());
    assertEquals(4, c.write().epoch());
    assertEquals(A, c.write().owner());
    assertEquals(LEASE.toMillis(), c.write().leaseMillis());
    assertTrue(c.write().digests().contains(P));
    assertFalse(c.deadLetteredNow());
  }

  @Example
  void aLiveClaimAnswersInProgressEvenToItsOwnOwner() {
    IdRecord claimed = a.claim(null, req(P, 1), live(0)).write();
    ClaimRules.Claim again = a.claim(claimed, req(P, 1), live(500));
    assertEquals(new ClaimResult.InProgress(A, 500), again.result());
    assertEquals(claimed, again.write(), "nothing new but the (same) digest: the join is unchanged");
  }

  @Example
  void anExpiredClaimIsTakenWithTheNextAttemptNamingTheExpiredOne() {
    IdRecord claimed = a.claim(null, req(P, 1), live(0)).write();
    ClaimRules.Claim c = b.claim(claimed, req(P, 1), live(0));
    ClaimResult.Acquired acq = assertInstanceOf(ClaimResult.Acquired.class, c.result());
    assertEquals(2, acq.attempt());
    assertEquals(new ClaimResult.PreviousClaim(A, 1, 1,
        ClaimResult.PreviousClaim.Reason.LEASE_EXPIRED), acq.previous());
    assertEquals(B, c.write().owner());
  }

  @Example
  void aNewerEpochTakesALiveClaimOver() {
    IdRecord claimed = a.claim(null, req(P, 1), live(0)).write();
    ClaimResult.Acquired acq = assertInstanceOf(ClaimResult.Acquired.class,
        b.claim(claimed, req(P, 2), live(10_000)).result());
    assertEquals(ClaimResult.PreviousClaim.Reason.TAKEN_OVER, acq.previous().reason());
    assertEquals(2, acq.epoch());
  }

  @Example
  void aSecondDigestIsAStickyConflict() {
    IdRecord claimed = a.claim(null, req(P, 1), live(0)).write();
    ClaimRules.Claim c = b.claim(claimed, req(Q, 1), live(0));
    assertInstanceOf(ClaimResult.Conflict.class, c.result());
    assertTrue(c.write().isConflict());
    IdRecord done = a.complete(c.write(), "id-1", 0, null);
    assertInstanceOf(ClaimResult.Conflict.class, a.claim(done, req(P, 1), live(0)).result());
  }

  @Example
  void releasesRunOutIntoADeadLetter() {
    IdRecord r = null;
    for (int attempt = 1; attempt <= MAX; attempt++) {
      ClaimRules.Claim c = a.claim(r, req(P, 1), live(0));
      assertEquals(attempt, ((ClaimResult.Acquired) c.result()).attempt());
      ClaimRules.Change rel = a.release(c.write());
      r = rel.write();
      assertEquals(attempt < MAX ? Phase.RELEASED : Phase.DEAD_LETTERED, r.phase());
    }
    assertEquals(ClaimRules.MAX_ATTEMPTS_REASON, r.reason());
    ClaimRules.Claim after = a.claim(r, req(P, 1), live(0));
    assertInstanceOf(ClaimResult.DeadLettered.class, after.result());
    assertFalse(after.deadLetteredNow(), "found dead-lettered, not dead-lettered by this claim");
  }

  @Example
  void expiredClaimsRunOutIntoADeadLetterAtTheClaim() {
    IdRecord r = null;
    for (int i = 0; i < MAX; i++) {
      r = a.claim(r, req(P, 1), live(0)).write();
    }
    ClaimRules.Claim c = a.claim(r, req(P, 1), live(0));
    ClaimResult.DeadLettered dl = assertInstanceOf(ClaimResult.DeadLettered.class, c.result());
    assertTrue(c.deadLetteredNow());
    assertEquals(Phase.DEAD_LETTERED, dl.record().phase());
    assertEquals(MAX, dl.record().attempt());
  }

  @Example
  void completionBeatsAClaimOfAnotherOwnerAndKeepsTheFirstResult() {
    IdRecord claimedByA = a.claim(null, req(P, 1), live(0)).write();
    IdRecord takenByB = b.claim(claimedByA, req(P, 1), live(0)).write();
    IdRecord doneByA = a.complete(takenByB, "id-1", 0, "first".getBytes(StandardCharsets.UTF_8));
    assertEquals(Phase.COMPLETED, doneByA.phase());
    IdRecord doneByB = b.complete(doneByA, "id-1", 0, "second".getBytes(StandardCharsets.UTF_8));
    assertEquals("first", new String(doneByB.result(), StandardCharsets.UTF_8));
    assertTrue(doneByB.isDetectedDuplicate(), "completers from two regions");
    assertInstanceOf(ClaimResult.AlreadyCompleted.class, a.claim(doneByB, req(P, 1), live(0))
        .result());
  }

  @Example
  void completeFromNothingWritesCompletedOneWithoutDigest() {
    IdRecord done = a.complete(null, "id-1", 0, null);
    assertEquals(Phase.COMPLETED, done.phase());
    assertEquals(1, done.attempt());
    assertTrue(done.digests().isEmpty());
    assertEquals(1, done.completers().size());
  }

  @Example
  void releaseAndRenewOfAnotherOwnersClaimWriteNothing() {
    IdRecord claimed = a.claim(null, req(P, 1), live(0)).write();
    ClaimRules.Change rel = b.release(claimed);
    assertNull(rel.write());
    assertSame(claimed, rel.answer());
    assertFalse(b.renew(claimed, LEASE).writes());
    ClaimRules.Change renewed = a.renew(claimed, Duration.ofMinutes(5));
    assertEquals(claimed.attempt(), renewed.write().attempt());
    assertTrue(renewed.write().hlc() > claimed.hlc(), "a renewal is a new claim version");
    assertEquals(Duration.ofMinutes(5).toMillis(), renewed.write().leaseMillis());
  }

  @Example
  void deadLetterLeavesTerminalRecordsAndRedriveOpensAGeneration() {
    IdRecord done = a.complete(null, "id-1", 0, null);
    assertFalse(a.deadLetter(done, "id-1", 0, "poison").writes());
    IdRecord dl = a.deadLetter(null, "id-1", 0, "STALE").write();
    assertEquals(0, dl.attempt());
    assertThrows(IllegalStateException.class, () -> a.redrive(done));
    IdRecord redriven = a.redrive(dl);
    assertEquals(1, redriven.generation());
    assertEquals(Phase.RELEASED, redriven.phase());
    ClaimResult.Acquired acq = assertInstanceOf(ClaimResult.Acquired.class,
        a.claim(redriven, req(P, 1), live(0)).result());
    assertEquals(1, acq.attempt());
    assertNull(acq.previous(), "attempt 0 of a re-drive ran nothing");
  }

  // ---------------------------------------------------------------- properties

  enum Op { CLAIM_A, CLAIM_B, CLAIM_B_NEWER_EPOCH, COMPLETE_A, COMPLETE_B, RELEASE_A, RELEASE_B,
    RENEW_A, DEAD_LETTER, REDRIVE, EXPIRE }

  @Provide
  Arbitrary<List<Op>> ops() {
    return Arbitraries.of(Op.class).list().ofMinSize(1).ofMaxSize(30);
  }

  /**
   * Over any sequence of operations (one digest): every write is a join (the record only grows under
   * the head order and the sets), the attempt never exceeds maxAttempts, and a claim is Acquired at
   * most once per (generation, attempt).
   */
  @Property(tries = 300)
  void everyTransitionIsAJoinAndAttemptsStayBounded(@ForAll("ops") List<Op> ops) {
    IdRecord cur = null;
    long epoch = 1;
    boolean expired = false;
    java.util.Set<String> acquired = new java.util.HashSet<>();
    for (Op op : ops) {
      clock.advance(Duration.ofMillis(1));
      IdRecord next = cur;
      long remaining = expired ? 0 : 10_000;
      switch (op) {
        case CLAIM_A, CLAIM_B, CLAIM_B_NEWER_EPOCH -> {
          if (op == Op.CLAIM_B_NEWER_EPOCH) {
            epoch++;
          }
          ClaimRules rules = op == Op.CLAIM_A ? a : b;
          ClaimRules.Claim c = rules.claim(cur, req(P, epoch), live(remaining));
          next = c.write();
          if (c.result() instanceof ClaimResult.Acquired acq) {
            assertTrue(acquired.add(acq.generation() + "/" + acq.attempt()),
                "Acquired twice for " + acq + " after " + ops);
            expired = false;
          }
        }
        case COMPLETE_A -> next = a.complete(cur, "id-1", 0, null);
        case COMPLETE_B -> next = b.complete(cur, "id-1", 0, null);
        case RELEASE_A -> next = cur == null ? null : a.release(cur).answer();
        case RELEASE_B -> next = cur == null ? null : b.release(cur).answer();
        case RENEW_A -> next = cur == null ? null : a.renew(cur, LEASE).answer();
        case DEAD_LETTER -> next = a.deadLetter(cur, "id-1", 0, "poison").answer();
        case REDRIVE -> next = cur != null && cur.phase() == Phase.DEAD_LETTERED
            ? a.redrive(cur) : cur;
        case EXPIRE -> expired = true;
      }
      if (cur != null) {
        assertEquals(next, cur.merge(next), "not a join: " + cur + " -> " + next + " in " + ops);
        assertTrue(next.headCompareTo(cur) >= 0, "the head went back: " + ops);
        if (cur.phase() == Phase.COMPLETED && next.generation() == cur.generation()) {
          assertEquals(Phase.COMPLETED, next.phase(), "COMPLETED is final: " + ops);
        }
      }
      if (next != null) {
        assertTrue(next.attempt() <= MAX, "attempt " + next.attempt() + " > max in " + ops);
      }
      cur = next;
    }
  }

  /** Two digests ever seen make a conflict on every later claim, whatever came between. */
  @Property(tries = 200)
  void aConflictIsSticky(@ForAll("ops") List<Op> ops, @ForAll @IntRange(min = 0, max = 29) int at) {
    IdRecord cur = a.claim(null, req(P, 1), live(0)).write();
    cur = b.claim(cur, req(Q, 1), live(0)).write();
    for (Op op : ops) {
      cur = switch (op) {
        case COMPLETE_A -> a.complete(cur, "id-1", 0, null);
        case RELEASE_A -> a.release(cur).answer();
        case DEAD_LETTER -> a.deadLetter(cur, "id-1", 0, "x").answer();
        case REDRIVE -> cur.phase() == Phase.DEAD_LETTERED ? a.redrive(cur) : cur;
        default -> a.claim(cur, req(at % 2 == 0 ? P : Q, 1), live(0)).write();
      };
      assertTrue(cur.isConflict());
    }
    assertInstanceOf(ClaimResult.Conflict.class, a.claim(cur, req(P, 1), live(0)).result());
  }
}
