package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.azure.functions.HeartbeatReport;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.core.RegionId;
import dev.tandem.testkit.TwoRegions;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sample built from its settings probes its triggers' brokers the way a user should wire them
 * (issue 15 item 8): the heartbeat asks the Service Bus namespace through a receiver on the
 * trigger's queue ({@code peekMessage}, a round trip) and the Kafka trigger's cluster ({@code
 * KafkaBrokers}, here region B's cluster, not A's changelog cluster) through an Admin client —
 * both built from the settings, no client handed in.
 */
class TandemAppProbesTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  /** A syntactically valid connection string of a namespace that does not exist. */
  static final String CONNECTION = "Endpoint=sb://tandem-sample.servicebus.windows.net/;"
      + "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=a2V5";
  static TwoRegions regions;
  @TempDir static Path dir;
  static TandemProvider.App app;
  /** The sample's region meters go to Micrometer's global registry: read them here. */
  static final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  /** What TandemFunctions logged while the app's builder was built. */
  static final List<LogRecord> built = new CopyOnWriteArrayList<>();
  static final Handler capture = new Handler() {
    @Override
    public void publish(LogRecord record) {
      built.add(record);
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  };

  @BeforeAll
  static void start() {
    Metrics.addRegistry(meters);
    regions = TwoRegions.start();
    Map<String, String> settings = TandemAppOwnershipTest.settings(regions);
    settings.put("ServiceBusConnection", CONNECTION);
    settings.put("KafkaBrokers", regions.b().bootstrapServers()); // not A's changelog cluster
    app = TandemProvider.start(settings, dir, null);
    Logger.getLogger(TandemFunctions.class.getName()).addHandler(capture);
    try {
      TandemFunctions.install(app.functions().probeTimeout(Duration.ofSeconds(2)));
    } finally {
      Logger.getLogger(TandemFunctions.class.getName()).removeHandler(capture);
    }
  }

  @AfterAll
  static void stop() {
    TandemFunctions.uninstall();
    TandemProvider.stop();
    if (regions != null) {
      regions.close();
    }
    Metrics.removeRegistry(meters);
  }

  @Test
  void theHeartbeatProbesTheNamespaceThroughAReceiverAndTheKafkaTriggerCluster() {
    assertNotNull(app.triggerReceiver, "a receiver on the trigger's queue (ServiceBusConnection)");
    assertEquals("orders", app.triggerReceiver.getEntityPath());
    assertNotNull(app.triggerAdmin, "KafkaBrokers is not the changelog cluster: an Admin for it");
    assertEquals(List.of(), built.stream()
            .filter(r -> r.getLevel().intValue() >= Level.WARNING.intValue())
            .map(LogRecord::getMessage)
            .toList(),
        "the sample wires its trigger probes: no WARNING at build");
    // a sample giving only the recheck sender logs that the namespace is probed through it
    // (INFO; a WARNING once the sender's probe is marked no round trip)
    assertEquals(List.of(), built.stream().map(LogRecord::getMessage)
            .filter(m -> m.contains("recheck sender")).toList(),
        "the namespace is probed through the trigger's receiver, not the recheck sender");

    String namespace = "servicebus:tandem-sample.servicebus.windows.net/orders";
    String kafka = "kafka:" + regions.b().bootstrapServers();
    // one round asks the changelog, then the trigger probes in the order wired (Kafka, then the
    // namespace), and stops at the first silent one
    HeartbeatReport report = TandemFunctions.installed().heartbeat();
    assertTrue(String.valueOf(report.silentReason()).contains(namespace),
        "no namespace behind the test's connection string: the round is silent naming it: "
            + report);

    assertEquals(1, count(meters, kafka, "answered"),
        "the heartbeat asked the Kafka trigger's cluster (region B's, up) and it answered: "
            + probes(meters));
    assertEquals(1, count(meters, namespace, "silent"),
        "the heartbeat asked the namespace (none behind the test's connection string): "
            + probes(meters));
  }

  static List<String> probes(MeterRegistry meters) {
    return meters.find("tandem.ownership.probe").counters().stream()
        .map(c -> c.getId().getTag("probe") + "/" + c.getId().getTag("outcome") + "=" + c.count())
        .sorted().toList();
  }

  static double count(MeterRegistry meters, String probe, String outcome) {
    Counter c = meters.find("tandem.ownership.probe").tag("probe", probe).tag("outcome", outcome)
        .counter();
    return c == null ? 0 : c.count();
  }
}
