package dev.tandem.benchmarks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The /proc arithmetic behind {@code outside.cpu} ({@link OutsideCpu}), on two fixture snapshots of a
 * /proc tree ({@code src/test/resources/outside-cpu/before|after}): run.sh's shell (pid 100) with the
 * regions JVM (101) and the JMH host (102) with its fork (103); outside, init (1) and a build (200,
 * a command name holding ") (") whose child 201 exits and is reaped between the snapshots while a new
 * child 202 starts; kthreadd (2) with ksoftirqd (50).
 */
class OutsideCpuTest {

  private static Path fixture(String name) throws URISyntaxException {
    return Path.of(OutsideCpuTest.class.getResource("/outside-cpu/" + name).toURI());
  }

  @Test
  void outsideShareCountsOnlyProcessesOutsideTheRunsTreeAndNotKernelThreads() throws Exception {
    OutsideCpu.Sample before = new OutsideCpu(fixture("before"), 100).sample();
    OutsideCpu.Sample after = new OutsideCpu(fixture("after"), 100).sample();

    // outside: init 1, the build 200 and its children; not the run (100-103), not kthreadd's tree
    assertEquals(java.util.Set.of(1, 200, 201), before.outsideTicks().keySet());
    assertEquals(java.util.Set.of(1, 200, 202), after.outsideTicks().keySet());
    // 200: utime+stime+cutime+cstime 1800 -> 1920 (its reaped child's CPU arrives in cutime/cstime)
    assertEquals(1800L, before.outsideTicks().get(200));
    assertEquals(1920L, after.outsideTicks().get(200));
    // capacity: user..steal of the aggregate cpu line, 10000 -> 12300 (guest columns not added twice)
    assertEquals(10_000L, before.totalTicks());
    assertEquals(12_300L, after.totalTicks());
    // outside: 200 +120, new 202 +10 (from zero), init +0, gone 201 not subtracted = 130 of 2300
    assertEquals(130.0 / 2300.0, OutsideCpu.perCore(before, after), 1e-12);
  }

  @Test
  void theRunsOwnCpuIsNotOutsideLoadWhateverItsSize() throws Exception {
    // the same snapshots seen with the JMH host (102) as the root, as without run.sh: then run.sh's
    // shell and the regions JVM (100, 101) are outside, and their 703 ticks count
    OutsideCpu.Sample before = new OutsideCpu(fixture("before"), 102).sample();
    OutsideCpu.Sample after = new OutsideCpu(fixture("after"), 102).sample();
    assertEquals((130.0 + 703.0) / 2300.0, OutsideCpu.perCore(before, after), 1e-12);
  }

  @Test
  void parsesStatLinesByTheLastParenthesis() {
    String odd = "200 (mvn) (odd name) S 1 200 200 0 -1 4194560 1000 0 0 0 11 22 33 44 20 0 12 0 5000";
    assertArrayEquals(new long[] {1, 110}, OutsideCpu.parseStat(odd));
    assertNull(OutsideCpu.parseStat("17 (short) S 1 2 3"));
    assertNull(OutsideCpu.parseStat("no parenthesis at all"));
  }

  @Test
  void totalTicksReadsTheAggregateLineOnly() {
    assertEquals(1 + 2 + 3 + 4 + 5 + 6 + 7 + 8,
        OutsideCpu.totalTicks("cpu  1 2 3 4 5 6 7 8 100 100\ncpu0 9 9 9 9 9 9 9 9 9 9\n"));
    assertThrows(IllegalArgumentException.class, () -> OutsideCpu.totalTicks("cpu0 1 2 3\n"));
  }

  @Test
  void aReusedPidCountsFromZeroAndMissingSamplesGiveNaN() {
    OutsideCpu.Sample before = new OutsideCpu.Sample(Map.of(7, 500L), 1_000);
    OutsideCpu.Sample after = new OutsideCpu.Sample(Map.of(7, 40L), 2_000); // a new process on pid 7
    assertEquals(0.04, OutsideCpu.perCore(before, after), 1e-12);
    assertTrue(Double.isNaN(OutsideCpu.perCore(null, after)));
    assertTrue(Double.isNaN(OutsideCpu.perCore(after, before)));
  }

  @Test
  void readsThisMachinesProcWhenItHasOne() {
    OutsideCpu cpu = OutsideCpu.forThisRun();
    OutsideCpu.Sample s = cpu.sample();
    if (Path.of("/proc/stat").toFile().exists()) {
      assertTrue(s.totalTicks() > 0, "total ticks of /proc/stat");
      double share = OutsideCpu.perCore(s, cpu.sample());
      assertTrue(Double.isNaN(share) || (share >= 0 && share <= 1), "share " + share);
    } else {
      assertNull(s);
    }
  }
}
