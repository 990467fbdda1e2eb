package dev.tandem.consumer.ownership;

import dev.tandem.consumer.ownership.OwnershipRequestsTest.Changelog;
import dev.tandem.consumer.ownership.OwnershipRequestsTest.Topic;
import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * The owning region's side of the ownership request tests ({@link OwnershipRequests}, {@link
 * OwnershipTicker}): region A's real store and its {@link ShardOwnership} (MANUAL policy: nothing
 * moves unless asked) on a manual clock, an in-memory request channel ({@link Topic}) and a
 * changelog whose acknowledgements the test controls ({@link Changelog}); A owns shards 0 and 2 at
 * epoch 0. The store is opened before each test and closed after it.
 */
abstract class OwnerRegionFixture {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(1_000_000);
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final Changelog changelog = new Changelog();
  final Topic topic = new Topic();
  IdempotencyStore store;
  ShardOwnership ownership;

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(A).instance("a-1").directory(dir).build();
    // sorted([a, b])[shard % 2]: A owns 0 and 2 at epoch 0
    ownership = ShardOwnership.builder().region(A).regions(List.of(A, B)).store(store)
        .replicationLog(changelog).policy(OwnershipPolicy.manual()).clock(clock)
        .meterRegistry(meters).build();
  }

  @AfterEach
  void close() {
    store.close();
  }
}
