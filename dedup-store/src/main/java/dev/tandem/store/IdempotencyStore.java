package dev.tandem.store;

import dev.tandem.core.PayloadDigest;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The local idempotency store of one instance: one {@link IdRecord} per (shard, id), merged as a
 * lattice join with the other replicas' changes, plus one {@link ShardLease} per shard.
 *
 * <p>Every operation is atomic per id (striped locks: unrelated ids do not serialise). Every write
 * ticks the store's HLC; remote applies observe the remote stamp. Local writes are joins too: the
 * stored record only ever grows, and listeners receive the full merged record.
 *
 * <h2>Claim</h2>
 *
 * {@link #claim} first adds the claim's digest to the record's digests — on every path, including
 * the first write — and answers:
 *
 * <ol>
 *   <li>{@link ClaimResult.Conflict} if the record then holds more than one digest (sticky);
 *   <li>{@link ClaimResult.AlreadyCompleted} if the head is COMPLETED;
 *   <li>{@link ClaimResult.DeadLettered} if the head is DEAD_LETTERED;
 *   <li>{@link ClaimResult.InProgress} if the head is a live CLAIMED and the claim's epoch is not
 *       newer than the head's. This includes a claim by this very owner (another thread of this
 *       instance, or a retry): a store answers {@code Acquired} once per attempt, so two threads of
 *       one instance never both run a handler. A restarted instance therefore waits for its previous
 *       incarnation's lease to expire, unless its instance name carries an incarnation.
 *   <li>otherwise {@link ClaimResult.Acquired}: from ABSENT, RELEASED(k), an expired CLAIMED(k), or a
 *       CLAIMED(k) of an older shard epoch (a takeover), it writes CLAIMED(k+1) with the claim's epoch
 *       and lease. If k+1 would exceed {@code maxAttempts} (claims that kept expiring: a message that
 *       crashes its handler), it writes DEAD_LETTERED instead and answers {@code DeadLettered}.
 *       {@code Acquired} names the claim it follows ({@link ClaimResult.PreviousClaim}: released,
 *       lease expired, or taken over under a newer epoch) so the caller can report a re-run of a
 *       claim whose handler may have run.
 * </ol>
 *
 * A claim's expiry is judged on this store's monotonic clock, counted from when this store first saw
 * that claim version (its HLC stamp) — never by comparing wall clocks of two machines. After a
 * restart the count starts again at the first sight after the restart (conservative: later, never
 * earlier).
 *
 * <h2>Cache</h2>
 *
 * A size-bounded cache ({@code cacheMaxEntries}, evicting the oldest inserted first) holds only
 * terminal records, filled only after RocksDB accepted the write (or returned a terminal record),
 * updated when a terminal record grows through a remote apply, and never holding absence.
 *
 * <h2>TTL</h2>
 *
 * Records expire after {@code ttl} (default 7 days; more precisely between {@code ttl} and
 * {@code ttl + ttl/7} after their head's write) by the engine: records live in time-bucketed column
 * families that are dropped whole. TTL must exceed the longest cross-region lag plus the longest
 * redelivery delay.
 *
 * <h2>Replication</h2>
 *
 * This is the user's API. What replication needs besides it (merging other replicas' records and
 * leases, changelog checkpoints, dropping a revoked shard) is the replica SPI, {@link
 * dev.tandem.store.spi.ReplicaStore}; every store the builder builds implements it.
 */
public interface IdempotencyStore extends AutoCloseable {

  /** A builder of the RocksDB store (the only engine). */
  static RocksIdempotencyStore.Builder builder() {
    return RocksIdempotencyStore.builder();
  }

  /** This store's owner identity: its region and instance. */
  Owner owner();

  /**
   * The record time-to-live this store was built with: a record may be gone {@code ttl} after its
   * last write. Consumers judge staleness against it (a copy older than that may meet no record).
   *
   * <p>A default method so that an implementation written before it still compiles; it throws, and
   * {@code OnceProcessor} needs it: implement it.
   *
   * @throws UnsupportedOperationException if the implementation does not tell its TTL
   */
  default Duration ttl() {
    throw new UnsupportedOperationException(getClass().getName() + " does not implement"
        + " IdempotencyStore.ttl(); OnceProcessor judges staleness against the store's record TTL");
  }

  /**
   * How many claims of one generation this store grants before it dead-letters the id ({@code
   * maxAttempts}): a claim at this attempt that is released is dead-lettered. Consumers use it to give
   * back a claim whose handler never ran without dead-lettering it.
   *
   * @throws UnsupportedOperationException if the implementation does not tell it (the default)
   */
  default int maxAttempts() {
    throw new UnsupportedOperationException(getClass().getName() + " does not implement"
        + " IdempotencyStore.maxAttempts()");
  }

  /**
   * The largest result {@link #complete} accepts, in bytes ({@code maxResultBytes}): a caller that
   * stores a result after a side effect checks its size first, because a refused result leaves the
   * claim neither completed nor released.
   *
   * @throws UnsupportedOperationException if the implementation does not tell it (the default)
   */
  default int maxResultBytes() {
    throw new UnsupportedOperationException(getClass().getName() + " does not implement"
        + " IdempotencyStore.maxResultBytes()");
  }

  /**
   * Claims {@code id} for processing (see the class comment for the rules).
   *
   * @param epoch the shard lease epoch the caller holds (0 if it does not use shard leases)
   * @param lease how long the claim is valid without renewal; must be positive
   */
  ClaimResult claim(String id, int shard, PayloadDigest digest, long epoch, Duration lease);

  /** Claims each request, in order, written in one RocksDB WriteBatch; answers in request order. */
  List<ClaimResult> claimAll(List<ClaimRequest> requests);

  /**
   * Records that this store's owner processed {@code id}. COMPLETED is terminal and beats any
   * concurrent claim or release of the generation, including a claim of another owner that took an
   * expired claim over (the side effect happened; the record says so). Adds this owner's completer
   * (region, instance, attempt of the head). If the record is already COMPLETED, only the completer is
   * added: the first stored result stays. From ABSENT (e.g. the shard was dropped meanwhile) it writes
   * COMPLETED(1) with no digest.
   *
   * @param result a small result to store with the record (e.g. an HTTP response), or {@code null}
   * @return the merged record now stored
   * @throws IllegalArgumentException if {@code result} exceeds {@code maxResultBytes}
   */
  IdRecord complete(String id, int shard, byte[] result);

  /** Completes each request, in order, written in one RocksDB WriteBatch; records in request order. */
  List<IdRecord> completeAll(List<CompleteRequest> requests);

  /**
   * The handler of this owner's claim failed: writes RELEASED(k), so a redelivery may claim k+1. If
   * k has reached {@code maxAttempts}, writes DEAD_LETTERED (reason {@code max-attempts}) instead: the
   * caller learns it from the returned record's {@link IdRecord#phase()} and must route the message to
   * its dead-letter path. If the record is not claimed by this owner (it is terminal, or another
   * owner's claim superseded ours), nothing is written and the current record is returned.
   *
   * @throws IllegalStateException if there is no record for the id
   */
  IdRecord release(String id, int shard);

  /**
   * Dead-letters the current generation (reason e.g. {@code STALE}, {@code poison}). Does nothing to a
   * COMPLETED record (completion beats a dead letter) and returns it. From ABSENT it writes
   * DEAD_LETTERED(0) so every region learns the id is dead-lettered.
   */
  IdRecord deadLetter(String id, int shard, String reason);

  /**
   * An operator's re-drive of a dead-lettered id: opens generation {@code g+1} (head RELEASED(0)), so
   * the next claim acquires attempt 1 of the new generation. Digests and completers stay (a conflict
   * stays a conflict).
   *
   * @throws IllegalStateException if the record is absent or not DEAD_LETTERED
   */
  IdRecord redrive(String id, int shard);

  /**
   * Renews this owner's live claim for a long handler: writes the same attempt with a new HLC stamp
   * and lease, which every replica counts from when it first sees it. If the record is not claimed by
   * this owner any more, nothing is written and the current record is returned: the caller sees the
   * claim was lost from {@link IdRecord#isClaimedBy}.
   *
   * @throws IllegalStateException if there is no record for the id
   */
  IdRecord renew(String id, int shard, Duration lease);

  /**
   * The record of {@code id}, if any (cache first for terminal records, then RocksDB).
   *
   * @throws IllegalArgumentException if the id is null, empty or longer than 128 characters, or the
   *     shard is negative (an id with control characters is never stored: it is simply not found)
   */
  Optional<IdRecord> get(String id, int shard);

  /** Whether the id is COMPLETED or DEAD_LETTERED; answered from the cache when it can be. */
  boolean isTerminal(String id, int shard);

  /**
   * The terminal (COMPLETED or DEAD_LETTERED) records among {@code keys}, for a batch of "already
   * done?" checks such as one Kafka poll: cached records first, then one RocksDB {@code multiGet} for
   * all the misses (the terminal records found fill the cache). Keys that are absent or not terminal
   * are not in the map; a key given twice is answered once.
   *
   * <p>The default answers key by key through {@link #get}; the RocksDB store overrides it.
   *
   * @throws NullPointerException if a key is null
   */
  default Map<RecordKey, IdRecord> terminalRecords(Collection<RecordKey> keys) {
    Map<RecordKey, IdRecord> found = new java.util.HashMap<>();
    for (RecordKey key : keys) {
      get(key.id(), key.shard()).filter(IdRecord::isTerminal).ifPresent(r -> found.put(key, r));
    }
    return found;
  }

  /** The lease of {@code shard}, if this store holds one. */
  Optional<ShardLease> lease(int shard);

  /** Every lease this store holds, by shard. */
  List<ShardLease> leases();

  /**
   * A local lease write (acquire, renew, take over) — merged with the stored lease; listeners are told
   * with {@link WriteOrigin#LOCAL}. Observes the lease's heartbeat stamp in the HLC.
   *
   * @return the merged lease now stored
   */
  ShardLease mergeLease(ShardLease lease);

  /** The store's hybrid logical clock, ticked (for heartbeats stamped by the caller). */
  long tickHlc();

  /**
   * Visits every record of {@code shard} from one consistent RocksDB snapshot, each id once, in no
   * particular order (bucket by bucket). The action runs while the store holds a shared lock that
   * keeps TTL buckets from being dropped mid-scan: it must not call back into this store.
   */
  void forEach(int shard, Consumer<IdRecord> action);

  /** Visits every record of every shard; as {@link #forEach(int, Consumer)}. */
  void forEach(Consumer<IdRecord> action);

  /** Adds a listener told of every write (see {@link StoreListener} for the threading rules). */
  void addListener(StoreListener listener);

  /**
   * Removes a listener added by {@link #addListener}, so it is no longer told of writes and the store
   * no longer keeps it (and what it refers to) reachable. A component that adds a listener to a store
   * that outlives it removes it when it closes. Removes one registration of that instance (compared
   * with {@code equals}); a listener not added is ignored. A write under way on another thread may
   * still call it once.
   */
  void removeListener(StoreListener listener);

  /**
   * Ids, among the records this store holds, whose record is a detected cross-region duplicate
   * (completers from two regions). Persisted per shard with the writes that change it: the same
   * record applied again, in any order, counts once; {@link dev.tandem.store.spi.ReplicaStore#dropShard} takes the shard's duplicates
   * with its records (the instance that restores the shard counts them), so the sum over a region's
   * instances is the region's figure; a record dropped by the TTL leaves the count. It can therefore
   * go down: the meter {@code tandem.store.detected.duplicates} is a gauge. Replicas holding the same
   * shards and updates count the same.
   */
  long detectedDuplicates();

  /** Current figures. */
  StoreStats stats();

  /** Releases every native handle. Idempotent. */
  @Override
  void close();
}
