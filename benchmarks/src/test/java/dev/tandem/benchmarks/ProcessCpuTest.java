package dev.tandem.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.Result;

/**
 * The /proc arithmetic behind {@code cpu.*.us.per.msg} ({@link ProcessCpu}), on two fixture snapshots
 * ({@code src/test/resources/process-cpu/before|after}): the regions JVM (pid 101: utime+stime 500 ->
 * 680 ticks; its cutime/cstime grow by 10, which are not its own threads' CPU) and this fork
 * ({@code self}, a command name holding a space and parentheses: 1200 -> 1320 ticks, cutime/cstime
 * +100 likewise not counted).
 */
class ProcessCpuTest {

  private static Path fixture(String name) throws URISyntaxException {
    return Path.of(ProcessCpuTest.class.getResource("/process-cpu/" + name).toURI());
  }

  /** A fixture sample placed at {@code seconds} on the window's clock. */
  private static ProcessCpu.Sample at(String snapshot, double seconds) throws Exception {
    ProcessCpu.Sample s = new ProcessCpu(fixture(snapshot), 101).sample();
    return new ProcessCpu.Sample(s.brokerTicks(), s.clientTicks(), (long) (seconds * 1e9));
  }

  @Test
  void brokersAndClientsCpuPerMessageFromTheirOwnUtimeAndStime() throws Exception {
    ProcessCpu.Sample before = at("before", 10);
    ProcessCpu.Sample after = at("after", 12);
    assertEquals(500, before.brokerTicks());
    assertEquals(680, after.brokerTicks());
    assertEquals(1200, before.clientTicks());
    assertEquals(1320, after.clientTicks());
    // 6000 messages in 2 s at 100 ticks/s: brokers 1.8 s, clients 1.2 s of CPU
    Map<String, Double> got = ProcessCpu.perMessage(before, after, 6_000, 100);
    assertEquals(300.0, got.get("cpu.brokers.us.per.msg"), 1e-9);
    assertEquals(200.0, got.get("cpu.clients.us.per.msg"), 1e-9);
    assertEquals(500.0, got.get("cpu.total.us.per.msg"), 1e-9);
    assertEquals(1.5, got.get("cpu.cores.used"), 1e-9); // 3.0 CPU-seconds in 2 s
    // another clock rate scales every CPU figure, not the message count
    assertEquals(120.0, ProcessCpu.perMessage(before, after, 6_000, 250).get("cpu.brokers.us.per.msg"), 1e-9);
  }

  @Test
  void anUnknownRegionsJvmLeavesTheBrokerSideAndTheTotalOut() throws Exception {
    ProcessCpu.Sample before = new ProcessCpu(fixture("before"), -1).sample();
    ProcessCpu.Sample after = new ProcessCpu(fixture("after"), -1).sample();
    assertEquals(-1, before.brokerTicks());
    Map<String, Double> got = ProcessCpu.perMessage(before, after, 1_000, 100);
    assertEquals(Map.of("cpu.clients.us.per.msg", 1_200.0), got);
    // a pid that is not in /proc reads as unknown too
    assertEquals(-1, new ProcessCpu(fixture("before"), 999).sample().brokerTicks());
  }

  @Test
  void nothingWithoutMessagesOrTime() throws Exception {
    ProcessCpu.Sample before = at("before", 10);
    ProcessCpu.Sample after = at("after", 12);
    assertTrue(ProcessCpu.perMessage(before, after, 0, 100).isEmpty());
    assertTrue(ProcessCpu.perMessage(after, before, 6_000, 100).isEmpty());
    assertTrue(ProcessCpu.perMessage(null, after, 6_000, 100).isEmpty());
  }

  @Test
  void parsesStatAfterTheLastParenthesisAndReadsTheEnvironment() {
    assertEquals(33, ProcessCpu.parseTicks("7 (a) b) R 1 7 7 0 -1 0 0 0 0 0 11 22 5 5 20 0 1 0 9"));
    assertThrows(IllegalArgumentException.class, () -> ProcessCpu.parseTicks("7 (short) S 1 2"));
    assertEquals(4242, ProcessCpu.regionsPid(" 4242\n"));
    assertEquals(100, ProcessCpu.hz(null));
    assertEquals(100, ProcessCpu.hz("nonsense"));
    assertEquals(250, ProcessCpu.hz("250"));
  }

  @Test
  void theProfilerReportsTheWindowsCountsAndCpuForEveryPipeline() throws Exception {
    List<Result> out = new ArrayList<>();
    // a raw pipeline: no Tandem counts, CPU per message done in the window
    EndToEndLatencyProfiler.window(out, new EndToEndBenchmark.Window(Map.of(), 4_000, at("before", 10)),
        new EndToEndBenchmark.Window(Map.of(), 10_000, at("after", 12)), 100);
    Map<String, Double> got = out.stream().collect(Collectors.toMap(Result::getLabel, Result::getScore));
    assertEquals(Map.of("cpu.brokers.us.per.msg", 300.0, "cpu.clients.us.per.msg", 200.0,
        "cpu.total.us.per.msg", 500.0, "cpu.cores.used", 1.5), got);
    assertEquals("us/msg", out.get(0).getScoreUnit());
    // an iteration whose window did not close (a failed teardown) reports nothing
    out.clear();
    EndToEndLatencyProfiler.window(out, new EndToEndBenchmark.Window(Map.of(), 0, at("before", 10)), null, 100);
    assertTrue(out.isEmpty());
  }

  @Test
  void readsThisMachinesProcWhenItHasOne() {
    ProcessCpu.Sample s = new ProcessCpu(Path.of("/proc"), ProcessHandle.current().pid()).sample();
    if (Path.of("/proc/self/stat").toFile().exists()) {
      assertTrue(s.clientTicks() >= 0, "own ticks " + s);
      assertTrue(s.brokerTicks() >= 0, "the 'brokers' here are this JVM: " + s);
    } else {
      assertEquals(-1, s.clientTicks());
    }
  }
}
