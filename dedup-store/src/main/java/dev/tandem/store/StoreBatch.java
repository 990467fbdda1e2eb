package dev.tandem.store;

import dev.tandem.core.Hlc;
import dev.tandem.core.TandemClock;
import dev.tandem.store.internal.DetectedCounts;
import dev.tandem.store.internal.LeaseTable;
import dev.tandem.store.internal.StoreListeners;
import dev.tandem.store.internal.TtlBuckets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The writes of one store operation: staged into one WriteBatch, with an overlay so an id touched
 * twice in a batch sees its own earlier write. {@link #commit} writes the batch, then — only then —
 * updates the caches, the claim sightings, the detected counts, the lease table and the listeners.
 * Used under the operation's locks ({@link StoreLocks}), by one thread.
 */
final class StoreBatch implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(RocksStore.class);

  /** What {@link #stage} did. */
  enum Staged {
    CHANGED,
    UNCHANGED,
    EXPIRED
  }

  /** The store's parts a batch reads and, after commit, updates. */
  record Parts(RocksEngine engine, RecordCaches caches, ClaimSightings sightings, TtlBuckets ttl,
      DetectedCounts detected, LeaseTable leases, StoreListeners listeners, Hlc hlc,
      TandemClock clock) {}

  private final Parts p;
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

  StoreBatch(Parts parts) {
    this.p = parts;
  }

  RocksEngine.Stored current(RecordKey key) {
    if (overlay.containsKey(key)) {
      return overlay.get(key);
    }
    // a record this process last wrote or read: its stamp was ticked or observed then
    RocksEngine.Stored s = p.caches().recent.getIfPresent(key);
    if (s == null) {
      s = p.engine().get(key.bytes());
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
      } else if ((out[i] = p.caches().recent.getIfPresent(key)) == null) {
        toRead.add(i);
      }
    }
    if (!toRead.isEmpty()) {
      List<byte[]> raw = new ArrayList<>(toRead.size());
      for (int i : toRead) {
        raw.add(keys.get(i).bytes());
      }
      RocksEngine.Stored[] read = p.engine().getAll(raw);
      for (int j = 0; j < read.length; j++) {
        out[toRead.get(j)] = read[j];
        observeRead(keys.get(toRead.get(j)), read[j]);
      }
    }
    return out;
  }

  /** A record read from RocksDB: its stamp observed, a non-terminal one kept in the recent cache. */
  private void observeRead(RecordKey key, RocksEngine.Stored s) {
    if (s == null) {
      return;
    }
    // every later tick must exceed the stored head's stamp, or a renewal after a restart with
    // a wall clock behind that stamp would lose the merge to the head it renews
    p.hlc().observe(s.record().hlc());
    p.caches().read(key, s); // read under the stripe: equal to what RocksDB holds
  }

  /**
   * Stages {@code merged} (the join of the stored record and the change) unless it equals what is
   * stored, in the bucket {@link TtlBuckets#target} picks. A record that is not stored and whose
   * bucket already expired is past its TTL: it is not stored (EXPIRED).
   */
  Staged stage(RecordKey key, RocksEngine.Stored stored, IdRecord merged, WriteOrigin origin) {
    if (stored != null && stored.record().equals(merged)) {
      return Staged.UNCHANGED;
    }
    long target = p.ttl().target(merged.writtenAtMillis(),
        stored == null ? null : stored.bucketStart(), p.clock().wallMillis());
    if (target == TtlBuckets.EXPIRED) {
      return Staged.EXPIRED;
    }
    RocksEngine engine = p.engine();
    ColumnFamilyHandle cf = engine.bucket(target);
    if (cf == null) {
      cf = engine.createBucket(target);
      p.ttl().created(target);
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
    batch().merge(p.engine().meta(), RocksEngine.detectedCountKey(bucket, shard),
        RocksEngine.uint64Operand(delta));
    if (detectedDeltas == null) {
      detectedDeltas = new ArrayList<>(2);
    }
    detectedDeltas.add(new long[] {bucket, shard, delta});
  }

  /** Stages the join of the stored lease and {@code lease}; caller holds the lease lock. */
  ShardLease stageLease(ShardLease lease, WriteOrigin origin) {
    java.util.Objects.requireNonNull(lease, "lease");
    p.hlc().observe(lease.heartbeatHlc());
    LeaseTable.Join join = p.leases().join(lease, leases);
    if (!join.changed()) {
      return join.merged();
    }
    ShardLease merged = join.merged();
    put(p.engine().leases(), RocksEngine.leaseKey(lease.shard()), RecordCodec.encode(merged));
    leases.add(merged);
    leaseOrigins.add(origin);
    return merged;
  }

  void put(ColumnFamilyHandle cf, byte[] k, byte[] v) {
    try {
      batch().put(cf, k, v);
      dirty = true;
    } catch (RocksDBException e) {
      throw p.engine().failure("stage a write", e);
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
        p.engine().write(wb);
      } else {
        p.engine().put(soloCf, soloKey, soloValue);
      }
    } catch (RuntimeException e) {
      // RocksDB refused the batch: whatever it holds now is read again, never assumed
      for (Map.Entry<RecordKey, RocksEngine.Stored> written : records) {
        p.caches().recent.invalidate(written.getKey());
      }
      throw e;
    }
    // RocksDB accepted the batch: only now may the caches, counters and listeners see it
    for (Map.Entry<RecordKey, RocksEngine.Stored> written : records) {
      p.caches().accepted(written.getKey(), written.getValue());
      p.sightings().observe(written.getKey(), written.getValue().record());
    }
    if (detectedDeltas != null) {
      for (long[] d : detectedDeltas) {
        p.detected().add(d[0], (int) d[1], d[2]);
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
      p.leases().accepted(l);
    }
    for (int i = 0; i < records.size(); i++) {
      p.listeners().record(records.get(i).getValue().record(), recordOrigins.get(i));
    }
    for (int i = 0; i < leases.size(); i++) {
      p.listeners().lease(leases.get(i), leaseOrigins.get(i));
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
