package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/** A test replica: a real RocksDB store in a directory plus its KafkaReplicationLog. */
final class Replica implements AutoCloseable {

  static final int SHARDS = 4;

  final RegionId region;
  final Path dir;
  final SimpleMeterRegistry meters;
  final IdempotencyStore store;
  final KafkaReplicationLog log;
  final ReplicatedStore gated;
  /** Join of every LOCAL write of this replica, per id (what it shipped). */
  final Map<String, IdRecord> localJoin;

  private Replica(RegionId region, Path dir, SimpleMeterRegistry meters, IdempotencyStore store,
      KafkaReplicationLog log, Map<String, IdRecord> localJoin) {
    this.region = region;
    this.meters = meters;
    this.localJoin = localJoin;
    this.dir = dir;
    this.store = store;
    this.log = log;
    this.gated = log.replicatedStore();
  }

  static Replica open(TwoRegions regions, String region, Path dir, String prefix,
      Consumer<KafkaReplicationLog.Builder> custom) {
    return open(regions, region, "i-" + region, dir, prefix, custom);
  }

  static Replica open(TwoRegions regions, String region, String instance, Path dir, String prefix,
      Consumer<KafkaReplicationLog.Builder> custom) {
    RegionId id = RegionId.of(region);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    IdempotencyStore store = IdempotencyStore.builder()
        .region(id)
        .instance(instance)
        .directory(dir.resolve("store"))
        .meterRegistry(meters)
        .build();
    Map<String, IdRecord> join = new ConcurrentHashMap<>();
    // registered before the log's own listener: sees exactly the LOCAL writes the log ships
    store.addListener(new StoreListener() {
      @Override
      public void onRecord(IdRecord record, WriteOrigin origin) {
        if (origin == WriteOrigin.LOCAL) {
          join.merge(record.id(), record, IdRecord::merge);
        }
      }

      @Override
      public void onLease(ShardLease lease, WriteOrigin origin) {}
    });
    KafkaReplicationLog.Builder b = KafkaReplicationLog.builder()
        .store(store)
        .region(TestRegions.A, regions.a().bootstrapServers())
        .region(TestRegions.B, regions.b().bootstrapServers())
        .spoolDirectory(dir.resolve("spool"))
        .publishTimeout(Duration.ofSeconds(3))
        .shards(SHARDS)
        .topicPrefix(prefix)
        .heartbeatInterval(Duration.ofMillis(200))
        .catchUpApiTimeout(Duration.ofSeconds(2))
        .meterRegistry(meters)
        .materializeAllShards();
    custom.accept(b);
    KafkaReplicationLog log = b.build();
    return new Replica(id, dir, meters, store, log, join);
  }

  static Replica open(TwoRegions regions, String region, Path dir, String prefix) {
    return open(regions, region, dir, prefix, b -> {});
  }

  /** A full scan: id → record. */
  TreeMap<String, IdRecord> scan() {
    TreeMap<String, IdRecord> all = new TreeMap<>();
    store.forEach(r -> all.put(r.id(), r));
    return all;
  }

  double counter(String name, String... tags) {
    var c = meters.find(name).tags(tags).counter();
    return c == null ? 0 : c.count();
  }

  @Override
  public void close() {
    try {
      log.close();
    } finally {
      store.close();
    }
  }
}
