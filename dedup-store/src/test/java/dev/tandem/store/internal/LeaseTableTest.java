package dev.tandem.store.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The lease table without RocksDB: joins, staged joins of one batch, acceptance and drops. */
class LeaseTableTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  final LeaseTable table = new LeaseTable();

  @Test
  void aJoinIsWrittenOnlyWhenItChangesTheLease() {
    ShardLease l = ShardLease.of(3, 1, A, 10);
    LeaseTable.Join first = table.join(l, List.of());
    assertTrue(first.changed());
    table.accepted(first.merged());
    assertFalse(table.join(l, List.of()).changed(), "the same lease again: nothing to write");
    assertFalse(table.join(ShardLease.of(3, 1, A, 5), List.of()).changed(), "an older heartbeat");
    LeaseTable.Join takeover = table.join(l.takenOverBy(B, 11), List.of());
    assertTrue(takeover.changed());
    assertEquals(B, takeover.merged().owner());
    assertEquals(Optional.of(l), table.get(3), "a join is not in the table until accepted");
  }

  @Test
  void aJoinSeesTheLeasesStagedEarlierInItsBatch() {
    table.accepted(ShardLease.of(1, 1, A, 10));
    ShardLease staged = ShardLease.of(1, 2, B, 20);
    LeaseTable.Join j = table.join(ShardLease.of(1, 1, A, 15), List.of(staged));
    assertFalse(j.changed(), "the staged newer epoch wins over the stale renewal");
    assertEquals(staged, j.merged());
  }

  @Test
  void acceptedLeasesJoinAndDropsForget() {
    table.load(List.of(ShardLease.of(2, 1, A, 1), ShardLease.of(0, 1, B, 1)));
    table.accepted(ShardLease.of(2, 1, A, 0)); // an older one accepted late: the join keeps the newer
    assertEquals(1, table.get(2).orElseThrow().heartbeatHlc());
    assertEquals(List.of(0, 2), table.all().stream().map(ShardLease::shard).toList());
    table.drop(2);
    assertEquals(Optional.empty(), table.get(2));
  }
}
