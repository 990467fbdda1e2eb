package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.azure.functions.HeartbeatReport;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.core.RegionId;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
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
@TandemClusters
class TandemAppProbesTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  /** A syntactically valid connection string of a namespace that does not exist. */
  static final String CONNECTION = "Endpoint=sb://tandem-sample.servicebus.windows.net/;"
      + "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=a2V5";
  static TwoRegions regions;
  @TempDir static Path dir;
  static TandemProvider.App app;
  /** The sample's region meters go to Micrometer's global registry: read them here. */
  static final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  /**
   * What TandemFunctions logged while the app's builder was built: its lines on stderr, where the
   * sample's SLF4J binding (slf4j-simple, simplelogger.properties) writes and the Functions host
   * reads.
   */
  static List<String> built;

  @BeforeAll
  static void start() {
    Metrics.addRegistry(meters);
    Map<String, String> settings = TandemAppOwnershipTest.settings(regions);
    settings.put("ServiceBusConnection", CONNECTION);
    settings.put("KafkaBrokers", regions.b().bootstrapServers()); // not A's changelog cluster
    app = TandemProvider.start(settings, dir, null);
    built = linesOf(TandemFunctions.class.getName(), stderrOf(() -> {
      TandemFunctions.install(app.functions().probeTimeout(Duration.ofSeconds(2)));
      return null;
    }));
  }

  @AfterAll
  static void stop() {
    TandemFunctions.uninstall();
    TandemProvider.stop();
    Metrics.removeRegistry(meters);
  }

  @Test
  void theHeartbeatProbesTheNamespaceThroughAReceiverAndTheKafkaTriggerCluster() {
    assertNotNull(app.triggerReceiver, "a receiver on the trigger's queue (ServiceBusConnection)");
    assertEquals("orders", app.triggerReceiver.getEntityPath());
    assertNotNull(app.triggerAdmin, "KafkaBrokers is not the changelog cluster: an Admin for it");
    assertEquals(List.of(), built.stream()
            .filter(l -> l.contains(" WARN ") || l.contains(" ERROR ")).toList(),
        "the sample wires its trigger probes: no WARN at build");
    // a sample giving only the recheck sender logs that the namespace is probed through it
    // (INFO, shown: simplelogger.properties logs dev.tandem at INFO; a WARN once the sender's
    // probe is marked no round trip)
    assertEquals(List.of(), built.stream().filter(l -> l.contains("recheck sender")).toList(),
        "the namespace is probed through the trigger's receiver, not the recheck sender");

    // TandemFunctions built from the region registers its meters where the region's go (Micrometer's
    // global registry here), not in a private registry nobody reads
    assertNotNull(meters.find("tandem.functions.servicebus.parked").tag("reason", "follower")
        .counter(), "the functions' meters reach the global registry");

    String namespace = "servicebus:tandem-sample.servicebus.windows.net/orders";
    String kafka = "kafka:" + regions.b().bootstrapServers();
    // one round asks the changelog, then the trigger probes in the order wired (Kafka, then the
    // namespace), and stops at the first silent one
    HeartbeatReport[] round = new HeartbeatReport[1];
    String stderr = stderrOf(() -> round[0] = TandemFunctions.installed().heartbeat());
    HeartbeatReport report = round[0];
    assertTrue(String.valueOf(report.silentReason()).contains(namespace),
        "no namespace behind the test's connection string: the round is silent naming it: "
            + report);
    // the silent round is an operator's WARN, and it reaches the sink of the sample's SLF4J binding:
    // a stderr line, which the Functions host logs as a Warning (it classes a worker's stderr line
    // containing "warn" so), naming the logger and the silent probe
    assertEquals(1, linesOf("dev.tandem.azure.functions.ShardHeartbeats", stderr).stream()
            .filter(l -> l.contains(" WARN ") && l.contains("SILENT: ") && l.contains(namespace))
            .count(),
        "one WARN line of the silent round on stderr: " + stderr);

    assertEquals(1, count(meters, kafka, "answered"),
        "the heartbeat asked the Kafka trigger's cluster (region B's, up) and it answered: "
            + probes(meters));
    assertEquals(1, count(meters, namespace, "silent"),
        "the heartbeat asked the namespace (none behind the test's connection string): "
            + probes(meters));
  }

  /** Runs {@code body} with System.err captured (slf4j-simple writes there); returns what it wrote. */
  static synchronized String stderrOf(Supplier<?> body) {
    PrintStream old = System.err;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
    try {
      body.get();
    } finally {
      System.setErr(old);
    }
    String out = buf.toString(StandardCharsets.UTF_8);
    old.print(out);
    return out;
  }

  /** The lines of {@code logger} (slf4j-simple prints its name after the level). */
  static List<String> linesOf(String logger, String stderr) {
    return stderr.lines().filter(l -> l.contains(" " + logger + " - ")).toList();
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
