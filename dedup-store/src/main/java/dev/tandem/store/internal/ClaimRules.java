package dev.tandem.store.internal;

import dev.tandem.core.Hlc;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemClock;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.Completer;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import java.time.Duration;
import java.util.SortedSet;
import java.util.function.ToLongFunction;

/**
 * The record transitions of {@link dev.tandem.store.IdempotencyStore} (claim, complete, release,
 * dead-letter, re-drive, renew) as pure functions of the stored record: each answers the record to
 * write (a lattice join of the stored record and a new head, or {@code null} when nothing is written)
 * and what the caller is told. No RocksDB, no locks: the store calls these under the id's stripe and
 * stages the write; tests call them directly with a {@link dev.tandem.core.ManualClock}.
 *
 * <p>Every new head is written by this store's owner, stamped with a fresh tick of the store's HLC
 * and the wall clock (the wall clock only places the record in a TTL bucket). Every write is a join
 * with the stored record, so the stored record only ever grows.
 */
public final class ClaimRules {

  /** The reason of a dead letter written because the attempts ran out. */
  public static final String MAX_ATTEMPTS_REASON = "max-attempts";

  /**
   * What a claim does: the record to write ({@code null}: nothing) and the answer; {@code
   * deadLetteredNow} when this claim dead-lettered the id (the attempts ran out), as opposed to
   * finding it dead-lettered.
   */
  public record Claim(IdRecord write, ClaimResult result, boolean deadLetteredNow) {}

  /**
   * What a release, a dead letter, a re-drive, a renewal or a completion does: the record to write
   * ({@code null}: nothing, {@code current} is the answer) and the record the caller is answered.
   */
  public record Change(IdRecord write, IdRecord answer) {
    static Change none(IdRecord current) {
      return new Change(null, current);
    }

    static Change to(IdRecord merged) {
      return new Change(merged, merged);
    }

    /** Whether a record is written. */
    public boolean writes() {
      return write != null;
    }
  }

  private final Owner owner;
  private final int maxAttempts;
  private final Hlc hlc;
  private final TandemClock clock;

  /**
   * @param owner who writes the new heads
   * @param maxAttempts claims of one generation granted before the id is dead-lettered
   * @param hlc the store's HLC, ticked for every new head
   * @param clock the wall clock stamped on new heads (TTL placement only)
   */
  public ClaimRules(Owner owner, int maxAttempts, Hlc hlc, TandemClock clock) {
    this.owner = owner;
    this.maxAttempts = maxAttempts;
    this.hlc = hlc;
    this.clock = clock;
  }

  /**
   * The claim rules (see {@link dev.tandem.store.IdempotencyStore}'s class comment).
   *
   * @param cur the stored record, or {@code null} if there is none
   * @param remainingMillis how long a CLAIMED record stays live as judged by this store's own clock
   *     (asked only for a live-looking CLAIMED head that is not a conflict: asking records a
   *     sighting)
   */
  public Claim claim(IdRecord cur, ClaimRequest req, ToLongFunction<IdRecord> remainingMillis) {
    long leaseMillis = Math.max(1, req.lease().toMillis());
    if (cur == null) {
      // the first write: the head and the claim's digest built at once (one record, not two)
      IdRecord first = head(req.id(), req.shard(), 0, Phase.CLAIMED, 1, req.epoch(), leaseMillis,
          null, null, sortedOf(req.digest()), emptyCompleters());
      return new Claim(first, new ClaimResult.Acquired(1, 0, req.epoch()), false);
    }
    ClaimResult.PreviousClaim previous = null;
    // the digest joins the record on every path, the first write included
    IdRecord withDigest = cur.merge(withSets(cur, sortedOf(req.digest()), emptyCompleters()));
    if (withDigest.isConflict()) {
      return new Claim(withDigest, new ClaimResult.Conflict(withDigest.digests()), false);
    }
    switch (cur.phase()) {
      case COMPLETED -> {
        return new Claim(withDigest, new ClaimResult.AlreadyCompleted(withDigest), false);
      }
      case DEAD_LETTERED -> {
        return new Claim(withDigest, new ClaimResult.DeadLettered(withDigest), false);
      }
      case CLAIMED -> {
        long remaining = remainingMillis.applyAsLong(cur);
        if (remaining > 0 && req.epoch() <= cur.epoch()) {
          return new Claim(withDigest, new ClaimResult.InProgress(cur.owner(), remaining), false);
        }
        // expired on our clock, or superseded by a newer shard epoch (takeover): a new attempt. An
        // expired claim is named as such even under a newer epoch: its handler may have run, and the
        // caller reports a re-run of it (a takeover's bound may count it too; reported twice, never 0)
        previous = new ClaimResult.PreviousClaim(cur.owner(), cur.attempt(), cur.epoch(),
            remaining > 0 ? ClaimResult.PreviousClaim.Reason.TAKEN_OVER
                : ClaimResult.PreviousClaim.Reason.LEASE_EXPIRED);
      }
      case RELEASED -> {
        // a new attempt (attempt 0 is a re-drive's fresh generation: nothing ran in it)
        previous = cur.attempt() == 0 ? null : new ClaimResult.PreviousClaim(cur.owner(),
            cur.attempt(), cur.epoch(), ClaimResult.PreviousClaim.Reason.RELEASED);
      }
    }
    int next = cur.attempt() + 1;
    if (next > maxAttempts) {
      IdRecord dl = head(cur.id(), cur.shard(), cur.generation(), Phase.DEAD_LETTERED,
          cur.attempt(), Math.max(cur.epoch(), req.epoch()), 0, null, MAX_ATTEMPTS_REASON);
      IdRecord merged = withDigest.merge(dl);
      return new Claim(merged, new ClaimResult.DeadLettered(merged), true);
    }
    IdRecord claim = head(cur.id(), cur.shard(), cur.generation(), Phase.CLAIMED, next,
        req.epoch(), leaseMillis, null, null);
    return new Claim(withDigest.merge(claim),
        new ClaimResult.Acquired(next, cur.generation(), req.epoch(), previous), false);
  }

  /**
   * A completion by this owner: COMPLETED beats any claim or release of the generation; on a
   * COMPLETED record only this owner's completer joins (the first result stays); from nothing it
   * writes COMPLETED(1) with no digest. Always writes (the store skips a join equal to the stored).
   */
  public IdRecord complete(IdRecord cur, String id, int shard, byte[] result) {
    if (cur == null) {
      return head(id, shard, 0, Phase.COMPLETED, 1, 0, 0, result, null, emptyDigests(),
          completer(1));

    }
    if (cur.phase() == Phase.COMPLETED) {
      // the first completion's head and result stay; only this owner's completer joins
      return cur.merge(withSets(cur, emptyDigests(), completer(cur.attempt())));
    }
    // cur ⊔ (cur's head, ∅, {me}) ⊔ (COMPLETED head, ∅, ∅) written as one join: the completer
    // rides on the COMPLETED head, which equals the three-way join by the lattice laws. The head
    // carries cur's digests too (a union with them changes nothing), so the join is the head
    // itself when cur has no completers: no second record for the sets (issue 20)
    IdRecord done = head(cur.id(), cur.shard(), cur.generation(), Phase.COMPLETED, cur.attempt(),
        cur.epoch(), 0, result, null, cur.digests(), completer(cur.attempt()));
    return cur.merge(done);
  }

  /**
   * This owner's handler failed: RELEASED(k), or DEAD_LETTERED ({@link #MAX_ATTEMPTS_REASON}) when
   * k reached {@code maxAttempts}. Nothing when the record is not claimed by this owner.
   */
  public Change release(IdRecord cur) {
    if (!cur.isClaimedBy(owner)) {
      return Change.none(cur);
    }
    IdRecord next = cur.attempt() >= maxAttempts
        ? head(cur.id(), cur.shard(), cur.generation(), Phase.DEAD_LETTERED, cur.attempt(),
            cur.epoch(), 0, null, MAX_ATTEMPTS_REASON)
        : head(cur.id(), cur.shard(), cur.generation(), Phase.RELEASED, cur.attempt(),
            cur.epoch(), 0, null, null);
    return Change.to(cur.merge(next));
  }

  /**
   * Dead-letters the current generation; nothing to a terminal record (completion beats a dead
   * letter; a dead letter stays as it is); DEAD_LETTERED(0) from nothing.
   */
  public Change deadLetter(IdRecord cur, String id, int shard, String reason) {
    if (cur == null) {
      return Change.to(head(id, shard, 0, Phase.DEAD_LETTERED, 0, 0, 0, null, reason));
    }
    if (cur.phase().isTerminal()) {
      return Change.none(cur);
    }
    return Change.to(cur.merge(head(cur.id(), cur.shard(), cur.generation(), Phase.DEAD_LETTERED,
        cur.attempt(), cur.epoch(), 0, null, reason)));
  }

  /**
   * Opens generation {@code g+1} (head RELEASED(0)) over a dead letter; digests and completers stay.
   *
   * @throws IllegalStateException if the record is not DEAD_LETTERED
   */
  public IdRecord redrive(IdRecord cur) {
    if (cur.phase() != Phase.DEAD_LETTERED) {
      throw new IllegalStateException("only a dead-lettered id can be re-driven; " + cur.shard()
          + "/" + cur.id() + " is " + cur.phase());
    }
    return cur.merge(head(cur.id(), cur.shard(), cur.generation() + 1, Phase.RELEASED, 0,
        cur.epoch(), 0, null, null));
  }

  /**
   * Renews this owner's live claim: the same attempt with a new HLC stamp and lease. Nothing when the
   * record is not claimed by this owner.
   */
  public Change renew(IdRecord cur, Duration lease) {
    if (!cur.isClaimedBy(owner)) {
      return Change.none(cur);
    }
    return Change.to(cur.merge(head(cur.id(), cur.shard(), cur.generation(), Phase.CLAIMED,
        cur.attempt(), cur.epoch(), Math.max(1, lease.toMillis()), null, null)));
  }

  /** A new head: this owner, a fresh HLC tick, written now; empty sets. */
  private IdRecord head(String id, int shard, long generation, Phase phase, int attempt,
      long epoch, long leaseMillis, byte[] result, String reason) {
    return head(id, shard, generation, phase, attempt, epoch, leaseMillis, result, reason, null,
        null);
  }

  /** A new head with the given sets (one record instead of a head and its {@code withSets} copy). */
  private IdRecord head(String id, int shard, long generation, Phase phase, int attempt,
      long epoch, long leaseMillis, byte[] result, String reason, SortedSet<PayloadDigest> digests,
      SortedSet<Completer> completers) {
    return new IdRecord(id, shard, generation, phase, attempt, epoch, owner, leaseMillis,
        hlc.tick(), clock.wallMillis(), digests, completers, result, reason);
  }

  /** A copy of {@code r} with other sets (its head unchanged). */
  private static IdRecord withSets(IdRecord r, SortedSet<PayloadDigest> d, SortedSet<Completer> c) {
    return new IdRecord(r.id(), r.shard(), r.generation(), r.phase(), r.attempt(), r.epoch(),
        r.owner(), r.leaseMillis(), r.hlc(), r.writtenAtMillis(), d, c, r.result(), r.reason());
  }

  private SortedSet<Completer> completer(int attempt) {
    return SmallSortedSet.of(Completer.of(owner, attempt));
  }

  private static SortedSet<PayloadDigest> sortedOf(PayloadDigest d) {
    return SmallSortedSet.of(d);
  }

  private static SortedSet<PayloadDigest> emptyDigests() {
    return SmallSortedSet.empty();
  }

  private static SortedSet<Completer> emptyCompleters() {
    return SmallSortedSet.empty();
  }
}
