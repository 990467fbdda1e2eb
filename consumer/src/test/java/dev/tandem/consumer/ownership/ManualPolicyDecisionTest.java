package dev.tandem.consumer.ownership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.store.ShardLease;
import dev.tandem.testkit.TestRegions;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The MANUAL decision rule: no observation, however long the silence or the stall, moves a shard. */
class ManualPolicyDecisionTest {

  final OwnershipPolicy policy = OwnershipPolicy.manual();
  final ShardLease lease = ShardLease.of(0, 3, TestRegions.A, 42);

  @Test
  void neverTakesOverOnItsOwn() {
    for (long s : new long[] {0, 15, 3_600, 86_400 * 30}) {
      ShardObservation o = new ShardObservation(0, lease, TestRegions.B,
          Duration.ofSeconds(s), Duration.ofSeconds(s), Duration.ofSeconds(s));
      assertTrue(policy.shouldTakeOver(o).isEmpty(), "silent/held/stalled for " + s + " s");
    }
    assertTrue(policy.mayProcess(0, 3), "the owner processes; only the operator moves shards");
    assertEquals("MANUAL", policy.name());
  }
}
