package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.testkit.TestRegions;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The landing-order rule of one changelog key, outcome by outcome (no publisher involved). */
class KeyOrderTest {

  private static final RegionId A = TestRegions.A;
  private static final RegionId B = TestRegions.B;

  private static KeyOrder order() {
    return new KeyOrder(0, "id", "key", k -> "key~" + k, List.of(A, B));
  }

  private static void settleB(KeyOrder o, long v) {
    o.outcome(B, v, KeyOrder.Kind.DIRECT);
  }

  @Test
  void anOlderSpooledCopyReplayedAfterANewerDirectOneCallsForOneRepublish() {
    KeyOrder o = order();
    long v1 = o.begin(new byte[] {1});
    long v2 = o.begin(new byte[] {2}); // in flight directly while v1 times out
    settleB(o, v1);
    settleB(o, v2);
    o.outcome(A, v1, KeyOrder.Kind.SPOOLED);
    o.outcome(A, v2, KeyOrder.Kind.DIRECT);
    assertFalse(o.needsRepublish(A), "not before v1's replay is seen landed");
    assertFalse(o.settled());
    o.delivered(A, v1); // the replay of v1 landed after v2
    assertTrue(o.needsRepublish(A));
    assertFalse(o.needsRepublish(A), "decided once");
    assertFalse(o.settled(), "a decided republish keeps the entry");
    long v3 = o.begin(o.newest()); // the republish
    assertFalse(o.needsRepublish(A), "waits for the republish's outcome");
    settleB(o, v3);
    o.outcome(A, v3, KeyOrder.Kind.DIRECT); // published after v1 was seen landed: lands after it
    assertFalse(o.needsRepublish(A));
    assertTrue(o.settled());
  }

  @Test
  void copiesSpooledInOrderNeedNothing() {
    KeyOrder o = order();
    long v1 = o.begin(new byte[] {1});
    long v2 = o.begin(new byte[] {2});
    settleB(o, v1);
    settleB(o, v2);
    o.outcome(A, v1, KeyOrder.Kind.SPOOLED);
    o.outcome(A, v2, KeyOrder.Kind.SPOOLED);
    assertFalse(o.needsRepublish(A));
    assertTrue(o.settled(), "the newest is spooled: it lands last, nothing to track");
  }

  @Test
  void aDirectCopyPublishedAfterTheReplayLandedNeedsNothing() {
    KeyOrder o = order();
    long v1 = o.begin(new byte[] {1});
    settleB(o, v1);
    o.outcome(A, v1, KeyOrder.Kind.SPOOLED);
    o.delivered(A, v1);
    long v2 = o.begin(new byte[] {2}); // the region sends directly again
    settleB(o, v2);
    o.outcome(A, v2, KeyOrder.Kind.DIRECT);
    assertFalse(o.needsRepublish(A));
    assertTrue(o.settled());
  }

  @Test
  void aNewerCopyStillPendingDefersTheDecisionAndAnOlderDirectOneIsHarmless() {
    KeyOrder o = order();
    long v1 = o.begin(new byte[] {1});
    long v2 = o.begin(new byte[] {2});
    settleB(o, v1);
    o.outcome(A, v1, KeyOrder.Kind.DIRECT);
    assertFalse(o.needsRepublish(A), "v2's outcome decides");
    assertFalse(o.settled());
    settleB(o, v2);
    o.outcome(A, v2, KeyOrder.Kind.SPOOLED); // lands after v1 (direct)
    assertFalse(o.needsRepublish(A));
    assertTrue(o.settled());
  }

  @Test
  void aLostCopyRetriedUnderAnotherKeyDoesNotCount() {
    KeyOrder o = order();
    long v1 = o.begin(new byte[] {1});
    long v2 = o.begin(new byte[] {2});
    settleB(o, v1);
    settleB(o, v2);
    o.outcome(A, v1, KeyOrder.Kind.SPOOLED);
    o.outcome(A, v2, KeyOrder.Kind.GONE); // lost: retried under a retry key, never under this one
    assertFalse(o.needsRepublish(A), "v1 is the newest copy this key gets in A, and it is spooled");
    assertTrue(o.settled());
  }

  @Test
  void atCloseASpooledCopyBelowADirectOrPendingOneMayOutliveTheWriter() {
    KeyOrder o = order();
    long v1 = o.begin(new byte[] {1});
    long v2 = o.begin(new byte[] {2});
    o.outcome(A, v1, KeyOrder.Kind.SPOOLED);
    assertTrue(o.staleCopyMayOutliveClose(), "v2 is pending: it may land directly before v1's replay");
    o.outcome(A, v2, KeyOrder.Kind.SPOOLED);
    settleB(o, v1);
    settleB(o, v2);
    assertFalse(o.staleCopyMayOutliveClose(), "both in the spool, in order");
  }
}
