package dev.tandem.azure.functions;

import static dev.tandem.azure.functions.RegionFunctionApp.A;
import static dev.tandem.azure.functions.RegionFunctionApp.B;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.RegionHealth;
import dev.tandem.consumer.kafka.KafkaClusterProbe;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.testkit.junit.TandemClusters;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 21: a Functions region's health reads the heartbeat's trigger probes the way a plain
 * consumer's health reads its poll loop's broker probe. Region A's function has a Kafka trigger on a
 * cluster of its own, probed by a real {@link KafkaClusterProbe}; when that cluster stops answering
 * (the probe then asks an address nothing listens on) A's heartbeat stays silent — its shards will
 * be taken over — and its health must say DOWN (503), naming the probe, although A's changelog
 * broker still answers. Shared clusters: no broker is stopped here.
 */
@TandemClusters
class FunctionsTriggerBrokerHealthTest extends TwoRegionFunctions {

  /** The admin clients of the probes, closed after the apps that use them. */
  final List<Admin> admins = new ArrayList<>();

  @AfterEach
  void close() {
    closeApps();
    admins.forEach(Admin::close);
  }

  @Test
  void aFunctionsRegionWhoseKafkaTriggerClusterIsDownReportsDown() throws Exception {
    // the trigger's cluster: answering (region A's cluster stands in for it), or gone (a port on
    // which nothing listens: the real admin request gets no answer)
    Admin up = admin(regions.a().bootstrapServers());
    Admin gone = admin("127.0.0.1:" + freePort());
    AtomicBoolean triggerUp = new AtomicBoolean(true);
    KafkaClusterProbe answering = KafkaClusterProbe.of("orders", up);
    KafkaClusterProbe silent = KafkaClusterProbe.of("orders", gone);
    BrokerProbe trigger = BrokerProbe.of(answering.name(),
        t -> (triggerUp.get() ? answering : silent).answers(t));

    RegionFunctionApp a = app(A, trigger);
    RegionFunctionApp b = app(B, null);
    startAndAwaitHeartbeats(a, b);
    await().atMost(Duration.ofSeconds(30))
        .until(() -> a.functions.health().status() == RegionHealth.Status.UP);
    assertEquals(2, a.functions.health().shardsOwned(), a.functions.health().toString());

    // the Kafka trigger's cluster stops answering; A's changelog broker still does
    long downAt = System.nanoTime();
    triggerUp.set(false);
    await().atMost(Duration.ofSeconds(30)).until(() -> a.ticks.stream()
        .anyMatch(t -> t.startNanos() > downAt && t.report().silent()));
    // the heartbeat went silent for the trigger probe: A's health says so before B takes over
    await().atMost(L).untilAsserted(() -> {
      RegionHealth h = a.functions.health();
      assertEquals(RegionHealth.Status.DOWN, h.status(), h.details().toString());
    });
    RegionHealth down = a.functions.health();
    assertEquals(503, TandemFunctions.httpStatus(down));
    assertTrue(down.reasons().get(0).contains("kafka:orders"), down.reasons().toString());
    assertTrue(b.functions.health().status() != RegionHealth.Status.DOWN,
        b.functions.health().reasons().toString());

    // the trigger's cluster answers again: A is no longer DOWN
    triggerUp.set(true);
    await().atMost(Duration.ofSeconds(60))
        .until(() -> a.functions.health().status() != RegionHealth.Status.DOWN);
    assertTrue(a.tickErrors.isEmpty(), a.tickErrors.toString());
    assertTrue(b.tickErrors.isEmpty(), b.tickErrors.toString());
  }

  RegionFunctionApp app(dev.tandem.core.RegionId region, BrokerProbe trigger) {
    return app(region, "fn-trigger-health", NEVER_STUCK, null, trigger, ctx -> { });
  }

  Admin admin(String bootstrap) {
    Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 3_000,
        AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 3_000));
    admins.add(admin);
    return admin;
  }

  static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
