package dev.tandem.store;

import dev.tandem.core.Hlc;
import java.util.List;
import java.util.Map;

/**
 * Other replicas' changes merged into this store: each remote record is joined with the stored one
 * (the lattice join, so order and duplicates do not matter), its HLC stamp observed, and the join
 * staged unless it equals the stored record or is already past the TTL. A batch's records, leases
 * and changelog checkpoints go into ONE WriteBatch, so a crash never separates data from the offsets
 * it was read at. Runs inside the caller's locks and batch ({@link RocksStore}).
 */
final class RemoteApply {

  private final RocksEngine engine;
  private final Hlc hlc;
  private final StoreMetrics metrics;

  RemoteApply(RocksEngine engine, Hlc hlc, StoreMetrics metrics) {
    this.engine = engine;
    this.hlc = hlc;
    this.metrics = metrics;
  }

  /** Merges one remote record; answers the join (as stored, or as it would be if expired). */
  IdRecord record(StoreBatch batch, RecordKey key, IdRecord remote) {
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

  /** Merges records and leases and stages the checkpoints, all in {@code batch}. */
  void batch(StoreBatch batch, List<IdRecord> records, List<ShardLease> leases,
      Map<String, Long> checkpoints) {
    for (IdRecord r : records) {
      record(batch, new RecordKey(r.shard(), r.id()), r);
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
