package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.store.IdRecord;
import dev.tandem.store.ShardLease;
import java.util.Objects;

/** One decoded changelog record: an id's record, a shard lease, a heartbeat or a hand-off marker. */
sealed interface ChangelogEntry {

  /** The shard (= changelog partition) the entry belongs to. */
  int shard();

  /** A full merged {@link IdRecord}, as its writer stored it. */
  record RecordEntry(IdRecord record) implements ChangelogEntry {
    public RecordEntry {
      Objects.requireNonNull(record, "record");
    }

    @Override
    public int shard() {
      return record.shard();
    }
  }

  /** A full merged {@link ShardLease}. */
  record LeaseEntry(ShardLease lease) implements ChangelogEntry {
    public LeaseEntry {
      Objects.requireNonNull(lease, "lease");
    }

    @Override
    public int shard() {
      return lease.shard();
    }
  }

  /**
   * A replication heartbeat: {@code origin} wrote it at {@code sentAtMillis} (its wall clock) into
   * every region's changelog partition {@code shard}; only used to measure lag.
   */
  record Heartbeat(RegionId origin, String incarnation, int shard, long sentAtMillis, long hlc)
      implements ChangelogEntry {
    public Heartbeat {
      Objects.requireNonNull(origin, "origin");
      Objects.requireNonNull(incarnation, "incarnation");
      if (shard < 0) {
        throw new IllegalArgumentException("shard must be >= 0, got " + shard);
      }
    }
  }

  /**
   * A hand-off marker: {@code origin}'s writer {@code incarnation} gave shard {@code shard} up (token
   * {@link Handoff} with this {@code mark}) and every change it made to the shard before that is
   * acknowledged by the changelog this marker was written to, ahead of it.
   */
  record HandoffMarker(RegionId origin, String incarnation, int shard, long mark)
      implements ChangelogEntry {
    public HandoffMarker {
      Objects.requireNonNull(origin, "origin");
      Objects.requireNonNull(incarnation, "incarnation");
      if (shard < 0) {
        throw new IllegalArgumentException("shard must be >= 0, got " + shard);
      }
    }
  }
}
