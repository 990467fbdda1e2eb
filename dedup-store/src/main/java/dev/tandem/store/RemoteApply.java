package dev.tandem.store;

import dev.tandem.core.Hlc;
import dev.tandem.core.TandemClock;
import dev.tandem.store.internal.TtlBuckets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Other replicas' changes merged into this store: each remote record is joined with the stored one
 * (the lattice join, so order and duplicates do not matter), its HLC stamp observed, and the join
 * staged unless it equals the stored record or is already past the TTL. A batch's records, leases
 * and changelog checkpoints go into ONE WriteBatch, so a crash never separates data from the offsets
 * it was read at. Runs inside the caller's locks and batch ({@link RocksStore}).
 *
 * <p>Coalescing: a poll often holds several changes of one id (a claim and its COMPLETED, shipped
 * moments apart). Their join is staged ONCE — one encode, one WriteBatch put, one cache put, one
 * listener call with the final state — instead of once per change, but only where that leaves exactly
 * what staging them one by one would (the join is associative, so the record is the same; the TTL
 * rules are not a join: a change past its TTL is dropped alone, and the bucket is a running maximum
 * over the intermediate heads' write times). The one-by-one outcome is computed in memory first; where
 * the single stage would differ (an intermediate change expired, or placed the record in a later
 * bucket than the final head's), the changes are staged one by one as before. The {@code
 * tandem.store.remote.applied} meter still counts one per remote change merged, with the outcome the
 * change had in the one-by-one fold, so its meaning does not depend on how a poll was staged.
 * (Property: RemoteApplyCoalescingProperties.)
 */
final class RemoteApply {

  private final RocksEngine engine;
  private final Hlc hlc;
  private final StoreMetrics metrics;

  private final TtlBuckets ttl;
  private final TandemClock clock;

  RemoteApply(RocksEngine engine, Hlc hlc, StoreMetrics metrics, TtlBuckets ttl,
      TandemClock clock) {
    this.engine = engine;
    this.hlc = hlc;
    this.metrics = metrics;
    this.ttl = ttl;
    this.clock = clock;
  }

  /** Merges one remote record; answers the join (as stored, or as it would be if expired). */
  IdRecord record(StoreBatch batch, RecordKey key, IdRecord remote) {
    hlc.observe(remote.hlc());
    RocksEngine.Stored stored = batch.current(key);
    IdRecord merged = stored == null ? remote : stored.record().merge(remote);
    count(batch.stage(key, stored, merged, WriteOrigin.REMOTE));
    return merged;
  }

  private void count(StoreBatch.Staged staged) {
    switch (staged) {
      case CHANGED -> metrics.remoteChanged.increment();
      case UNCHANGED -> metrics.remoteUnchanged.increment();
      case EXPIRED -> metrics.remoteExpired.increment();
    }
  }

  /**
   * Merges several changes of one key ({@code changes}, in read order) with one stage where that
   * equals staging them one by one (class comment), else one by one.
   */
  private void records(StoreBatch batch, RecordKey key, List<IdRecord> changes) {
    for (IdRecord r : changes) {
      hlc.observe(r.hlc());
    }
    RocksEngine.Stored stored = batch.current(key);
    long now = clock.wallMillis();
    // the one-by-one outcome, in memory: StoreBatch.stage's rules applied change after change.
    // Without a drop it is also the join of the stored record and every change (the same fold;
    // a step that changes nothing leaves it as it was), so it is the record a single stage writes.
    IdRecord cur = stored == null ? null : stored.record();
    Long bucket = stored == null ? null : stored.bucketStart();
    boolean dropped = false;
    int changedSteps = 0;
    for (IdRecord r : changes) {
      IdRecord m = cur == null ? r : cur.merge(r);
      if (m == cur || (cur != null && cur.equals(m))) { // merge answers the head itself if unchanged
        continue;
      }
      long target = ttl.target(m.writtenAtMillis(), bucket, now);
      if (target == TtlBuckets.EXPIRED) {
        dropped = true;
        continue;
      }
      cur = m;
      bucket = target;
      changedSteps++;
    }
    boolean same;
    if (dropped) {
      same = false; // a change dropped alone may not reach the join: stage as before
    } else if (stored != null && stored.record().equals(cur)) {
      same = true; // nothing new: UNCHANGED either way
    } else {
      // the bucket: one by one it is a running maximum over the intermediate heads' write times
      same = ttl.target(cur.writtenAtMillis(), stored == null ? null : stored.bucketStart(), now)
          == bucket;
    }
    if (!same) {
      for (IdRecord r : changes) {
        RocksEngine.Stored s = batch.current(key);
        IdRecord m = s == null ? r : s.record().merge(r);
        count(batch.stage(key, s, m, WriteOrigin.REMOTE));
      }
      return;
    }
    StoreBatch.Staged staged = batch.stage(key, stored, cur, WriteOrigin.REMOTE);
    if (staged == StoreBatch.Staged.CHANGED) {
      // one count per change, as staged one by one: the steps that changed the head, the rest not
      metrics.remoteChanged.increment(changedSteps);
      metrics.remoteUnchanged.increment(changes.size() - changedSteps);
    } else {
      for (int i = 0; i < changes.size(); i++) {
        count(staged);
      }
    }
  }

  /**
   * Merges records and leases and stages the checkpoints, all in {@code batch}; {@code keys} holds
   * the key of each record (index for index).
   */
  void batch(StoreBatch batch, List<IdRecord> records, List<RecordKey> keys,
      List<ShardLease> leases, Map<String, Long> checkpoints) {
    if (records.size() == 1) {
      record(batch, keys.get(0), records.get(0));
    } else if (!records.isEmpty()) {
      // the changes of each key, keys in order of first appearance (order across keys is free:
      // each key is merged on its own)
      Map<RecordKey, List<IdRecord>> byKey = new HashMap<>(records.size() * 2);
      List<RecordKey> order = new ArrayList<>(records.size());
      for (int i = 0; i < records.size(); i++) {
        IdRecord r = records.get(i);
        RecordKey key = keys.get(i);
        List<IdRecord> changes = byKey.get(key);
        if (changes == null) {
          byKey.put(key, changes = new ArrayList<>(2));
          order.add(key);
        }
        changes.add(r);
      }
      for (RecordKey key : order) {
        List<IdRecord> changes = byKey.get(key);
        if (changes.size() == 1) {
          record(batch, key, changes.get(0));
        } else {
          records(batch, key, changes);
        }
      }
    }
    for (ShardLease l : leases) {
      batch.stageLease(l, WriteOrigin.REMOTE);
    }
    for (Map.Entry<String, Long> cp : checkpoints.entrySet()) {
      batch.put(engine.meta(), RocksEngine.checkpointKey(cp.getKey()),
          RocksEngine.longBytes(cp.getValue()));
    }
  }
}
