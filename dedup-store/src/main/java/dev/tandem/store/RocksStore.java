package dev.tandem.store;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import dev.tandem.core.Hlc;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemClock;
import dev.tandem.core.TandemIds;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.function.Function;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The record logic of the store over {@link RocksEngine}: claim / complete / release / ... decided
 * under the id's stripe lock, written as lattice joins in one WriteBatch, then (after RocksDB
 * accepted the batch) the cache, the claim sightings, the counters and the listeners are updated.
 *
 * <p>Lock order, always: id stripes (ascending) → lease lock → engine read lock. The engine write
 * lock (bucket drops, shard drops, close) is taken alone, never while holding a stripe.
 */
final class RocksStore implements IdempotencyStore {

  private static final Logger LOG = LoggerFactory.getLogger(RocksStore.class);
  static final String MAX_ATTEMPTS_REASON = "max-attempts";
  /**
   * Bound of the {@link #recent} map: enough for every claim in flight of a busy consumer (claimAll
   * batches of a few hundred, several partitions); an evicted entry only costs a RocksDB read.
   */
  static final int RECENT_MAX_ENTRIES = 8192;

  private final Owner owner;
  private final TandemClock clock;
  private final Hlc hlc;
  private final long ttlMillis;
  private final int maxAttempts;
  private final int maxResultBytes;
  private final RocksEngine engine;
  private final StripedLocks locks = new StripedLocks();
  private final ReentrantLock leaseLock = new ReentrantLock();
  private final ReentrantReadWriteLock engineLock = new ReentrantReadWriteLock();
  /** Terminal records only, put only after RocksDB accepted them; never absence. */
  private final Cache<RecordKey, IdRecord> cache;
  /**
   * The non-terminal records this process last wrote or read under each id's stripe, with their
   * bucket, so the write that follows (a complete after its claim, a release, a renew) merges into the
   * record in hand instead of reading and decoding it again. Invariant: an entry equals what RocksDB
   * holds for the key. It is put and read only under the key's stripe (and the engine read lock), put
   * only after RocksDB accepted the write, removed when the record turns terminal (the terminal
   * {@link #cache} takes over), and cleared wherever RocksDB loses records behind the store's back
   * (bucket drops, shard drops, close). A miss only means a RocksDB read.
   */
  private final Cache<RecordKey, RocksEngine.Stored> recent;
  private final ClaimSightings sightings;
  private final Map<Integer, ShardLease> leaseMap = new ConcurrentHashMap<>();
  /**
   * Detected duplicates among the records held: per TTL bucket start and shard, as persisted (see
   * RocksEngine.DETECTED_PREFIX), and their sum. Changed only after RocksDB accepted the change.
   */
  private final Map<Long, Map<Integer, AtomicLong>> detectedCounts = new ConcurrentHashMap<>();
  private final AtomicLong detectedDuplicates = new AtomicLong();
  private final List<StoreListener> listeners = new CopyOnWriteArrayList<>();
  private final StoreMetrics metrics;
  /** Wall millis at which the oldest bucket expires; Long.MAX_VALUE when there is none. */
  private final AtomicLong nextExpiryAt = new AtomicLong(Long.MAX_VALUE);
  private volatile boolean closed;

  RocksStore(RocksIdempotencyStore.Builder b) {
    this.owner = new Owner(b.region, b.instance);
    this.clock = b.clock;
    this.hlc = new Hlc(b.clock);
    this.ttlMillis = b.ttl.toMillis();
    this.maxAttempts = b.maxAttempts;
    this.maxResultBytes = b.maxResultBytes;
    this.engine =
        RocksEngine.open(b.directory, b.sync, ttlMillis / RocksIdempotencyStore.TTL_BUCKETS);
    try {
      this.cache = Caffeine.newBuilder().maximumSize(b.cacheMaxEntries).recordStats().build();
      this.recent = Caffeine.newBuilder().maximumSize(RECENT_MAX_ENTRIES).build();
      this.sightings = new ClaimSightings(clock);
      for (ShardLease l : engine.readLeases()) {
        leaseMap.put(l.shard(), l);
        hlc.observe(l.heartbeatHlc());
      }
      Map<Long, Map<Integer, Long>> counts;
      if (engine.hasLegacyDetectedCounter()) {
        // an earlier version kept one all-time counter: count the records held, once
        counts = engine.countDetectedInRecords();
        engine.migrateDetectedCounts(counts);
        LOG.info("store {}: detected duplicates are now counted per shard among the records held",
            b.directory);
      } else {
        counts = engine.readDetectedCounts();
      }
      counts.forEach((bucket, byShard) -> byShard.forEach((shard, n) -> addDetected(bucket, shard, n)));
      this.metrics = new StoreMetrics(b.meterRegistry, owner.region().name());
      metrics.detectedDuplicates(detectedDuplicates);
      metrics.cache(cache);
      metrics.gauge(StoreMetrics.SIZE, "estimated number of records (RocksDB estimate-num-keys)",
          this, RocksStore::sizeEstimate);
      metrics.gauge(StoreMetrics.BUCKETS, "live TTL buckets", this, s -> s.engine.bucketCount());
      metrics.gauge(StoreMetrics.CACHE + ".hit.ratio", "terminal-record cache hit ratio", cache,
          c -> c.stats().hitRate());
      recomputeNextExpiry();
      maintain(); // drop buckets that expired while the store was closed
    } catch (RuntimeException e) {
      engine.close();
      throw e;
    }
  }

  @Override
  public Owner owner() {
    return owner;
  }

  @Override
  public Duration ttl() {
    return Duration.ofMillis(ttlMillis);
  }

  @Override
  public int maxAttempts() {
    return maxAttempts;
  }

  @Override
  public int maxResultBytes() {
    return maxResultBytes;
  }

  // ------------------------------------------------------------------ claim

  @Override
  public ClaimResult claim(String id, int shard, PayloadDigest digest, long epoch, Duration lease) {
    ClaimRequest req = new ClaimRequest(id, shard, digest, epoch, lease); // validates the id
    RecordKey key = key(req);
    long t0 = System.nanoTime();
    maybeMaintain(); // before the cache answers: an expired bucket empties it
    ClaimResult r = fromCache(key, req);
    if (r == null) {
      r = withLocks(List.of(key), false, batch -> decideClaim(batch, key, req));
    }
    count(r);
    metrics.claimLatency.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
    return r;
  }

  @Override
  public List<ClaimResult> claimAll(List<ClaimRequest> requests) {
    long t0 = System.nanoTime();
    maybeMaintain();
    ClaimResult[] out = new ClaimResult[requests.size()];
    List<Integer> slow = new ArrayList<>();
    for (int i = 0; i < out.length; i++) {
      ClaimRequest req = Objects.requireNonNull(requests.get(i), "request");
      out[i] = fromCache(key(req), req);
      if (out[i] == null) {
        slow.add(i);
      }
    }
    if (!slow.isEmpty()) {
      List<RecordKey> keys = slow.stream().map(i -> key(requests.get(i))).toList();
      withLocks(keys, false, batch -> {
        for (int i : slow) {
          out[i] = decideClaim(batch, key(requests.get(i)), requests.get(i));
        }
        return null;
      });
    }
    for (ClaimResult r : out) {
      count(r);
    }
    metrics.claimLatency.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
    return List.of(out);
  }

  /**
   * A terminal answer from the cache, or null. Only when the digest is already in the cached record:
   * a new digest must be written (and makes a conflict), so that path goes to RocksDB.
   */
  private ClaimResult fromCache(RecordKey key, ClaimRequest req) {
    IdRecord cached = cache.getIfPresent(key);
    if (cached == null || !cached.digests().contains(req.digest())) {
      return null;
    }
    if (cached.isConflict()) {
      return new ClaimResult.Conflict(cached.digests());
    }
    return cached.phase() == Phase.COMPLETED
        ? new ClaimResult.AlreadyCompleted(cached)
        : new ClaimResult.DeadLettered(cached);
  }

  /** The claim rules of {@link IdempotencyStore}; the caller holds the id's stripe. */
  private ClaimResult decideClaim(Batch batch, RecordKey key, ClaimRequest req) {
    RocksEngine.Stored stored = batch.current(key);
    long leaseMillis = Math.max(1, req.lease().toMillis());
    if (stored == null) {
      // the first write: the head and the claim's digest built at once (one record, not two)
      IdRecord first = head(key, 0, Phase.CLAIMED, 1, req.epoch(), leaseMillis, null, null,
          sortedOf(req.digest()), emptyCompleters());
      batch.stage(key, null, first, WriteOrigin.LOCAL);
      return new ClaimResult.Acquired(1, 0, req.epoch());
    }
    IdRecord cur = stored.record();
    ClaimResult.PreviousClaim previous = null;
    // the digest joins the record on every path, the first write included
    IdRecord withDigest = cur.merge(cur.withSets(sortedOf(req.digest()), emptyCompleters()));
    if (withDigest.isConflict()) {
      batch.stage(key, stored, withDigest, WriteOrigin.LOCAL);
      metrics.conflicts.increment();
      return new ClaimResult.Conflict(withDigest.digests());
    }
    switch (cur.phase()) {
      case COMPLETED -> {
        batch.stage(key, stored, withDigest, WriteOrigin.LOCAL);
        return new ClaimResult.AlreadyCompleted(withDigest);
      }
      case DEAD_LETTERED -> {
        batch.stage(key, stored, withDigest, WriteOrigin.LOCAL);
        return new ClaimResult.DeadLettered(withDigest);
      }
      case CLAIMED -> {
        long remaining = sightings.remainingMillis(key, cur);
        if (remaining > 0 && req.epoch() <= cur.epoch()) {
          batch.stage(key, stored, withDigest, WriteOrigin.LOCAL);
          return new ClaimResult.InProgress(cur.owner(), remaining);
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
      IdRecord dl = head(key, cur.generation(), Phase.DEAD_LETTERED, cur.attempt(),
          Math.max(cur.epoch(), req.epoch()), 0, null, MAX_ATTEMPTS_REASON);
      IdRecord merged = withDigest.merge(dl);
      batch.stage(key, stored, merged, WriteOrigin.LOCAL);
      metrics.deadLetters.increment();
      return new ClaimResult.DeadLettered(merged);
    }
    IdRecord claim =
        head(key, cur.generation(), Phase.CLAIMED, next, req.epoch(), leaseMillis, null, null);
    batch.stage(key, stored, withDigest.merge(claim), WriteOrigin.LOCAL);
    return new ClaimResult.Acquired(next, cur.generation(), req.epoch(), previous);
  }

  private void count(ClaimResult r) {
    if (r instanceof ClaimResult.Acquired) {
      metrics.acquired.increment();
    } else if (r instanceof ClaimResult.AlreadyCompleted) {
      metrics.alreadyCompleted.increment();
    } else if (r instanceof ClaimResult.InProgress) {
      metrics.inProgress.increment();
    } else if (r instanceof ClaimResult.Conflict) {
      metrics.conflict.increment();
    } else {
      metrics.deadLettered.increment();
    }
  }

  // ------------------------------------------------------------------ complete, release, ...

  @Override
  public IdRecord complete(String id, int shard, byte[] result) {
    CompleteRequest req = new CompleteRequest(id, shard, result); // validates the id
    checkResultSize(req);
    long t0 = System.nanoTime();
    RecordKey key = new RecordKey(shard, id);
    IdRecord out = withLocks(List.of(key), false, batch -> decideComplete(batch, key, result));
    metrics.completes.increment();
    metrics.completeLatency.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
    return out;
  }

  private void checkResultSize(CompleteRequest r) {
    if (r.result() != null && r.result().length > maxResultBytes) {
      throw new IllegalArgumentException(
          "a stored result is at most " + maxResultBytes + " bytes (maxResultBytes); got "
              + r.result().length + " for id " + r.id());
    }
  }

  @Override
  public List<IdRecord> completeAll(List<CompleteRequest> requests) {
    for (CompleteRequest r : requests) {
      checkResultSize(r);
    }
    long t0 = System.nanoTime();
    List<RecordKey> keys = requests.stream().map(r -> new RecordKey(r.shard(), r.id())).toList();
    List<IdRecord> out = withLocks(keys, false, batch -> {
      List<IdRecord> done = new ArrayList<>(requests.size());
      for (CompleteRequest r : requests) {
        done.add(decideComplete(batch, new RecordKey(r.shard(), r.id()), r.result()));
      }
      return done;
    });
    metrics.completes.increment(requests.size());
    metrics.completeLatency.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
    return out;
  }

  private IdRecord decideComplete(Batch batch, RecordKey key, byte[] result) {
    RocksEngine.Stored stored = batch.current(key);
    IdRecord merged;
    if (stored == null) {
      merged = head(key, 0, Phase.COMPLETED, 1, 0, 0, result, null)
          .withSets(emptyDigests(), completer(1));
    } else {
      IdRecord cur = stored.record();
      if (cur.phase() == Phase.COMPLETED) {
        // the first completion's head and result stay; only this owner's completer joins
        merged = cur.merge(cur.withSets(emptyDigests(), completer(cur.attempt())));
      } else {
        // cur ⊔ (cur's head, ∅, {me}) ⊔ (COMPLETED head, ∅, ∅) written as one join: the completer
        // rides on the COMPLETED head, which equals the three-way join by the lattice laws
        IdRecord done = head(key, cur.generation(), Phase.COMPLETED, cur.attempt(), cur.epoch(), 0,
            result, null, emptyDigests(), completer(cur.attempt()));
        merged = cur.merge(done);
      }
    }
    batch.stage(key, stored, merged, WriteOrigin.LOCAL);
    return merged;
  }

  @Override
  public IdRecord release(String id, int shard) {
    RecordKey key = new RecordKey(shard, TandemIds.validate(id));
    return withLocks(List.of(key), false, batch -> {
      RocksEngine.Stored stored = requireRecord(batch, key, "release");
      IdRecord cur = stored.record();
      if (!cur.isClaimedBy(owner)) {
        return cur;
      }
      IdRecord next;
      if (cur.attempt() >= maxAttempts) {
        next = head(key, cur.generation(), Phase.DEAD_LETTERED, cur.attempt(), cur.epoch(), 0, null,
            MAX_ATTEMPTS_REASON);
        metrics.deadLetters.increment();
      } else {
        next = head(key, cur.generation(), Phase.RELEASED, cur.attempt(), cur.epoch(), 0, null,
            null);
        metrics.releases.increment();
      }
      IdRecord merged = cur.merge(next);
      batch.stage(key, stored, merged, WriteOrigin.LOCAL);
      return merged;
    });
  }

  @Override
  public IdRecord deadLetter(String id, int shard, String reason) {
    Objects.requireNonNull(reason, "reason");
    RecordKey key = new RecordKey(shard, TandemIds.validate(id));
    return withLocks(List.of(key), false, batch -> {
      RocksEngine.Stored stored = batch.current(key);
      IdRecord merged;
      if (stored == null) {
        merged = head(key, 0, Phase.DEAD_LETTERED, 0, 0, 0, null, reason);
      } else {
        IdRecord cur = stored.record();
        if (cur.phase().isTerminal()) {
          return cur; // completion beats a dead letter; a dead letter stays as it is
        }
        merged = cur.merge(head(key, cur.generation(), Phase.DEAD_LETTERED, cur.attempt(),
            cur.epoch(), 0, null, reason));
      }
      batch.stage(key, stored, merged, WriteOrigin.LOCAL);
      metrics.deadLetters.increment();
      return merged;
    });
  }

  @Override
  public IdRecord redrive(String id, int shard) {
    RecordKey key = new RecordKey(shard, TandemIds.validate(id));
    return withLocks(List.of(key), false, batch -> {
      RocksEngine.Stored stored = requireRecord(batch, key, "re-drive");
      IdRecord cur = stored.record();
      if (cur.phase() != Phase.DEAD_LETTERED) {
        throw new IllegalStateException(
            "only a dead-lettered id can be re-driven; " + shard + "/" + id + " is " + cur.phase());
      }
      IdRecord merged = cur.merge(
          head(key, cur.generation() + 1, Phase.RELEASED, 0, cur.epoch(), 0, null, null));
      batch.stage(key, stored, merged, WriteOrigin.LOCAL);
      metrics.redrives.increment();
      return merged;
    });
  }

  @Override
  public IdRecord renew(String id, int shard, Duration lease) {
    RecordKey key = new RecordKey(shard, TandemIds.validate(id));
    if (lease == null || lease.isNegative() || lease.isZero()) {
      throw new IllegalArgumentException("a claim lease must be positive, got " + lease);
    }
    return withLocks(List.of(key), false, batch -> {
      RocksEngine.Stored stored = requireRecord(batch, key, "renew");
      IdRecord cur = stored.record();
      if (!cur.isClaimedBy(owner)) {
        return cur;
      }
      IdRecord merged = cur.merge(head(key, cur.generation(), Phase.CLAIMED, cur.attempt(),
          cur.epoch(), Math.max(1, lease.toMillis()), null, null));
      batch.stage(key, stored, merged, WriteOrigin.LOCAL);
      return merged;
    });
  }

  private RocksEngine.Stored requireRecord(Batch batch, RecordKey key, String what) {
    RocksEngine.Stored stored = batch.current(key);
    if (stored == null) {
      throw new IllegalStateException(
          "cannot " + what + " " + key.shard() + "/" + key.id() + ": the store has no record of it");
    }
    return stored;
  }

  // ------------------------------------------------------------------ reads

  // Reads check ids with RecordKey's cheap check (null, empty, length) only: the full validation
  // runs where an id enters a write, so an id with control characters was never stored and a read
  // of it finds nothing.

  @Override
  public Optional<IdRecord> get(String id, int shard) {
    RecordKey key = new RecordKey(shard, id);
    maybeMaintain();
    IdRecord cached = cache.getIfPresent(key);
    return Optional.ofNullable(cached != null ? cached : readThrough(key));
  }

  @Override
  public boolean isTerminal(String id, int shard) {
    RecordKey key = new RecordKey(shard, id);
    maybeMaintain();
    if (cache.getIfPresent(key) != null) {
      return true;
    }
    IdRecord r = readThrough(key);
    return r != null && r.isTerminal();
  }

  /** A cache miss: the stored record (null if absent), a terminal one put in the cache. */
  private IdRecord readThrough(RecordKey key) {
    // the fill happens under the stripe, so it cannot overwrite a newer write's cache update
    return withLocks(List.of(key), false, batch -> {
      RocksEngine.Stored stored = batch.current(key);
      if (stored == null) {
        return null;
      }
      if (stored.record().isTerminal()) {
        cache.put(key, stored.record());
      }
      return stored.record();
    });
  }

  @Override
  public Map<RecordKey, IdRecord> terminalRecords(Collection<RecordKey> keys) {
    maybeMaintain();
    Map<RecordKey, IdRecord> found = new HashMap<>();
    LinkedHashSet<RecordKey> missed = new LinkedHashSet<>();
    for (RecordKey key : keys) {
      IdRecord cached = cache.getIfPresent(Objects.requireNonNull(key, "key"));
      if (cached != null) {
        found.put(key, cached);
      } else {
        missed.add(key); // a key given twice is read once
      }
    }
    if (missed.isEmpty()) {
      return found;
    }
    List<RecordKey> distinct = new ArrayList<>(missed);
    // one multiGet for every miss; the fills happen under the stripes, as in readThrough
    withLocks(distinct, false, batch -> {
      RocksEngine.Stored[] stored = batch.currentAll(distinct);
      for (int i = 0; i < stored.length; i++) {
        if (stored[i] != null && stored[i].record().isTerminal()) {
          cache.put(distinct.get(i), stored[i].record());
          found.put(distinct.get(i), stored[i].record());
        }
      }
      return null;
    });
    return found;
  }

  @Override
  public void forEach(int shard, Consumer<IdRecord> action) {
    readLocked(() -> {
      engine.scan(RecordKey.shardStart(shard), RecordKey.shardEnd(shard),
          (k, r) -> action.accept(r));
      return null;
    });
  }

  @Override
  public void forEach(Consumer<IdRecord> action) {
    readLocked(() -> {
      engine.scan(null, null, (k, r) -> action.accept(r));
      return null;
    });
  }

  @Override
  public Map<String, Long> checkpoints() {
    return readLocked(engine::readCheckpoints);
  }

  // ------------------------------------------------------------------ replication

  @Override
  public IdRecord applyRemote(IdRecord remote) {
    Objects.requireNonNull(remote, "remote");
    RecordKey key = new RecordKey(remote.shard(), remote.id());
    return withLocks(List.of(key), false, batch -> applyOne(batch, key, remote));
  }

  private IdRecord applyOne(Batch batch, RecordKey key, IdRecord remote) {
    hlc.observe(remote.hlc());
    RocksEngine.Stored stored = batch.current(key);
    IdRecord merged = stored == null ? remote : stored.record().merge(remote);
    switch (batch.stage(key, stored, merged, WriteOrigin.REMOTE)) {
      case CHANGED -> metrics.remoteChanged.increment();
      case UNCHANGED -> metrics.remoteUnchanged.increment();
      case EXPIRED -> metrics.remoteExpired.increment();
    }
    return merged;
  }

  @Override
  public void applyRemoteBatch(
      List<IdRecord> records, List<ShardLease> leases, Map<String, Long> checkpoints) {
    List<RecordKey> keys = records.stream().map(r -> new RecordKey(r.shard(), r.id())).toList();
    withLocks(keys, !leases.isEmpty(), batch -> {
      for (IdRecord r : records) {
        applyOne(batch, new RecordKey(r.shard(), r.id()), r);
      }
      for (ShardLease l : leases) {
        batch.stageLease(l, WriteOrigin.REMOTE);
      }
      for (Map.Entry<String, Long> cp : checkpoints.entrySet()) {
        batch.put(engine.meta(), RocksEngine.checkpointKey(cp.getKey()),
            RocksEngine.longBytes(cp.getValue()));
      }
      return null;
    });
  }

  @Override
  public Optional<ShardLease> lease(int shard) {
    return Optional.ofNullable(leaseMap.get(shard));
  }

  @Override
  public List<ShardLease> leases() {
    List<ShardLease> all = new ArrayList<>(leaseMap.values());
    all.sort((a, b) -> Integer.compare(a.shard(), b.shard()));
    return all;
  }

  @Override
  public ShardLease mergeLease(ShardLease lease) {
    return withLocks(List.of(), true, batch -> batch.stageLease(lease, WriteOrigin.LOCAL));
  }

  @Override
  public ShardLease applyRemoteLease(ShardLease lease) {
    return withLocks(List.of(), true, batch -> batch.stageLease(lease, WriteOrigin.REMOTE));
  }

  @Override
  public long tickHlc() {
    return hlc.tick();
  }

  /** Adds {@code delta} to the in-memory detected count of (bucket, shard) and to the total. */
  private void addDetected(long bucket, int shard, long delta) {
    detectedCounts.computeIfAbsent(bucket, x -> new ConcurrentHashMap<>())
        .computeIfAbsent(shard, x -> new AtomicLong()).addAndGet(delta);
    detectedDuplicates.addAndGet(delta);
  }

  /** Forgets the detected counts of {@code shard} (all buckets) or of {@code bucket} (all shards). */
  private void forgetDetected(Long bucket, Integer shard) {
    for (Map.Entry<Long, Map<Integer, AtomicLong>> b : detectedCounts.entrySet()) {
      if (bucket != null && !bucket.equals(b.getKey())) {
        continue;
      }
      for (Map.Entry<Integer, AtomicLong> e : b.getValue().entrySet()) {
        if (shard == null || shard.equals(e.getKey())) {
          detectedDuplicates.addAndGet(-e.getValue().get());
          b.getValue().remove(e.getKey());
        }
      }
    }
  }

  @Override
  public void dropShard(int shard, Collection<String> checkpointKeys) {
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    maybeMaintain();
    engineLock.writeLock().lock();
    try {
      checkOpen();
      try (WriteBatch wb = new WriteBatch()) {
        for (Map.Entry<Long, ColumnFamilyHandle> b : engine.bucketsNewestFirst().entrySet()) {
          wb.deleteRange(b.getValue(), RecordKey.shardStart(shard), RecordKey.shardEnd(shard));
          // the shard's duplicates go with its records; a restore counts them again, once
          wb.delete(engine.meta(), RocksEngine.detectedCountKey(b.getKey(), shard));
        }
        wb.delete(engine.leases(), RocksEngine.leaseKey(shard));
        for (String cp : checkpointKeys) {
          wb.delete(engine.meta(), RocksEngine.checkpointKey(cp));
        }
        engine.write(wb);
      } catch (RocksDBException e) {
        throw engine.failure("drop shard " + shard, e);
      }
      cache.asMap().keySet().removeIf(k -> k.shard() == shard);
      recent.asMap().keySet().removeIf(k -> k.shard() == shard);
      sightings.dropShard(shard);
      leaseMap.remove(shard);
      forgetDetected(null, shard);
    } finally {
      engineLock.writeLock().unlock();
    }
  }

  // ------------------------------------------------------------------ misc

  @Override
  public void addListener(StoreListener listener) {
    listeners.add(Objects.requireNonNull(listener, "listener"));
  }

  @Override
  public long detectedDuplicates() {
    return detectedDuplicates.get();
  }

  @Override
  public StoreStats stats() {
    CacheStats s = cache.stats();
    return new StoreStats((long) sizeEstimate(), engine.bucketCount(), cache.estimatedSize(),
        s.hitCount(), s.missCount(), s.hitRate(), detectedDuplicates.get());
  }

  private double sizeEstimate() {
    if (!engineLock.readLock().tryLock()) {
      return Double.NaN; // a drop or close is running; a gauge must not wait for it
    }
    try {
      return closed ? Double.NaN : engine.estimateKeys();
    } finally {
      engineLock.readLock().unlock();
    }
  }

  @Override
  public void close() {
    engineLock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      metrics.close();
      cache.invalidateAll();
      recent.invalidateAll();
      engine.close();
    } finally {
      engineLock.writeLock().unlock();
    }
  }

  // ------------------------------------------------------------------ TTL maintenance

  private void maybeMaintain() {
    if (clock.wallMillis() >= nextExpiryAt.get()) {
      maintain();
    }
  }

  /** Drops every bucket whose records are all past the TTL; the engine is never scanned. */
  private void maintain() {
    engineLock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      long now = clock.wallMillis();
      List<Long> expired = new ArrayList<>();
      for (long start : engine.bucketsNewestFirst().keySet()) {
        if (isExpiredBucket(start, now)) {
          expired.add(start);
        }
      }
      for (long start : expired) {
        engine.dropBucket(start);
        metrics.bucketsDropped.increment();
        dropDetectedCounts(start);
      }
      if (!expired.isEmpty()) {
        // cached terminal records may have lived in a dropped bucket; the cache must not outlive
        // the TTL. Once per bucket width (a day by default), so the cost is a cold cache, rarely.
        cache.invalidateAll();
        recent.invalidateAll();
        sightings.prune(TimeUnit.MILLISECONDS.toNanos(ttlMillis + engine.bucketWidthMillis));
      }
      recomputeNextExpiry();
    } finally {
      engineLock.writeLock().unlock();
    }
  }

  /** The detected counts of a dropped bucket go with its records. Under the engine write lock. */
  private void dropDetectedCounts(long bucket) {
    Map<Integer, AtomicLong> byShard = detectedCounts.get(bucket);
    if (byShard == null) {
      return;
    }
    try (WriteBatch wb = new WriteBatch()) {
      for (int shard : byShard.keySet()) {
        wb.delete(engine.meta(), RocksEngine.detectedCountKey(bucket, shard));
      }
      engine.write(wb);
    } catch (RocksDBException e) {
      throw engine.failure("drop the detected counts of bucket " + bucket, e);
    }
    forgetDetected(bucket, null);
    detectedCounts.remove(bucket);
  }

  private boolean isExpiredBucket(long start, long now) {
    return start + engine.bucketWidthMillis + ttlMillis <= now;
  }

  private void recomputeNextExpiry() {
    Long oldest = engine.bucketsNewestFirst().isEmpty()
        ? null : engine.bucketsNewestFirst().lastKey();
    nextExpiryAt.set(
        oldest == null ? Long.MAX_VALUE : oldest + engine.bucketWidthMillis + ttlMillis);
  }

  // ------------------------------------------------------------------ plumbing

  private <T> T withLocks(Collection<RecordKey> keys, boolean leases, Function<Batch, T> body) {
    maybeMaintain();
    int[] stripes = locks.lock(keys);
    try {
      if (leases) {
        leaseLock.lock();
      }
      try {
        engineLock.readLock().lock();
        try {
          checkOpen();
          try (Batch batch = new Batch()) {
            T result = body.apply(batch);
            batch.commit();
            return result;
          }
        } finally {
          engineLock.readLock().unlock();
        }
      } finally {
        if (leases) {
          leaseLock.unlock();
        }
      }
    } finally {
      locks.unlock(stripes);
    }
  }

  private <T> T readLocked(java.util.function.Supplier<T> body) {
    maybeMaintain();
    engineLock.readLock().lock();
    try {
      checkOpen();
      return body.get();
    } finally {
      engineLock.readLock().unlock();
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the store at " + engine.directory + " is closed");
    }
  }

  /** A new head for {@code key}: this owner, a fresh HLC tick, written now; empty sets. */
  private IdRecord head(RecordKey key, long generation, Phase phase, int attempt, long epoch,
      long leaseMillis, byte[] result, String reason) {
    return head(key, generation, phase, attempt, epoch, leaseMillis, result, reason, null, null);
  }

  /** A new head with the given sets (one record instead of a head and its {@code withSets} copy). */
  private IdRecord head(RecordKey key, long generation, Phase phase, int attempt, long epoch,
      long leaseMillis, byte[] result, String reason, SortedSet<PayloadDigest> digests,
      SortedSet<Completer> completers) {
    return new IdRecord(key.id(), key.shard(), generation, phase, attempt, epoch, owner,
        leaseMillis, hlc.tick(), clock.wallMillis(), digests, completers, result, reason);
  }

  private SortedSet<Completer> completer(int attempt) {
    TreeSet<Completer> s = new TreeSet<>();
    s.add(Completer.of(owner, attempt));
    return s;
  }

  private static SortedSet<PayloadDigest> sortedOf(PayloadDigest d) {
    TreeSet<PayloadDigest> s = new TreeSet<>();
    s.add(d);
    return s;
  }

  private static SortedSet<PayloadDigest> emptyDigests() {
    return new TreeSet<>();
  }

  private static SortedSet<Completer> emptyCompleters() {
    return new TreeSet<>();
  }

  private static RecordKey key(ClaimRequest r) {
    return new RecordKey(r.shard(), r.id());
  }

  private void notifyRecord(IdRecord r, WriteOrigin origin) {
    for (StoreListener l : listeners) {
      try {
        l.onRecord(r, origin);
      } catch (RuntimeException e) {
        metrics.listenerErrors.increment();
        LOG.warn("store listener {} failed on {} ({}); the write stands", l, r, origin, e);
      }
    }
  }

  private void notifyLease(ShardLease lease, WriteOrigin origin) {
    for (StoreListener l : listeners) {
      try {
        l.onLease(lease, origin);
      } catch (RuntimeException e) {
        metrics.listenerErrors.increment();
        LOG.warn("store listener {} failed on {} ({}); the write stands", l, lease, origin, e);
      }
    }
  }

  enum Staged {
    CHANGED,
    UNCHANGED,
    EXPIRED
  }

  /**
   * The writes of one operation: staged into one WriteBatch, with an overlay so an id touched twice
   * in a batch sees its own earlier write. {@link #commit} writes the batch, then — only then —
   * updates the cache, the sightings, the counter and the listeners.
   */
  private final class Batch implements AutoCloseable {
    /**
     * Created on the second staged write: reads and no-op answers allocate no native batch, and an
     * operation that writes one record (a claim, a complete) writes it with one RocksDB put, which is
     * as atomic as a batch of one and saves the native batch's allocation and three JNI calls.
     */
    private WriteBatch wb;
    /** The only write so far, while {@link #wb} is null (a put of {@link #soloKey} in soloCf). */
    private ColumnFamilyHandle soloCf;
    private byte[] soloKey;
    private byte[] soloValue;
    private final Map<RecordKey, RocksEngine.Stored> overlay = new HashMap<>();
    private final List<Map.Entry<RecordKey, RocksEngine.Stored>> records = new ArrayList<>();
    private final List<WriteOrigin> recordOrigins = new ArrayList<>();
    private final List<ShardLease> leases = new ArrayList<>();
    private final List<WriteOrigin> leaseOrigins = new ArrayList<>();
    /** (bucket, shard, delta) of the detected counts, applied in memory once RocksDB accepted. */
    private List<long[]> detectedDeltas;
    private List<IdRecord> detected;
    private boolean dirty;

    RocksEngine.Stored current(RecordKey key) {
      if (overlay.containsKey(key)) {
        return overlay.get(key);
      }
      // a record this process last wrote or read: its stamp was ticked or observed then
      RocksEngine.Stored s = recent.getIfPresent(key);
      if (s == null) {
        s = engine.get(key.bytes());
        observeRead(key, s);
      }
      overlay.put(key, s);
      return s;
    }

    /**
     * {@link #current} of each distinct key (index for index), the RocksDB reads in one multiGet. For
     * read-only batches: the answers are not added to the overlay, so no write of this batch may
     * follow (terminalRecords is the only caller).
     */
    RocksEngine.Stored[] currentAll(List<RecordKey> keys) {
      RocksEngine.Stored[] out = new RocksEngine.Stored[keys.size()];
      List<Integer> toRead = new ArrayList<>();
      for (int i = 0; i < out.length; i++) {
        RecordKey key = keys.get(i);
        if (overlay.containsKey(key)) {
          out[i] = overlay.get(key);
        } else if ((out[i] = recent.getIfPresent(key)) == null) {
          toRead.add(i);
        }
      }
      if (!toRead.isEmpty()) {
        List<byte[]> raw = new ArrayList<>(toRead.size());
        for (int i : toRead) {
          raw.add(keys.get(i).bytes());
        }
        RocksEngine.Stored[] read = engine.getAll(raw);
        for (int j = 0; j < read.length; j++) {
          out[toRead.get(j)] = read[j];
          observeRead(keys.get(toRead.get(j)), read[j]);
        }
      }
      return out;
    }

    /** A record read from RocksDB: its stamp observed, a non-terminal one kept in {@link #recent}. */
    private void observeRead(RecordKey key, RocksEngine.Stored s) {
      if (s == null) {
        return;
      }
      // every later tick must exceed the stored head's stamp, or a renewal after a restart with
      // a wall clock behind that stamp would lose the merge to the head it renews
      hlc.observe(s.record().hlc());
      if (!s.record().isTerminal()) {
        recent.put(key, s); // read under the stripe: equal to what RocksDB holds
      }
    }

    /**
     * Stages {@code merged} (the join of the stored record and the change) unless it equals what is
     * stored. It goes to the bucket of its head's write time, clamped to [the bucket it is in now,
     * the current bucket]: a record never moves to an older bucket, and a remote clock far ahead
     * cannot create future buckets. A record that is not stored and whose bucket already expired is
     * past its TTL: it is not stored (EXPIRED).
     */
    Staged stage(RecordKey key, RocksEngine.Stored stored, IdRecord merged, WriteOrigin origin) {
      if (stored != null && stored.record().equals(merged)) {
        return Staged.UNCHANGED;
      }
      long now = clock.wallMillis();
      long target = Math.min(engine.bucketStartOf(merged.writtenAtMillis()),
          engine.bucketStartOf(now));
      if (stored != null) {
        target = Math.max(target, stored.bucketStart());
      } else if (isExpiredBucket(target, now)) {
        return Staged.EXPIRED;
      }
      ColumnFamilyHandle cf = engine.bucket(target);
      if (cf == null) {
        cf = engine.createBucket(target);
        // concurrent writers may create buckets: keep the earliest expiry of them all
        nextExpiryAt.accumulateAndGet(target + engine.bucketWidthMillis + ttlMillis, Math::min);
      }
      byte[] k = key.bytes();
      try {
        if (stored != null && stored.bucketStart() != target) {
          batch().delete(engine.bucket(stored.bucketStart()), k);
        }
        putRecord(cf, k, RecordCodec.encode(merged));
        stageDetected(key.shard(), merged, stored, target);
      } catch (RocksDBException e) {
        throw engine.failure("stage a write", e);
      }
      RocksEngine.Stored written = new RocksEngine.Stored(merged, target);
      overlay.put(key, written);
      records.add(Map.entry(key, written));
      recordOrigins.add(origin);
      dirty = true;
      return Staged.CHANGED;
    }

    /**
     * Keeps the detected counts equal to the records held: a record that gains completers from a
     * second region adds one to its (bucket, shard); one that moves to a newer bucket moves its one.
     * So the same record applied again (no change), or again after a shard drop (which removed it
     * and its count), counts once; the TTL drops a bucket's counts with its records.
     */
    private void stageDetected(int shard, IdRecord merged, RocksEngine.Stored stored, long target)
        throws RocksDBException {
      boolean was = stored != null && stored.record().isDetectedDuplicate();
      boolean now = merged.isDetectedDuplicate();
      boolean moved = stored != null && stored.bucketStart() != target;
      if (was && (!now || moved)) {
        detectedDelta(stored.bucketStart(), shard, -1);
      }
      if (now && (!was || moved)) {
        detectedDelta(target, shard, 1);
      }
      if (now && !was) {
        if (detected == null) {
          detected = new ArrayList<>(1);
        }
        detected.add(merged);
      }
    }

    private void detectedDelta(long bucket, int shard, long delta) throws RocksDBException {
      batch().merge(engine.meta(), RocksEngine.detectedCountKey(bucket, shard),
          RocksEngine.uint64Operand(delta));
      if (detectedDeltas == null) {
        detectedDeltas = new ArrayList<>(2);
      }
      detectedDeltas.add(new long[] {bucket, shard, delta});
    }

    /** Stages the join of the stored lease and {@code lease}; caller holds the lease lock. */
    ShardLease stageLease(ShardLease lease, WriteOrigin origin) {
      Objects.requireNonNull(lease, "lease");
      hlc.observe(lease.heartbeatHlc());
      ShardLease cur = leaseMap.get(lease.shard());
      for (int i = leases.size() - 1; i >= 0; i--) {
        if (leases.get(i).shard() == lease.shard()) {
          cur = leases.get(i);
          break;
        }
      }
      ShardLease merged = cur == null ? lease : cur.merge(lease);
      if (merged.equals(cur)) {
        return merged;
      }
      put(engine.leases(), RocksEngine.leaseKey(lease.shard()), RecordCodec.encode(merged));
      leases.add(merged);
      leaseOrigins.add(origin);
      return merged;
    }

    void put(ColumnFamilyHandle cf, byte[] k, byte[] v) {
      try {
        batch().put(cf, k, v);
        dirty = true;
      } catch (RocksDBException e) {
        throw engine.failure("stage a write", e);
      }
    }

    private void putRecord(ColumnFamilyHandle cf, byte[] k, byte[] v) throws RocksDBException {
      if (wb == null && soloKey == null) {
        soloCf = cf;
        soloKey = k;
        soloValue = v;
      } else {
        batch().put(cf, k, v);
      }
    }

    void commit() {
      if (!dirty) {
        return;
      }
      try {
        if (wb != null) {
          engine.write(wb);
        } else {
          engine.put(soloCf, soloKey, soloValue);
        }
      } catch (RuntimeException e) {
        // RocksDB refused the batch: whatever it holds now is read again, never assumed
        for (Map.Entry<RecordKey, RocksEngine.Stored> written : records) {
          recent.invalidate(written.getKey());
        }
        throw e;
      }
      // RocksDB accepted the batch: only now may the caches, counters and listeners see it
      for (int i = 0; i < records.size(); i++) {
        RecordKey key = records.get(i).getKey();
        RocksEngine.Stored now = records.get(i).getValue();
        IdRecord r = now.record();
        if (r.isTerminal()) {
          cache.put(key, r);
          recent.invalidate(key);
        } else {
          cache.invalidate(key); // a re-drive makes a dead letter non-terminal again
          recent.put(key, now);
        }
        sightings.observe(key, r);
      }
      if (detectedDeltas != null) {
        for (long[] d : detectedDeltas) {
          addDetected(d[0], (int) d[1], d[2]);
        }
      }
      if (detected != null) {
        for (IdRecord d : detected) {
          // the operator's trail of a cross-region duplicate: which id, which regions, which epoch
          LOG.warn("Tandem detected a cross-region duplicate: id {} shard {} completed by {} (record"
              + " epoch {}, phase {})", d.id(), d.shard(), d.completers(), d.epoch(), d.phase());
        }
      }
      for (ShardLease l : leases) {
        leaseMap.merge(l.shard(), l, ShardLease::merge);
      }
      for (int i = 0; i < records.size(); i++) {
        notifyRecord(records.get(i).getValue().record(), recordOrigins.get(i));
      }
      for (int i = 0; i < leases.size(); i++) {
        notifyLease(leases.get(i), leaseOrigins.get(i));
      }
    }

    private WriteBatch batch() throws RocksDBException {
      if (wb == null) {
        wb = new WriteBatch();
        if (soloKey != null) { // the write staged before this one goes first, in order
          wb.put(soloCf, soloKey, soloValue);
          soloKey = null;
          soloValue = null;
        }
      }
      return wb;
    }

    @Override
    public void close() {
      if (wb != null) {
        wb.close();
      }
    }
  }

}
