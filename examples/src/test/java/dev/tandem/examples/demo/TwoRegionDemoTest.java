package dev.tandem.examples.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The demo run end to end as a small chaos suite: two real KRaft clusters, real stores, the dual
 * publisher, consumers in both regions, and the fault injected for real halfway through. The history
 * checker's verdict must hold: nothing lost; no duplicate without a crash; after a crash at most the
 * bound the library reported at takeover, and a takeover must have happened. The fault-free run is
 * {@link OpsMetricsTest} (the same checks, with a Prometheus registry scraped).
 */
// each run is a whole demo of its own (clusters on free ports, temp directory, History): two at a
// time (examples' junit-platform.properties), their fixed fault timers overlapping
@Execution(ExecutionMode.CONCURRENT)
class TwoRegionDemoTest {

  @ParameterizedTest
  @EnumSource(value = DemoOptions.Fault.class, names = {"CONSUMERS", "BROKER", "HANDOVER"})
  void thePromiseHoldsUnder(DemoOptions.Fault fault) throws Exception {
    DemoResult r = TwoRegionDemo.run(
        new DemoOptions(1_500, 500, fault, DemoOptions.Policy.AUTOMATIC, 7, false));
    System.out.println(fault + ": " + r.resultLine());
    assertEquals(1_500, r.published(), "every send acknowledged");
    assertEquals(0, r.lost());
    assertNull(r.violation(), r.resultLine());
    if (fault == DemoOptions.Fault.HANDOVER) {
      assertEquals(0, r.duplicates(), "a planned handover makes no duplicate");
      assertTrue(r.takeoverMillis() > 0, "region-b processes the handed-over shards: " + r.resultLine());
    } else if (fault == DemoOptions.Fault.NONE) {
      assertEquals(0, r.duplicates());
      assertEquals(-1, r.takeoverMillis(), "no takeover without a fault");
    } else {
      assertTrue(r.takeoverMillis() > 0, "region-b took over: " + r.resultLine());
      assertTrue(r.bound() >= r.duplicates(), r.resultLine());
    }
  }

  /** MANUAL: nothing moves until the operator's fenced move (the demo plays the operator). */
  @org.junit.jupiter.api.Test
  void underManualTheOperatorsFencedMoveHoldsTheBound() throws Exception {
    DemoResult r = TwoRegionDemo.run(
        new DemoOptions(1_500, 500, DemoOptions.Fault.CONSUMERS, DemoOptions.Policy.MANUAL, 7, false));
    System.out.println("MANUAL: " + r.resultLine());
    assertEquals(0, r.lost());
    assertNull(r.violation(), r.resultLine());
    assertTrue(r.bound() >= 0 && r.bound() >= r.duplicates(), r.resultLine());
    assertTrue(r.takeoverMillis() >= TwoRegionDemo.LEASE_TIMEOUT.plus(TwoRegionDemo.MARGIN).toMillis(),
        "no move before the operator's call: " + r.resultLine());
  }
}
