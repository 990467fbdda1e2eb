package dev.tandem.azure.functions;

import static dev.tandem.azure.functions.RegionFunctionApp.A;
import static dev.tandem.azure.functions.RegionFunctionApp.B;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.testkit.History;
import dev.tandem.testkit.junit.TandemClusters;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 item 8 end to end: the same function app in two regions (real RocksDB stores replicated
 * over two real KRaft clusters, AUTOMATIC ownership driven by the heartbeat timer, a Service Bus
 * trigger whose recheck sender is the SDK client of this region's namespace, mocked at the cloud
 * boundary). Region A's Service Bus namespace goes down while its Kafka changelog keeps answering:
 * A's heartbeat must go silent, so that B takes A's shards over within L + margin + a tick and
 * processes their messages, instead of those messages waiting out the whole outage.
 */
@TandemClusters
class FunctionsNamespaceDownTwoRegionsTest extends TwoRegionFunctions {

  /** A Service Bus trigger per region (its recheck sender and namespace probe). */
  RegionFunctionApp app(RegionId region) {
    return app(region, "fn-nsdown", NEVER_STUCK, Duration.ofSeconds(2), null, recording(region));
  }

  void publish(String id, RegionFunctionApp... to) {
    deliverServiceBus(id, envelopeProperties(id), to);
  }

  @Test
  void aRegionWhoseServiceBusNamespaceIsDownGoesSilentAndThePeerTakesItsShardsOver() {
    RegionFunctionApp a = app(A);
    RegionFunctionApp b = app(B);
    startAndAwaitHeartbeats(a, b);

    // A's namespace goes down; its Kafka clusters answer throughout. A receives nothing now, so
    // the messages of A's shards are only processed once B owns those shards
    int fault = history.beginFault("region-a Service Bus namespace down");
    a.namespaceDown.set(true);
    long downAt = System.nanoTime();
    List<String> during = idsOwnedBy(A, 4);
    during.forEach(id -> {
      history.published(id);
      publish(id, b);
    });
    await("region-b processes the messages of region-a's shards while A's namespace is down")
        .atMost(L.plus(MARGIN).multipliedBy(4)).until(() -> b.settled.containsAll(during));
    history.endFault(fault);

    List<TakeoverReport> reports = b.ticks.stream()
        .flatMap(t -> t.report().takeovers().stream()).toList();
    assertEquals(Set.of(0, 2), reports.stream().map(TakeoverReport::shard)
        .collect(Collectors.toSet()), reports.toString());
    long takeoverAt = b.ticks.stream().filter(t -> !t.report().takeovers().isEmpty())
        .mapToLong(RegionFunctionApp.Tick::atNanos).min().orElseThrow();
    Duration took = Duration.ofNanos(takeoverAt - downAt);
    assertTrue(a.ticks.stream().anyMatch(t -> t.report().silent()
        && t.report().silentReason().contains("servicebus:region-a")), "A said why it is silent");
    // silent from its first tick after the fault, so the lease lapses L + margin after its last
    // renewal: at most a tick, L + margin and B's tick (plus load slack) after the namespace went
    assertTrue(took.compareTo(L.plus(MARGIN).plus(TICK.multipliedBy(2)).plusSeconds(10)) < 0,
        "took over " + took + " after the namespace went down");

    History.Report report = history.check(0);
    long bound = reports.stream().mapToLong(r -> r.bound().orElse(Long.MAX_VALUE)).sum();
    assertEquals(Set.of(), report.lost(), report.toString());
    assertEquals(0, report.duplicates(), "A ran none of them: " + report);
    assertTrue(report.duplicates() <= bound, report + " within the bound " + bound);
    assertEquals(List.of(), b.tickErrors);
    assertEquals(List.of(), a.tickErrors);
    System.out.printf("functions namespace down: B took A's shards over %d ms after A's Service Bus"
        + " namespace went down (L %s + margin %s, tick %s); %d messages, %d duplicates, bound %d%n",
        took.toMillis(), L, MARGIN, TICK, report.published(), report.duplicates(), bound);
  }
}
