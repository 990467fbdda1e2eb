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
  // Per-operation state, allocated only when an operation needs it: most operations touch one record
  // (a claim, a complete), so the first key's overlay entry, key bytes and write live in fields and
  // the collections are created for a second key (issue 20: the per-operation HashMap and lists were
  // a visible share of claim+complete's allocation).
  /** The overlay of the first key read or written (so a second look sees its own write). */
  private RecordKey firstKey;
  private RocksEngine.Stored firstValue;
  /** The overlay of the other keys; null until a second key. */
  private Map<RecordKey, RocksEngine.Stored> overlay;
  /** {@link RecordKey#bytes} of the last key encoded (a read and a write of it share them). */
  private RecordKey bytesKey;
  private byte[] bytesValue;
  /** The records written, in order; the first in fields, the rest in {@link #moreWritten}. */
  private Written firstWritten;
  private List<Written> moreWritten;
  private List<ShardLease> leases;
  private List<WriteOrigin> leaseOrigins;
  /** (bucket, shard, delta) of the detected counts, applied in memory once RocksDB accepted. */
  private List<long[]> detectedDeltas;
  private List<IdRecord> detected;
  private boolean dirty;

  StoreBatch(Parts parts) {
    this.p = parts;
  }

  /** A record written by this batch, with its origin (for the listeners). */
  private record Written(RecordKey key, RocksEngine.Stored stored, WriteOrigin origin) {}

  RocksEngine.Stored current(RecordKey key) {
    if (firstKey != null && firstKey.equals(key)) {
      return firstValue;
    }
    if (overlay != null && overlay.containsKey(key)) {
      return overlay.get(key);
    }
    // a record this process last wrote or read: its stamp was ticked or observed then
    RocksEngine.Stored s = p.caches().recent(key);
    if (s == null) {
      s = p.engine().get(keyBytes(key));
      observeRead(key, s);
    }
    overlay(key, s);
    return s;
  }

  private void overlay(RecordKey key, RocksEngine.Stored s) {
    if (firstKey == null || firstKey.equals(key)) {
      firstKey = key;
      firstValue = s;
    } else {
      if (overlay == null) {
        overlay = new HashMap<>();
      }
      overlay.put(key, s);
    }
  }

  private boolean inOverlay(RecordKey key) {
    return (firstKey != null && firstKey.equals(key)) || (overlay != null && overlay.containsKey(key));
  }

  private byte[] keyBytes(RecordKey key) {
    if (key != bytesKey) {
      bytesValue = key.bytes();
      bytesKey = key;
    }
    return bytesValue;
  }

  /**
   * {@link #current} of each distinct key (index for index), the RocksDB reads in one multiGet. For
   * read-only batches: the answers are not added to the overlay, so no write of this batch may
   * follow (terminalRecords is the only caller).
   */
  RocksEngine.Stored[] currentAll(List<RecordKey> keys) {
    RocksEngine.Stored[] out = new RocksEngine.Stored[keys.size()];
    // the indexes to read and their key bytes in arrays: a boxed Integer per index above 127 and
    // two growing lists were most of this method's allocation per miss (issue 20)
    int[] toRead = null;
    byte[][] raw = null;
    int reads = 0;
    for (int i = 0; i < out.length; i++) {
      RecordKey key = keys.get(i);
      if (inOverlay(key)) {
        out[i] = current(key);
      } else if ((out[i] = p.caches().recent(key)) == null) {
        if (toRead == null) {
          toRead = new int[out.length - i];
          raw = new byte[out.length - i][];
        }
        toRead[reads] = i;
        raw[reads++] = key.bytes();
      }
    }
    if (reads > 0) {
      RocksEngine.Stored[] read = p.engine().getAll(raw, reads);
      for (int j = 0; j < reads; j++) {
        out[toRead[j]] = read[j];
        observeRead(keys.get(toRead[j]), read[j]);
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
    long target = p.ttl().target(merged.writtenAtMillis(), stored != null,
        stored == null ? 0 : stored.bucketStart(), p.clock().wallMillis());
    if (target == TtlBuckets.EXPIRED) {
      return Staged.EXPIRED;
    }
    RocksEngine engine = p.engine();
    ColumnFamilyHandle cf = engine.bucket(target);
    if (cf == null) {
      cf = engine.createBucket(target);
      p.ttl().created(target);
    }
    byte[] k = keyBytes(key);
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
    overlay(key, written);
    Written w = new Written(key, written, origin);
    if (firstWritten == null) {
      firstWritten = w;
    } else {
      if (moreWritten == null) {
        moreWritten = new ArrayList<>();
      }
      moreWritten.add(w);
    }
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
    LeaseTable.Join join = p.leases().join(lease, leases == null ? List.of() : leases);
    if (!join.changed()) {
      return join.merged();
    }
    ShardLease merged = join.merged();
    put(p.engine().leases(), RocksEngine.leaseKey(lease.shard()), RecordCodec.encode(merged));
    if (leases == null) {
      leases = new ArrayList<>();
      leaseOrigins = new ArrayList<>();
    }
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
      if (firstWritten != null) {
        p.caches().invalidateRecent(firstWritten.key());
      }
      if (moreWritten != null) {
        for (Written w : moreWritten) {
          p.caches().invalidateRecent(w.key());
        }
      }
      throw e;
    }
    // RocksDB accepted the batch: only now may the caches, counters and listeners see it
    if (firstWritten != null) {
      accepted(firstWritten);
    }
    if (moreWritten != null) {
      for (Written w : moreWritten) {
        accepted(w);
      }
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
    if (leases != null) {
      for (ShardLease l : leases) {
        p.leases().accepted(l);
      }
    }
    if (firstWritten != null) {
      p.listeners().record(firstWritten.stored().record(), firstWritten.origin());
    }
    if (moreWritten != null) {
      for (Written w : moreWritten) {
        p.listeners().record(w.stored().record(), w.origin());
      }
    }
    if (leases != null) {
      for (int i = 0; i < leases.size(); i++) {
        p.listeners().lease(leases.get(i), leaseOrigins.get(i));
      }
    }
  }

  private void accepted(Written w) {
    p.caches().accepted(w.key(), w.stored());
    p.sightings().observe(w.key(), w.stored().record());
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
