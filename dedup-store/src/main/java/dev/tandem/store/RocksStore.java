package dev.tandem.store;

import dev.tandem.core.Hlc;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemClock;
import dev.tandem.core.TandemIds;
import dev.tandem.store.internal.ClaimRules;
import dev.tandem.store.internal.DetectedCounts;
import dev.tandem.store.internal.LeaseTable;
import dev.tandem.store.internal.StoreListeners;
import dev.tandem.store.internal.TtlBuckets;
import dev.tandem.store.spi.ReplicaStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RocksDB idempotency store: the operations of {@link IdempotencyStore} and {@link ReplicaStore}
 * put together from their parts. (Why over 500 lines: it implements the thirty-odd operations of both
 * interfaces, each a few lines of validate → lock → rule → stage → count; every concept they use is
 * a class of its own, named below, and splitting the operations further would only scatter one
 * interface's implementation.)
 *
 * <p>Each operation takes its locks ({@link StoreLocks}: id stripes → lease lock → engine read lock),
 * decides with {@link ClaimRules} (pure transitions over {@link IdRecord}) or {@link RemoteApply},
 * stages the joins in one {@link StoreBatch}, and only after RocksDB accepted the batch are the {@link
 * RecordCaches}, the {@link ClaimSightings}, the {@link DetectedCounts}, the {@link LeaseTable} and
 * the {@link StoreListeners} updated. {@link TtlBuckets} decides which buckets to drop and {@link
 * TtlMaintenance} drops them, under the engine write lock alone.
 */
final class RocksStore implements IdempotencyStore, ReplicaStore {

  private static final Logger LOG = LoggerFactory.getLogger(RocksStore.class);
  static final String MAX_ATTEMPTS_REASON = ClaimRules.MAX_ATTEMPTS_REASON;

  private final Owner owner;
  private final TandemClock clock;
  private final Hlc hlc;
  private final int maxAttempts;
  private final int maxResultBytes;
  private final RocksEngine engine;
  private final StoreLocks locks;
  private final TtlBuckets ttl;
  private final ClaimRules rules;
  private final RecordCaches caches;
  private final ClaimSightings sightings;
  private final LeaseTable leaseTable = new LeaseTable();
  private final DetectedCounts detected = new DetectedCounts();
  private final StoreListeners listeners;
  private final StoreMetrics metrics;
  private final RemoteApply remote;
  private final StoreBatch.Parts parts;
  private final TtlMaintenance ttlMaintenance;

  RocksStore(RocksIdempotencyStore.Builder b) {
    this.owner = new Owner(b.region, b.instance);
    this.clock = b.clock;
    this.hlc = new Hlc(b.clock);
    this.maxAttempts = b.maxAttempts;
    this.maxResultBytes = b.maxResultBytes;
    long ttlMillis = b.ttl.toMillis();
    this.engine =
        RocksEngine.open(b.directory, b.sync, ttlMillis / RocksIdempotencyStore.TTL_BUCKETS,
            b.statistics);
    ExpiryWatch watch = null;
    try {
      this.locks = new StoreLocks(engine.directory.toString());
      this.ttl = new TtlBuckets(ttlMillis, engine.bucketWidthMillis);
      this.rules = new ClaimRules(owner, maxAttempts, hlc, clock);
      this.caches = new RecordCaches(b.cacheMaxEntries);
      this.sightings = new ClaimSightings(clock);
      List<ShardLease> stored = engine.readLeases();
      leaseTable.load(stored);
      for (ShardLease l : stored) {
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
      counts.forEach((bucket, byShard) ->
          byShard.forEach((shard, n) -> detected.add(bucket, shard, n)));
      this.metrics = new StoreMetrics(b.meterRegistry, owner.region().name());
      this.listeners = new StoreListeners(metrics.listenerErrors::increment);
      this.remote = new RemoteApply(engine, hlc, metrics, ttl, clock);
      this.parts = new StoreBatch.Parts(engine, caches, sightings, ttl, detected, leaseTable,
          listeners, hlc, clock);
      metrics.detectedDuplicates(detected.totalHolder());
      metrics.cache(caches);
      metrics.gauge(StoreMeterNames.SIZE, "estimated number of records (RocksDB estimate-num-keys)",
          this, RocksStore::sizeEstimate);
      metrics.gauge(StoreMeterNames.TTL_BUCKETS, "live TTL buckets", this,
          s -> s.engine.bucketCount());
      metrics.gauge(StoreMeterNames.CACHE_HIT_RATIO, "terminal-record cache hit ratio",
          caches, c -> c.figures().hitRate());
      watch = b.ttlWaker != null
          ? new ExpiryWatch(ttl, clock, b.ttlWaker) // a test's hand-driven waker
          : ExpiryWatch.of(ttl, clock, ExpiryWatch.SHARED);
      this.ttlMaintenance = new TtlMaintenance(engine, locks, ttl, clock, detected, caches,
          sightings, metrics, watch);
      ttlMaintenance.recomputeNextExpiry();
      ttlMaintenance.maintain(); // drop buckets that expired while the store was closed
    } catch (RuntimeException e) {
      if (watch != null) {
        watch.close(); // no wake-ups for a store that failed to open
      }
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
    return Duration.ofMillis(ttl.ttlMillis());
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
    long t0 = System.nanoTime();
    maybeMaintain(); // before the cache answers: an expired bucket empties it
    ClaimResult r = fromCache(req);
    if (r == null) {
      RecordKey key = key(req); // the key object only for the RocksDB path
      // withLocks' steps for one record, written out: no key list, index array or lambdas
      int stripe = locks.lockOne(key);
      try (StoreBatch batch = new StoreBatch(parts)) {
        r = decideClaim(batch, key, req);
        batch.commit();
      } finally {
        locks.unlockOne(stripe);
      }
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
      out[i] = fromCache(req);
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
  private ClaimResult fromCache(ClaimRequest req) {
    IdRecord cached = caches.terminal(req.shard(), req.id());
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

  /** {@link ClaimRules#claim} on the stored record, staged; the caller holds the id's stripe. */
  private ClaimResult decideClaim(StoreBatch batch, RecordKey key, ClaimRequest req) {
    RocksEngine.Stored stored = batch.current(key);
    ClaimRules.Claim c = rules.claim(stored == null ? null : stored.record(), req,
        cur -> sightings.remainingMillis(key, cur));
    batch.stage(key, stored, c.write(), WriteOrigin.LOCAL);
    if (c.result() instanceof ClaimResult.Conflict && stored != null) {
      metrics.conflicts.increment();
    } else if (c.deadLetteredNow()) {
      metrics.deadLetters.increment();
    }
    return c.result();
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
    // CompleteRequest's checks, without the request object (completeAll's requests make them)
    TandemIds.validate(id);
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    checkResultSize(id, result);
    long t0 = System.nanoTime();
    RecordKey key = new RecordKey(shard, id);
    maybeMaintain();
    IdRecord out;
    // withLocks' steps for one record, written out: no key list, index array or lambdas
    int stripe = locks.lockOne(key);
    try (StoreBatch batch = new StoreBatch(parts)) {
      out = decideComplete(batch, key, result);
      batch.commit();
    } finally {
      locks.unlockOne(stripe);
    }
    metrics.completes.increment();
    metrics.completeLatency.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
    return out;
  }

  private void checkResultSize(String id, byte[] result) {
    if (result != null && result.length > maxResultBytes) {
      throw new IllegalArgumentException(
          "a stored result is at most " + maxResultBytes + " bytes (maxResultBytes); got "
              + result.length + " for id " + id);
    }
  }

  @Override
  public List<IdRecord> completeAll(List<CompleteRequest> requests) {
    for (CompleteRequest r : requests) {
      checkResultSize(r.id(), r.result());
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

  private IdRecord decideComplete(StoreBatch batch, RecordKey key, byte[] result) {
    RocksEngine.Stored stored = batch.current(key);
    IdRecord merged =
        rules.complete(stored == null ? null : stored.record(), key.id(), key.shard(), result);
    batch.stage(key, stored, merged, WriteOrigin.LOCAL);
    return merged;
  }

  @Override
  public IdRecord release(String id, int shard) {
    RecordKey key = new RecordKey(shard, TandemIds.validate(id));
    return withLocks(List.of(key), false, batch -> {
      RocksEngine.Stored stored = requireRecord(batch, key, "release");
      ClaimRules.Change c = rules.release(stored.record());
      if (c.writes()) {
        batch.stage(key, stored, c.write(), WriteOrigin.LOCAL);
        if (c.write().phase() == Phase.DEAD_LETTERED) {
          metrics.deadLetters.increment();
        } else {
          metrics.releases.increment();
        }
      }
      return c.answer();
    });
  }

  @Override
  public IdRecord deadLetter(String id, int shard, String reason) {
    Objects.requireNonNull(reason, "reason");
    RecordKey key = new RecordKey(shard, TandemIds.validate(id));
    return withLocks(List.of(key), false, batch -> {
      RocksEngine.Stored stored = batch.current(key);
      ClaimRules.Change c =
          rules.deadLetter(stored == null ? null : stored.record(), id, shard, reason);
      if (c.writes()) {
        batch.stage(key, stored, c.write(), WriteOrigin.LOCAL);
        metrics.deadLetters.increment();
      }
      return c.answer();
    });
  }

  @Override
  public IdRecord redrive(String id, int shard) {
    RecordKey key = new RecordKey(shard, TandemIds.validate(id));
    return withLocks(List.of(key), false, batch -> {
      RocksEngine.Stored stored = requireRecord(batch, key, "re-drive");
      IdRecord merged = rules.redrive(stored.record());
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
      ClaimRules.Change c = rules.renew(stored.record(), lease);
      if (c.writes()) {
        batch.stage(key, stored, c.write(), WriteOrigin.LOCAL);
      }
      return c.answer();
    });
  }

  private static RocksEngine.Stored requireRecord(StoreBatch batch, RecordKey key, String what) {
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
    checkReadable(id, shard);
    maybeMaintain();
    IdRecord cached = caches.terminal(shard, id);
    return Optional.ofNullable(cached != null ? cached : readThrough(new RecordKey(shard, id)));
  }

  /**
   * The cache-hit path allocates nothing: the terminal cache is keyed by the id ({@link
   * RecordCaches}), and the key object is made only on a miss. It reads no clock with the system
   * clock: the TTL check before it (a cached record must not outlive its TTL bucket) compares
   * volatile fields the waker keeps ({@link ExpiryWatch}); the look-up is an array load and a {@code
   * ConcurrentHashMap.get}, the hit count a store into this thread's own cell.
   */
  @Override
  public boolean isTerminal(String id, int shard) {
    checkReadable(id, shard);
    maybeMaintain();
    if (caches.terminal(shard, id) != null) {
      return true;
    }
    IdRecord r = readThrough(new RecordKey(shard, id));
    return r != null && r.isTerminal();
  }

  /** {@link RecordKey}'s checks, without the key. */
  private static void checkReadable(String id, int shard) {
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    RecordKey.checkReadable(id);
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
        caches.putTerminal(stored.record());
      }
      return stored.record();
    });
  }

  @Override
  public Map<RecordKey, IdRecord> terminalRecords(Collection<RecordKey> keys) {
    maybeMaintain();
    Map<RecordKey, IdRecord> found = new HashMap<>(); // its table is made at the first hit
    // the misses in an array, in the order given. A key given twice is not de-duplicated: both
    // copies go to the one getAll below and get the same answer (read under the same stripes),
    // so the map is the same. A poll repeats a key only when a record was fetched twice (a producer
    // retry); hashing every key of every poll into a set to save that rare second read was 13 % of
    // the interceptor's onConsume (issue 20, profiles/quiet-2026-12-05T1443-consumer).
    RecordKey[] missed = new RecordKey[keys.size()];
    int misses = 0;
    for (RecordKey key : keys) {
      Objects.requireNonNull(key, "key");
      IdRecord cached = caches.terminal(key.shard(), key.id());
      if (cached != null) {
        found.put(key, cached);
      } else {
        missed[misses++] = key;
      }
    }
    if (misses == 0) {
      return found;
    }
    List<RecordKey> toRead = misses == missed.length
        ? Arrays.asList(missed) : Arrays.asList(missed).subList(0, misses);
    // the misses read under their stripes (and the engine read lock), as in readThrough; the fills
    // happen there too. RocksEngine.getAll runs one multiGet per live bucket, newest first, each its
    // own view of the store: the stripes keep out a writer of the same id that would move its record
    // to a newer bucket between two of them, which would otherwise make a record terminal the whole
    // time read as absent (TerminalRecordsMoveRaceTest; review s9-r R1).
    withLocks(toRead, false, batch -> {
      RocksEngine.Stored[] stored = batch.currentAll(toRead);
      for (int i = 0; i < stored.length; i++) {
        if (stored[i] != null && stored[i].record().isTerminal()) {
          caches.putTerminal(stored[i].record());
          found.put(toRead.get(i), stored[i].record());
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

  // ------------------------------------------------------------------ replication (ReplicaStore)

  @Override
  public IdRecord applyRemote(IdRecord record) {
    Objects.requireNonNull(record, "remote");
    RecordKey key = new RecordKey(record.shard(), record.id());
    return withLocks(List.of(key), false, batch -> remote.record(batch, key, record));
  }

  @Override
  public void applyRemoteBatch(
      List<IdRecord> records, List<ShardLease> leases, Map<String, Long> checkpoints) {
    // one key per record, made once: for the locks and for the merge
    List<RecordKey> keys = new ArrayList<>(records.size());
    for (IdRecord r : records) {
      keys.add(new RecordKey(r.shard(), r.id()));
    }
    withLocks(keys, !leases.isEmpty(), batch -> {
      remote.batch(batch, records, keys, leases, checkpoints);
      return null;
    });
  }

  @Override
  public Optional<ShardLease> lease(int shard) {
    return leaseTable.get(shard);
  }

  @Override
  public List<ShardLease> leases() {
    return leaseTable.all();
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

  @Override
  public void dropShard(int shard, Collection<String> checkpointKeys) {
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    maybeMaintain();
    locks.exclusive(() -> {
      locks.checkOpen();
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
      caches.dropShard(shard);
      sightings.dropShard(shard);
      leaseTable.drop(shard);
      detected.forgetShard(shard);
    });
  }

  @Override
  public void addListener(StoreListener listener) {
    listeners.add(listener);
  }

  @Override
  public void removeListener(StoreListener listener) {
    listeners.remove(listener);
  }

  // ------------------------------------------------------------------ figures, close

  @Override
  public long detectedDuplicates() {
    return detected.total();
  }

  @Override
  public StoreStats stats() {
    RecordCaches.Figures c = caches.figures();
    return new StoreStats((long) sizeEstimate(), engine.bucketCount(), c.size(), c.hits(),
        c.misses(), c.hitRate(), detected.total());
  }

  private double sizeEstimate() {
    // a drop or close may be running; a gauge must not wait for it
    return locks.sharedOrElse(() -> (double) engine.estimateKeys(), Double.NaN);
  }

  @Override
  public void close() {
    locks.exclusive(() -> {
      if (locks.isClosed()) {
        return;
      }
      locks.markClosed();
      ttlMaintenance.close();
      metrics.close();
      caches.clear();
      engine.close();
    });
  }

  // ------------------------------------------------------------------ TTL maintenance

  private void maybeMaintain() {
    ttlMaintenance.maybeMaintain();
  }

  // ------------------------------------------------------------------ plumbing

  /** Runs {@code body} with a fresh batch under the locks of {@code keys}; commits the batch. */
  private <T> T withLocks(Collection<RecordKey> keys, boolean leases, Function<StoreBatch, T> body) {
    maybeMaintain();
    return locks.locked(keys, leases, () -> {
      try (StoreBatch batch = new StoreBatch(parts)) {
        T result = body.apply(batch);
        batch.commit();
        return result;
      }
    });
  }

  private <T> T readLocked(java.util.function.Supplier<T> body) {
    maybeMaintain();
    return locks.shared(body);
  }

  private static RecordKey key(ClaimRequest r) {
    return new RecordKey(r.shard(), r.id());
  }
}
