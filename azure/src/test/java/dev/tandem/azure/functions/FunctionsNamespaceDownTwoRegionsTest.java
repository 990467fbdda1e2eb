package dev.tandem.azure.functions;

import static dev.tandem.azure.functions.RegionFunctionApp.A;
import static dev.tandem.azure.functions.RegionFunctionApp.B;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemIds;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15 item 8 end to end: the same function app in two regions (real RocksDB stores replicated
 * over two real KRaft clusters, AUTOMATIC ownership driven by the heartbeat timer, a Service Bus
 * trigger whose recheck sender is the SDK client of this region's namespace, mocked at the cloud
 * boundary). Region A's Service Bus namespace goes down while its Kafka changelog keeps answering:
 * A's heartbeat must go silent, so that B takes A's shards over within L + margin + a tick and
 * processes their messages, instead of those messages waiting out the whole outage.
 */
@TandemClusters
class FunctionsNamespaceDownTwoRegionsTest {

  static final int SHARDS = 4;
  static final Duration L = Duration.ofSeconds(6);
  static final Duration MARGIN = Duration.ofSeconds(3);
  static final Duration TICK = Duration.ofSeconds(1);

  static TwoRegions regions;
  @TempDir Path dir;
  final List<RegionFunctionApp> apps = new ArrayList<>();
  final History history = new History();

  @AfterEach
  void closeApps() {
    apps.forEach(RegionFunctionApp::close);
  }

  RegionFunctionApp app(RegionId region) {
    RegionFunctionApp app = new RegionFunctionApp(regions.a().bootstrapServers(),
        regions.b().bootstrapServers(), region, dir, "fn-nsdown", SHARDS, L, MARGIN,
        Duration.ofSeconds(120), TICK, Duration.ofSeconds(2),
        ctx -> history.handled(ctx.id(), region.name(), "fn-" + region.name(), ctx.epoch()));
    apps.add(app);
    return app;
  }

  static List<String> idsOwnedBy(RegionId owner, int n) {
    List<String> ids = new ArrayList<>();
    while (ids.size() < n) {
      String id = TandemIds.newId();
      if ((Shards.forKey(id, SHARDS) % 2 == 0) == owner.equals(A)) {
        ids.add(id);
      }
    }
    return ids;
  }

  void publish(String id, RegionFunctionApp... to) {
    byte[] payload = ("order " + id).getBytes(StandardCharsets.UTF_8);
    Envelope e = Envelope.forPayload(id, payload, Shards.forKey(id, SHARDS),
        System.currentTimeMillis());
    Map<String, Object> props = new HashMap<>();
    EnvelopeCodec.write(e, props::put);
    Map<String, String> headers = new HashMap<>();
    props.forEach((k, v) -> headers.put(k, String.valueOf(v)));
    for (RegionFunctionApp app : to) {
      app.deliver(new RegionFunctionApp.Delivery(id, Map.copyOf(headers), payload, 1, id,
          Map.copyOf(props)));
    }
  }

  @Test
  void aRegionWhoseServiceBusNamespaceIsDownGoesSilentAndThePeerTakesItsShardsOver() {
    RegionFunctionApp a = app(A);
    RegionFunctionApp b = app(B);
    for (RegionFunctionApp app : List.of(a, b)) {
      assertTrue(app.log.awaitRestored(Duration.ofSeconds(60)), app.region + " restored");
    }
    a.start();
    b.start();
    await().atMost(Duration.ofSeconds(60)).until(() -> IntStream.of(0, 1).allMatch(i ->
        List.of(a, b).get(i).ticks.stream().anyMatch(t -> !t.report().renewed().isEmpty())));

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
