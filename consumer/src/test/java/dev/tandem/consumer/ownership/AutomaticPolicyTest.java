package dev.tandem.consumer.ownership;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import dev.tandem.testkit.TestRegions;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The AUTOMATIC decision rule, on observations (durations measured on the follower's own clock). */
class AutomaticPolicyTest {

  final OwnershipPolicy policy =
      OwnershipPolicy.automatic(Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofSeconds(60));
  final ShardLease lease = ShardLease.of(0, 3, TestRegions.A, 42);
  final RegionId self = TestRegions.B;

  ShardObservation obs(long silentS, long heldS, long stalledS) {
    return new ShardObservation(0, lease, self, Duration.ofSeconds(silentS), Duration.ofSeconds(heldS),
        Duration.ofSeconds(stalledS));
  }

  @Test
  void takesOverOnlyAfterSilenceLongerThanLeasePlusMargin() {
    assertFalse(policy.shouldTakeOver(obs(14, 0, 14)).isPresent());
    assertFalse(policy.shouldTakeOver(obs(15, 0, 15)).isPresent(), "exactly L + margin is not yet");
    assertTrue(policy.shouldTakeOver(obs(16, 0, 16)).orElseThrow().reason().contains("no heartbeat"));
  }

  @Test
  void takesOverAStuckOwnerOnlyWhileHoldingAndWithoutProgress() {
    assertTrue(policy.shouldTakeOver(obs(1, 61, 61)).orElseThrow().reason().contains("without progress"));
    assertFalse(policy.shouldTakeOver(obs(1, 61, 30)).isPresent(), "the owner progressed recently");
    assertFalse(policy.shouldTakeOver(obs(1, 0, 600)).isPresent(), "an idle owner is not stuck");
    assertFalse(policy.shouldTakeOver(obs(1, 30, 600)).isPresent(), "held for less than stuckAfter");
  }

  @Test
  void automaticLetsTheOwnerProcessWhateverThePeerDoes() {
    assertTrue(policy.mayProcess(0, 3));
  }
}
