package dev.tandem.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.testkit.TestRegions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/**
 * The record lattice: merge is commutative, associative and idempotent over random records, and any
 * order, duplication or interleaving of a set of updates converges to their join. Domains are small
 * on purpose, so random records often tie on some fields (where naive orders break).
 */
class IdRecordProperties {

  static final List<PayloadDigest> DIGESTS =
      List.of(Stores.digest("p1"), Stores.digest("p2"), Stores.digest("p3"));
  static final List<Owner> OWNERS = List.of(Owner.of("region-a", "a1"), Owner.of("region-a", "a2"),
      Owner.of("region-b", "b1"), Owner.of("region-b", "b2"));

  @Provide
  Arbitrary<IdRecord> records() {
    Arbitrary<Phase> phase = Arbitraries.of(Phase.class);
    Arbitrary<Integer> attempt = Arbitraries.integers().between(0, 3);
    Arbitrary<Long> small = Arbitraries.longs().between(0, 2);
    Arbitrary<Owner> owner = Arbitraries.of(OWNERS);
    Arbitrary<Long> hlc = Arbitraries.longs().between(0, 4);
    Arbitrary<Set<PayloadDigest>> digests = Arbitraries.of(DIGESTS).set().ofMaxSize(2);
    Arbitrary<Set<Completer>> completers =
        Combinators.combine(Arbitraries.of(OWNERS), Arbitraries.integers().between(0, 2))
            .as(Completer::of).set().ofMaxSize(2);
    Arbitrary<byte[]> result =
        Arbitraries.of(0, 1, 2).map(i -> i == 0 ? null : new byte[] {i.byteValue()});
    Arbitrary<String> reason = Arbitraries.of("", "x").map(s -> s.isEmpty() ? null : s);
    Arbitrary<Long> lease = Arbitraries.of(0L, 1000L);
    // two flat combinations (no flatMap: it is slow to generate and shrinks poorly)
    Arbitrary<Head> heads = Combinators.combine(small, phase, attempt, small, owner, lease, hlc,
        small).as(Head::new);
    Arbitrary<Tail> tails = Combinators.combine(digests, completers, result, reason).as(Tail::new);
    return Combinators.combine(heads, tails).as((h, t) -> new IdRecord("m", 0, h.generation,
        h.phase, h.phase == Phase.CLAIMED && h.attempt == 0 ? 1 : h.attempt, h.epoch, h.owner,
        h.lease, h.hlc, h.writtenAt, new TreeSet<>(t.digests), new TreeSet<>(t.completers),
        t.result, t.reason));
  }

  private record Head(long generation, Phase phase, int attempt, long epoch, Owner owner,
      long lease, long hlc, long writtenAt) {}

  private record Tail(Set<PayloadDigest> digests, Set<Completer> completers, byte[] result,
      String reason) {}

  @Property(tries = 1000)
  void mergeIsCommutative(@ForAll("records") IdRecord a, @ForAll("records") IdRecord b) {
    assertEquals(a.merge(b), b.merge(a));
  }

  @Property(tries = 1000)
  void mergeIsAssociative(@ForAll("records") IdRecord a, @ForAll("records") IdRecord b,
      @ForAll("records") IdRecord c) {
    assertEquals(a.merge(b).merge(c), a.merge(b.merge(c)));
  }

  @Property(tries = 1000)
  void mergeIsIdempotentAndAnUpperBound(@ForAll("records") IdRecord a,
      @ForAll("records") IdRecord b) {
    assertEquals(a, a.merge(a));
    IdRecord j = a.merge(b);
    assertEquals(j, j.merge(a));
    assertEquals(j, j.merge(b));
    assertTrue(j.digests().containsAll(a.digests()) && j.digests().containsAll(b.digests()));
    assertTrue(j.completers().containsAll(a.completers()));
  }

  @Property(tries = 1000)
  void headOrderIsTotalAndAntisymmetric(@ForAll("records") IdRecord a,
      @ForAll("records") IdRecord b) {
    assertEquals(Integer.signum(a.headCompareTo(b)), -Integer.signum(b.headCompareTo(a)));
    if (a.headCompareTo(b) == 0) {
      assertEquals(a.withSets(b.digests(), b.completers()), b);
    }
  }

  @Property(tries = 500)
  void anyOrderDuplicationOrInterleavingConvergesToTheJoin(
      @ForAll @Size(min = 1, max = 8) List<@net.jqwik.api.From("records") IdRecord> updates,
      @ForAll Random random) {
    IdRecord join = fold(updates);
    for (int replica = 0; replica < 3; replica++) {
      List<IdRecord> delivery = new ArrayList<>(updates);
      int dups = random.nextInt(updates.size() + 1);
      for (int i = 0; i < dups; i++) {
        delivery.add(updates.get(random.nextInt(updates.size())));
      }
      Collections.shuffle(delivery, random);
      assertEquals(join, fold(delivery));
    }
    // interleaving: two replicas each fold a part, then exchange their states
    int cut = random.nextInt(updates.size() + 1);
    List<IdRecord> left = updates.subList(0, cut);
    List<IdRecord> right = updates.subList(cut, updates.size());
    if (!left.isEmpty() && !right.isEmpty()) {
      assertEquals(join, fold(left).merge(fold(right)));
      assertEquals(join, fold(right).merge(fold(left)));
    }
  }

  @Property(tries = 1000)
  void conflictAndDetectedDuplicateAreSticky(@ForAll("records") IdRecord a,
      @ForAll("records") IdRecord b) {
    IdRecord j = a.merge(b);
    if (a.isConflict() || b.isConflict()) {
      assertTrue(j.isConflict());
    }
    if (a.isDetectedDuplicate() || b.isDetectedDuplicate()) {
      assertTrue(j.isDetectedDuplicate());
    }
  }

  static IdRecord fold(List<IdRecord> updates) {
    IdRecord acc = updates.get(0);
    for (IdRecord r : updates) {
      acc = acc.merge(r);
    }
    return acc;
  }

  // ---- the cases a naive design gets wrong ----

  static IdRecord rec(long g, Phase p, int attempt, long epoch, Owner o, long hlc) {
    return new IdRecord("m", 0, g, p, attempt, epoch, o, 1000, hlc, hlc,
        new TreeSet<>(Set.of(DIGESTS.get(0))), null, null, null);
  }

  static final Owner A1 = OWNERS.get(0);
  static final Owner B1 = OWNERS.get(2);

  @Example
  void aLateClaimAfterACompletionDoesNotReopenIt() {
    IdRecord completed = rec(0, Phase.COMPLETED, 1, 0, A1, 10)
        .withSets(new TreeSet<>(Set.of(DIGESTS.get(0))), new TreeSet<>(Set.of(Completer.of(A1, 1))));
    IdRecord lateClaim = rec(0, Phase.CLAIMED, 2, 1, B1, 99); // newer attempt, epoch and stamp
    assertEquals(Phase.COMPLETED, completed.merge(lateClaim).phase());
    assertEquals(completed, lateClaim.merge(completed));
  }

  @Example
  void aReleaseRacingAClaim() {
    IdRecord released = rec(0, Phase.RELEASED, 1, 0, A1, 20);
    IdRecord claimNext = rec(0, Phase.CLAIMED, 2, 0, B1, 15); // earlier stamp, next attempt
    assertEquals(claimNext, released.merge(claimNext));
    assertEquals(claimNext, claimNext.merge(released));
    IdRecord claimSame = rec(0, Phase.CLAIMED, 1, 0, A1, 25); // a late copy of the released claim
    assertEquals(released, released.merge(claimSame));
    assertEquals(released, claimSame.merge(released));
  }

  @Example
  void twoCompletionsFromTwoRegionsAreOneRecordWithTwoCompleters() {
    IdRecord claimed = rec(0, Phase.CLAIMED, 1, 0, A1, 1);
    IdRecord atA = claimed.merge(rec(0, Phase.COMPLETED, 1, 0, A1, 5)
        .withSets(claimed.digests(), new TreeSet<>(Set.of(Completer.of(A1, 1)))));
    IdRecord atB = rec(0, Phase.COMPLETED, 1, 0, B1, 6)
        .withSets(claimed.digests(), new TreeSet<>(Set.of(Completer.of(B1, 1))));
    IdRecord ab = atA.merge(atB);
    assertEquals(ab, atB.merge(atA));
    assertEquals(Set.of(Completer.of(A1, 1), Completer.of(B1, 1)), ab.completers());
    assertTrue(ab.isDetectedDuplicate());
    assertEquals(B1, ab.owner()); // the same head everywhere: the greater stamp
  }

  @Example
  void aRenewalOfEpochERacingATakeoverAtEPlusOne() {
    ShardLease old = ShardLease.of(3, 5, TestRegions.A, 100);
    ShardLease takeover = old.takenOverBy(TestRegions.B, 120);
    ShardLease lateRenewal = old.renewed(10_000, 42, 8, 0, true, null); // much newer stamp
    assertEquals(takeover, takeover.merge(lateRenewal));
    assertEquals(takeover, lateRenewal.merge(takeover));
    assertEquals(6, old.merge(lateRenewal).merge(takeover).epoch());
  }

  @Example
  void aRedriveAfterADeadLetterOpensANewGenerationThatOldUpdatesCannotBeat() {
    IdRecord dl = rec(0, Phase.DEAD_LETTERED, 5, 0, A1, 50);
    IdRecord redriven = rec(1, Phase.RELEASED, 0, 0, A1, 60);
    IdRecord lateOldCompletion = rec(0, Phase.COMPLETED, 5, 0, B1, 70);
    IdRecord lateOldClaim = rec(0, Phase.CLAIMED, 6, 2, B1, 80);
    IdRecord all = fold(List.of(lateOldClaim, redriven, dl, lateOldCompletion));
    assertEquals(1, all.generation());
    assertEquals(Phase.RELEASED, all.phase());
    IdRecord claimG1 = rec(1, Phase.CLAIMED, 1, 0, A1, 90);
    assertEquals(claimG1, all.merge(claimG1));
  }

  // ---- shard leases ----

  @Provide
  Arbitrary<ShardLease> leases() {
    return Combinators.combine(Arbitraries.longs().between(0, 2),
            Arbitraries.of(TestRegions.A, TestRegions.B),
            Arbitraries.longs().between(0, 3), Arbitraries.longs().between(-1, 1),
            Arbitraries.integers().between(0, 1), Arbitraries.of(true, false),
            Arbitraries.of("", "k"))
        .as((e, o, hb, pos, w, reach, attr) -> new ShardLease(0, e, o, hb, pos, w, 0, reach,
            attr.isEmpty() ? null : new java.util.TreeMap<>(java.util.Map.of(attr, "v"))));
  }

  @Property(tries = 1000)
  void leaseMergeIsALattice(@ForAll("leases") ShardLease a, @ForAll("leases") ShardLease b,
      @ForAll("leases") ShardLease c) {
    assertEquals(a.merge(b), b.merge(a));
    assertEquals(a.merge(b).merge(c), a.merge(b.merge(c)));
    assertEquals(a, a.merge(a));
    assertTrue(a.merge(b).epoch() == Math.max(a.epoch(), b.epoch()));
  }
}
