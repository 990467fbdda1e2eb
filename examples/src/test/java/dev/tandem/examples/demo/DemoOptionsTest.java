package dev.tandem.examples.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DemoOptionsTest {

  @Test
  void parsesEveryOptionInBothForms() {
    DemoOptions o = DemoOptions.parse("--messages", "500", "--rate=100", "--fail", "partition", "--policy=manual", "--seed", "9");
    assertEquals(new DemoOptions(500, 100, DemoOptions.Fault.PARTITION, DemoOptions.Policy.MANUAL, 9, false), o);
    assertTrue(DemoOptions.parse("--help").help());
  }

  @Test
  void refusesBadInputNamingTheOption() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoOptions.parse("--fail", "meteor")).getMessage().contains("none|consumers|broker|partition|handover"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoOptions.parse("--messages", "-3")).getMessage().contains("--messages"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoOptions.parse("--colour", "red")).getMessage().contains("unknown option --colour"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoOptions.parse("--rate")).getMessage().contains("needs a value"));
  }

  @Test
  void verdictFollowsThePromiseForEachFault() {
    assertEquals(0, new DemoResult(10, 10, 0, 0, -1, 0, -1, DemoOptions.Fault.NONE).exitCode());
    assertEquals(1, new DemoResult(10, 9, 1, 0, -1, 0, -1, DemoOptions.Fault.NONE).exitCode());
    assertEquals(1, new DemoResult(10, 10, 0, 1, -1, 0, -1, DemoOptions.Fault.HANDOVER).exitCode());
    assertEquals(0, new DemoResult(10, 10, 0, 2, 3, 0, 900, DemoOptions.Fault.BROKER).exitCode());
    assertEquals(1, new DemoResult(10, 10, 0, 4, 3, 0, 900, DemoOptions.Fault.CONSUMERS).exitCode());
    assertEquals(0, new DemoResult(10, 10, 0, 4, -1, 4, 900, DemoOptions.Fault.PARTITION).exitCode());
    assertEquals(1, new DemoResult(10, 10, 0, 4, -1, 3, 900, DemoOptions.Fault.PARTITION).exitCode());
    // a partition: whatever the policy, both replicas must count each detected duplicate once
    assertEquals(1, new DemoResult(10, 10, 0, 4, -1, 4, 3, 900, DemoOptions.Fault.PARTITION,
        DemoOptions.Policy.AUTOMATIC).exitCode());
    // WITNESS: within the bound, 0 without a takeover, detected or not
    assertEquals(0, new DemoResult(10, 10, 0, 0, -1, 0, 0, -1, DemoOptions.Fault.PARTITION,
        DemoOptions.Policy.WITNESS).exitCode());
    assertEquals(1, new DemoResult(10, 10, 0, 1, -1, 1, 1, -1, DemoOptions.Fault.PARTITION,
        DemoOptions.Policy.WITNESS).exitCode());
    assertEquals(0, new DemoResult(10, 10, 0, 2, 5, 2, 2, 900, DemoOptions.Fault.PARTITION,
        DemoOptions.Policy.WITNESS).exitCode());
    // MANUAL: an acknowledged move bounds the duplicates; an unacknowledged one (-1) needs them detected
    assertEquals(1, new DemoResult(10, 10, 0, 6, 5, 6, 6, 900, DemoOptions.Fault.PARTITION,
        DemoOptions.Policy.MANUAL).exitCode());
    assertEquals(0, new DemoResult(10, 10, 0, 6, -1, 6, 6, 900, DemoOptions.Fault.PARTITION,
        DemoOptions.Policy.MANUAL).exitCode());
    assertEquals(1, new DemoResult(10, 10, 0, 6, -1, 5, 5, 900, DemoOptions.Fault.PARTITION,
        DemoOptions.Policy.MANUAL).exitCode());
    assertEquals("RESULT published=10 processed=10 lost=0 duplicates=2 bound=3 detected=0 takeover_ms=900",
        new DemoResult(10, 10, 0, 2, 3, 0, 900, DemoOptions.Fault.BROKER).resultLine());
  }
}
