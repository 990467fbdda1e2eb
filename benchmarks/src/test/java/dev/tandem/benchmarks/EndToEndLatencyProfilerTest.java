package dev.tandem.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.Result;

/** The per-message counts of the Tandem pipeline: iteration deltas divided by the messages handled. */
class EndToEndLatencyProfilerTest {

  @Test
  void perMessageCountsAreIterationDeltasOverHandledMessages() {
    Map<String, Double> before = Map.of("handled", 1_000.0, "polls", 10.0, "polled.records", 2_000.0,
        "partition.batches", 40.0, "commits", 10.0, "changelog.sent", 2_000.0, "publisher.sent", 4_000.0,
        "follower.acks", 1_000.0, "follower.holds", 100.0, "follower.hold.nanos", 1e9);
    Map<String, Double> after = Map.of("handled", 3_000.0, "polls", 30.0, "polled.records", 6_000.0,
        "partition.batches", 120.0, "commits", 40.0, "changelog.sent", 6_000.0, "publisher.sent", 12_000.0,
        "follower.acks", 3_000.0, "follower.holds", 300.0, "follower.hold.nanos", 3e9);
    List<Result> out = new ArrayList<>();
    EndToEndLatencyProfiler.perMessage(out, before, after);
    Map<String, Double> got = out.stream().collect(Collectors.toMap(Result::getLabel, Result::getScore));
    assertEquals(2.0, got.get("count.changelog.records"));
    assertEquals(4.0, got.get("count.publisher.copies"));
    assertEquals(1.0, got.get("count.follower.acks"));
    assertEquals(0.1, got.get("count.follower.held"), 1e-12);
    assertEquals(10.0, got.get("count.follower.hold.ms"), 1e-9); // 2e9 ns over 200 holds
    assertEquals(0.01, got.get("count.polls"), 1e-12);
    assertEquals(0.015, got.get("count.commits"), 1e-12);
    assertEquals(200.0, got.get("count.records.per.poll"), 1e-9);
    assertEquals(4.0, got.get("count.partitions.per.poll"), 1e-9);
  }

  @Test
  void nothingWithoutTandemCountsOrWithoutHandledMessages() {
    List<Result> out = new ArrayList<>();
    EndToEndLatencyProfiler.perMessage(out, Map.of(), Map.of());
    EndToEndLatencyProfiler.perMessage(out, Map.of("handled", 5.0), Map.of("handled", 5.0));
    assertTrue(out.isEmpty());
  }
}
