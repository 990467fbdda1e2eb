package dev.tandem.store;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemIds;
import dev.tandem.store.internal.SmallSortedSet;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Objects;
import java.util.SortedSet;

/**
 * The record of one id: an element of a join-semilattice, so replicas that have seen the same set of
 * updates hold the same record whatever order, duplication or interleaving the updates came in.
 *
 * <p>A record is a <em>head</em> (every field but the two sets) plus two grow-only sets:
 *
 * <pre>
 * merge(a, b) = ( max(head a, head b) — the head's fields travel together, result included,
 *                 digests a ∪ digests b,
 *                 completers a ∪ completers b )
 * </pre>
 *
 * <p>The head order ({@link #headCompareTo}) is a total order on heads:
 *
 * <ol>
 *   <li>{@code generation} first — an operator's re-drive of a dead letter opens {@code g+1};
 *   <li>then the phase rank: COMPLETED &gt; DEAD_LETTERED &gt; any non-terminal;
 *   <li>two non-terminal heads by (attempt, phase CLAIMED &lt; RELEASED, epoch, hlc, region,
 *       instance) — so a release or a takeover, being a newer attempt or a later phase, wins, and a
 *       late CLAIMED never beats a COMPLETED of its generation;
 *   <li>two terminal heads of the same phase by (attempt, hlc, region, instance);
 *   <li>then, only to make the order total (so merge is commutative even for heads that agree on
 *       everything above): epoch, leaseMillis, writtenAtMillis, result bytes, reason.
 * </ol>
 *
 * Max under a total order is commutative, associative and idempotent; so is set union; so is their
 * product. {@code IdRecordProperties} checks it.
 *
 * <p>{@link #isConflict()}: more than one digest was ever seen for the id (sticky: sets only grow).
 * {@link #isDetectedDuplicate()}: completers from two or more regions.
 *
 * @param id the idempotency id (at most 128 characters)
 * @param shard the shard (Kafka partition, or id-hash bucket), {@code >= 0}
 * @param generation 0 at first; {@code g+1} after a re-drive
 * @param phase the head's phase
 * @param attempt the attempt number: 0 before the first claim of a generation, k for the k-th claim
 * @param epoch the shard lease epoch the head was written under
 * @param owner who wrote the head (claimer, releaser, completer, dead-letterer)
 * @param leaseMillis for CLAIMED: how long the claim is valid, counted on each observer's monotonic
 *     clock from when it first saw this claim version; otherwise informational
 * @param hlc the hybrid logical clock stamp of the head write
 * @param writtenAtMillis wall clock of the head write; used only to place the record in a TTL bucket
 * @param digests every payload digest seen for the id (sorted, unmodifiable)
 * @param completers every completion seen (sorted, unmodifiable)
 * @param result optional small stored result (e.g. an HTTP response), travels with the head; may be
 *     {@code null}
 * @param reason optional reason of a DEAD_LETTERED head; travels with the head; may be {@code null}
 */
public record IdRecord(
    String id,
    int shard,
    long generation,
    Phase phase,
    int attempt,
    long epoch,
    Owner owner,
    long leaseMillis,
    long hlc,
    long writtenAtMillis,
    SortedSet<PayloadDigest> digests,
    SortedSet<Completer> completers,
    byte[] result,
    String reason) {

  private static final Comparator<byte[]> BYTES =
      Comparator.nullsFirst(Arrays::compareUnsigned);
  private static final Comparator<String> STRINGS = Comparator.nullsFirst(Comparator.naturalOrder());

  /**
   * Validates every field (the id as {@code TandemIds.validate}, non-negative numbers, CLAIMED with
   * attempt &gt;= 1) and copies the sets (sorted, unmodifiable) and the result.
   */
  public IdRecord {
    TandemIds.validate(id);
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    if (generation < 0) {
      throw new IllegalArgumentException("generation must be >= 0, got " + generation);
    }
    Objects.requireNonNull(phase, "phase");
    if (attempt < 0) {
      throw new IllegalArgumentException("attempt must be >= 0, got " + attempt);
    }
    if (phase == Phase.CLAIMED && attempt == 0) {
      throw new IllegalArgumentException("a CLAIMED record has attempt >= 1");
    }
    if (epoch < 0) {
      throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
    }
    Objects.requireNonNull(owner, "owner");
    if (leaseMillis < 0) {
      throw new IllegalArgumentException("leaseMillis must be >= 0, got " + leaseMillis);
    }
    digests = immutableSorted(digests);
    completers = immutableSorted(completers);
    result = result == null ? null : result.clone();
  }

  private static <T extends Comparable<T>> SortedSet<T> immutableSorted(
      java.util.Collection<T> in) {
    // one sorted array, not a TreeSet: the sets hold one element almost always (issue 20)
    return SmallSortedSet.copyOf(in);
  }

  /** The stored result, copied; {@code null} if none. */
  @Override
  public byte[] result() {
    return result == null ? null : result.clone();
  }

  /** The stored result itself, not copied (package use: the encoder); callers must not change it. */
  byte[] resultBytes() {
    return result;
  }

  /** Size of the stored result in bytes without copying it; -1 if none. */
  public int resultLength() {
    return result == null ? -1 : result.length;
  }

  /** The join of this record and {@code other} (both for the same id and shard). */
  public IdRecord merge(IdRecord other) {
    if (!id.equals(other.id) || shard != other.shard) {
      throw new IllegalArgumentException(
          "cannot merge records of different ids: " + shard + "/" + id + " and " + other.shard
              + "/" + other.id);
    }
    IdRecord head = headCompareTo(other) >= 0 ? this : other;
    SortedSet<PayloadDigest> d = union(digests, other.digests);
    SortedSet<Completer> c = union(completers, other.completers);
    if (d == head.digests && c == head.completers) {
      return head;
    }
    return head.withSets(d, c);
  }

  private static <T extends Comparable<T>> SortedSet<T> union(SortedSet<T> a, SortedSet<T> b) {
    if (b.isEmpty() || a.containsAll(b)) {
      return a;
    }
    if (a.isEmpty() || b.containsAll(a)) {
      return b;
    }
    return SmallSortedSet.union(a, b);
  }

  /**
   * Compares the heads of two records of one id under the lattice order documented on this class.
   * Returns 0 only when every head field is equal.
   */
  public int headCompareTo(IdRecord o) {
    int c = Long.compare(generation, o.generation);
    if (c != 0) {
      return c;
    }
    c = Integer.compare(phase.headRank(), o.phase.headRank());
    if (c != 0) {
      return c;
    }
    c = Integer.compare(attempt, o.attempt);
    if (c != 0) {
      return c;
    }
    if (!phase.isTerminal()) {
      // CLAIMED < RELEASED at the same attempt: a release is the later step of that attempt
      c = Integer.compare(phase.ordinal(), o.phase.ordinal());
      if (c != 0) {
        return c;
      }
      c = Long.compare(epoch, o.epoch);
      if (c != 0) {
        return c;
      }
    }
    c = Long.compare(hlc, o.hlc);
    if (c != 0) {
      return c;
    }
    c = owner.compareTo(o.owner);
    if (c != 0) {
      return c;
    }
    // tie-breakers that make the order total; equal on all of them means equal heads
    c = Long.compare(epoch, o.epoch);
    if (c != 0) {
      return c;
    }
    c = Long.compare(leaseMillis, o.leaseMillis);
    if (c != 0) {
      return c;
    }
    c = Long.compare(writtenAtMillis, o.writtenAtMillis);
    if (c != 0) {
      return c;
    }
    c = BYTES.compare(result, o.result);
    if (c != 0) {
      return c;
    }
    return STRINGS.compare(reason, o.reason);
  }

  /** More than one payload digest was seen for this id: a conflict, sticky. */
  public boolean isConflict() {
    return digests.size() > 1;
  }

  /** Completers from two or more distinct regions: the id was processed in both. */
  public boolean isDetectedDuplicate() {
    // by index: the set is always a SmallSortedSet (the constructor makes it one)
    SmallSortedSet<Completer> cs = (SmallSortedSet<Completer>) completers;
    for (int i = 1; i < cs.size(); i++) {
      if (!cs.get(0).region().equals(cs.get(i).region())) {
        return true;
      }
    }
    return false;
  }

  /** Whether the head is terminal (COMPLETED or DEAD_LETTERED). */
  public boolean isTerminal() {
    return phase.isTerminal();
  }

  /** Whether the head is a claim written by {@code who}. */
  public boolean isClaimedBy(Owner who) {
    return phase == Phase.CLAIMED && owner.equals(who);
  }

  /** A copy with other sets (package use: merge and the store's writes). */
  IdRecord withSets(SortedSet<PayloadDigest> d, SortedSet<Completer> c) {
    return new IdRecord(
        id, shard, generation, phase, attempt, epoch, owner, leaseMillis, hlc, writtenAtMillis, d, c,
        result, reason);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof IdRecord r
        && shard == r.shard
        && generation == r.generation
        && attempt == r.attempt
        && epoch == r.epoch
        && leaseMillis == r.leaseMillis
        && hlc == r.hlc
        && writtenAtMillis == r.writtenAtMillis
        && phase == r.phase
        && id.equals(r.id)
        && owner.equals(r.owner)
        && digests.equals(r.digests)
        && completers.equals(r.completers)
        && Arrays.equals(result, r.result)
        && Objects.equals(reason, r.reason);
  }

  @Override
  public int hashCode() {
    int h = Objects.hash(id, shard, generation, phase, attempt, epoch, owner, leaseMillis, hlc,
        writtenAtMillis, digests, completers, reason);
    return 31 * h + Arrays.hashCode(result);
  }

  @Override
  public String toString() {
    return "IdRecord[" + shard + "/" + id + " g" + generation + " " + phase + "(" + attempt + ") e"
        + epoch + " by " + owner + " lease=" + leaseMillis + "ms hlc=" + hlc + " at="
        + writtenAtMillis + " digests=" + digests.size() + (isConflict() ? "(CONFLICT)" : "")
        + " completers=" + completers + (result == null ? "" : " result=" + result.length + "B")
        + (reason == null ? "" : " reason=" + reason) + "]";
  }
}
