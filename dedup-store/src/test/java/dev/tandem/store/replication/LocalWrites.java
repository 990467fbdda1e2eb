package dev.tandem.store.replication;

import dev.tandem.core.PayloadDigest;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/** The changes a store writes for messages, as the cost tests ship and apply them. */
final class LocalWrites {

  private LocalWrites() {}

  /**
   * The LOCAL records {@code s} wrote (claim, COMPLETED) for {@code n} ids {@code prefix + i}, id i
   * on shard {@code i % shards}, in write order.
   */
  static List<IdRecord> writes(IdempotencyStore s, String prefix, int n, int shards) {
    List<IdRecord> out = new ArrayList<>();
    s.addListener(localRecords(out, r -> true));
    for (int i = 0; i < n; i++) {
      claimComplete(s, prefix + i, i % shards);
    }
    return List.copyOf(out); // the listener stays registered: later writes must not join this list
  }

  /** Claims and completes {@code id} on {@code s}; answers the LOCAL records written for it. */
  static List<IdRecord> of(IdempotencyStore s, String id, int shard) {
    List<IdRecord> out = new ArrayList<>();
    s.addListener(localRecords(out, r -> r.id().equals(id)));
    claimComplete(s, id, shard);
    return List.copyOf(out);
  }

  private static void claimComplete(IdempotencyStore s, String id, int shard) {
    s.claim(id, shard, PayloadDigest.of(id.getBytes(StandardCharsets.UTF_8)), 0,
        Duration.ofMinutes(1));
    s.complete(id, shard, null);
  }

  /** A listener (never removed) that adds to {@code out} the LOCAL records {@code which} accepts. */
  private static StoreListener localRecords(List<IdRecord> out, Predicate<IdRecord> which) {
    return new StoreListener() {
      @Override
      public void onRecord(IdRecord record, WriteOrigin origin) {
        if (origin == WriteOrigin.LOCAL && which.test(record)) {
          out.add(record);
        }
      }

      @Override
      public void onLease(ShardLease lease, WriteOrigin origin) {}
    };
  }
}
