package dev.tandem.azure.functions;

import static dev.tandem.azure.functions.RegionFunctionApp.A;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemIds;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * The two-region Functions set-up shared by the end-to-end Functions tests: the same function app
 * ({@link RegionFunctionApp}) in region A and region B over the two Kafka regions of
 * {@code @TandemClusters} (the subclass carries the annotation and says whether its pair is shared),
 * {@link #SHARDS} shards (A owns the even ones at first, B the odd ones), AUTOMATIC ownership with
 * {@link #L} and {@link #MARGIN}, a heartbeat timer every {@link #TICK}, one {@link History} per test,
 * and the apps a test made closed after it.
 */
abstract class TwoRegionFunctions {

  static final int SHARDS = 4;
  /** L and margin generous for GC pauses on a loaded 2-core machine: fault-free means 0 takeovers. */
  static final Duration L = Duration.ofSeconds(6);
  static final Duration MARGIN = Duration.ofSeconds(3);
  /** The timer period (the sample app's is 5 s; shorter here to keep the classes fast). */
  static final Duration TICK = Duration.ofSeconds(1);
  /** {@code stuckAfter} when a test does not exercise it: no NO_PROGRESS takeover within a test. */
  static final Duration NEVER_STUCK = Duration.ofSeconds(120);

  /**
   * Injected by {@code @TandemClusters}: an instance field (not static) so that each class gets
   * its own pair or the shared one, never the pair a previous class of the JVM left in a static
   * field of this base class.
   */
  TwoRegions regions;
  @TempDir Path dir;
  final List<RegionFunctionApp> apps = new ArrayList<>();
  final History history = new History();

  @AfterEach
  void closeApps() {
    for (RegionFunctionApp app : apps) {
      app.close();
    }
    apps.clear();
  }

  /**
   * The app of {@code region} on changelog prefix {@code prefix}; {@code recheckDelay} non-null
   * for a Service Bus trigger (its recheck sender), {@code triggerProbe} a trigger broker's probe or
   * null. Closed after the test.
   */
  RegionFunctionApp app(RegionId region, String prefix, Duration stuckAfter, Duration recheckDelay,
      BrokerProbe triggerProbe, MessageHandler handler) {
    RegionFunctionApp app = new RegionFunctionApp(regions.a().bootstrapServers(),
        regions.b().bootstrapServers(), region, dir, prefix, SHARDS, L, MARGIN, stuckAfter, TICK,
        recheckDelay, triggerProbe, handler);
    apps.add(app);
    return app;
  }

  /** The function body: records the run (region, epoch) in the history. */
  MessageHandler recording(RegionId region) {
    return ctx -> history.handled(ctx.id(), region.name(), "fn-" + region.name(), ctx.epoch());
  }

  /**
   * Both apps restored their changelogs, started their timers, and renewed their initial shards
   * at least once (their own changelogs answered).
   */
  static void startAndAwaitHeartbeats(RegionFunctionApp... both) {
    for (RegionFunctionApp app : both) {
      assertTrue(app.log.awaitRestored(Duration.ofSeconds(60)), app.region + " restored");
    }
    for (RegionFunctionApp app : both) {
      app.start();
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> IntStream.range(0, both.length)
        .allMatch(i -> both[i].ticks.stream().anyMatch(t -> !t.report().renewed().isEmpty())));
  }

  static byte[] payload(String id) {
    return ("order " + id).getBytes(StandardCharsets.UTF_8);
  }

  static Envelope envelope(String id) {
    return Envelope.forPayload(id, payload(id), Shards.forKey(id, SHARDS),
        System.currentTimeMillis());
  }

  /**
   * Publishes {@code id} to the regions of {@code to} as a Kafka trigger delivers it (the envelope
   * in string headers): each region's trigger delivers its own copy.
   */
  void publishToBoth(String id, RegionFunctionApp... to) {
    Map<String, String> headers = new HashMap<>();
    EnvelopeCodec.write(envelope(id), headers::put);
    history.published(id);
    for (RegionFunctionApp app : to) {
      app.deliver(new RegionFunctionApp.Delivery(id, Map.copyOf(headers), payload(id), 1));
    }
  }

  /**
   * Delivers {@code id} to the regions of {@code to} as a Service Bus trigger does: MessageId =
   * tandem id, the typed application properties {@code props} (the envelope among them), and the
   * same as strings in the headers. Does not record the publish in the history.
   */
  static void deliverServiceBus(String id, Map<String, Object> props, RegionFunctionApp... to) {
    Map<String, String> headers = new HashMap<>();
    props.forEach((k, v) -> headers.put(k, String.valueOf(v)));
    for (RegionFunctionApp app : to) {
      app.deliver(new RegionFunctionApp.Delivery(id, Map.copyOf(headers), payload(id), 1, id,
          Map.copyOf(props)));
    }
  }

  /** The envelope of {@code id} as typed application properties. */
  static Map<String, Object> envelopeProperties(String id) {
    Map<String, Object> props = new HashMap<>();
    EnvelopeCodec.write(envelope(id), props::put);
    return props;
  }

  /** {@code n} new ids whose shard's initial owner is {@code owner} (A owns even shards, B odd). */
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

  /** Every takeover {@code app}'s timer reported so far. */
  static List<TakeoverReport> takeovers(RegionFunctionApp app) {
    return app.ticks.stream().flatMap(t -> t.report().takeovers().stream()).toList();
  }
}
