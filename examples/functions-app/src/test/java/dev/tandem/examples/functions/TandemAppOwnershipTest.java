package dev.tandem.examples.functions;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.microsoft.azure.functions.ExecutionContext;
import dev.tandem.azure.servicebus.RecheckScheduler;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mockito.ArgumentCaptor;

/**
 * The sample's wiring, in region A with the two regions' real Kafka clusters (in this JVM): the
 * {@code tandem-heartbeat} timer function renews A's shard leases, and the Service Bus function
 * runs a message of A's shard once and leaves a message of B's shard to B: it parks a recheck copy
 * on its own queue (the SDK's sender client, mocked at the cloud boundary) and returns.
 */
@TandemClusters
class TandemAppOwnershipTest {

  static final int SHARDS = 4;
  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static TwoRegions regions;
  @TempDir static Path dir;
  static TandemProvider.App app;
  static ServiceBusSenderClient recheckSender;

  @BeforeAll
  static void start() {
    recheckSender = mock(ServiceBusSenderClient.class);
    when(recheckSender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenReturn(1L);
    app = TandemProvider.start(settings(regions), dir, recheckSender);
    assertTrue(app.region.replicationLog().awaitRestored(Duration.ofSeconds(60)));
    TandemFunctions.install(app.functions());
  }

  @AfterAll
  static void stop() {
    TandemFunctions.uninstall();
    TandemProvider.stop();
  }

  /** Region A's app settings: the two clusters, 4 shards, W 100; Functions defaults otherwise. */
  static Map<String, String> settings(TwoRegions regions) {
    Map<String, String> env = new HashMap<>();
    env.put("TANDEM_REGIONS", A + "," + B);
    env.put("TANDEM_REGION", A.name());
    env.put("TANDEM_SHARDS", String.valueOf(SHARDS));
    env.put("TANDEM_REPLICATION_WINDOW", "100");
    // regions shared with other classes of this JVM (@TandemClusters): a changelog of its own
    env.put("TANDEM_CHANGELOG_TOPIC_PREFIX", Topics.fresh("tandem-app"));
    env.put("TANDEM_REGION_REGION_A_BOOTSTRAP_SERVERS", regions.a().bootstrapServers());
    env.put("TANDEM_REGION_REGION_B_BOOTSTRAP_SERVERS", regions.b().bootstrapServers());
    return env;
  }

  /** The worker's context: a logger whose records the test reads. */
  static final class Context implements ExecutionContext {
    final List<String> lines = new CopyOnWriteArrayList<>();
    final Logger logger = Logger.getAnonymousLogger();

    Context() {
      logger.setUseParentHandlers(false);
      logger.addHandler(new Handler() {
        @Override
        public void publish(LogRecord record) {
          lines.add(record.getMessage());
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      });
    }

    @Override
    public Logger getLogger() {
      return logger;
    }

    @Override
    public String getInvocationId() {
      return "test";
    }

    @Override
    public String getFunctionName() {
      return "orders-servicebus";
    }
  }

  static String idOnShardOf(RegionId owner) {
    while (true) {
      String id = TandemIds.newId();
      if ((Shards.forKey(id, SHARDS) % 2 == 0) == owner.equals(A)) {
        return id;
      }
    }
  }

  static Map<String, Object> applicationProperties(String id, String body) {
    Envelope e = Envelope.forPayload(id, body.getBytes(StandardCharsets.UTF_8),
        Shards.forKey(id, SHARDS), System.currentTimeMillis());
    Map<String, Object> props = new HashMap<>();
    EnvelopeCodec.write(e, props::put);
    return props;
  }

  @Test
  void theTimerRenewsThisRegionsLeasesAndTheServiceBusFunctionRunsOnlyItsOwnShards() {
    OrderFunctions functions = new OrderFunctions();
    ShardOwnership ownership = TandemFunctions.installed().ownership().orElseThrow();
    assertEquals(0L, ownership.lease(0).heartbeatHlc(), "no lease record before the first tick");

    functions.heartbeat("{}", new Context());
    // A's shards (0, 2) now hold A's renewed lease; B's shards were only observed
    assertNotEquals(0L, ownership.lease(0).heartbeatHlc());
    assertNotEquals(0L, ownership.lease(2).heartbeatHlc());
    assertEquals(A, ownership.lease(0).owner());
    assertEquals(0L, ownership.lease(1).heartbeatHlc());

    String mine = idOnShardOf(A);
    String body = "{\"order\":1}";
    Context first = new Context();
    functions.ordersFromServiceBus(body, applicationProperties(mine, body), 1, first);
    assertEquals(1, first.lines.stream().filter(l -> l.contains("processed once")).count());
    Context again = new Context();
    functions.ordersFromServiceBus(body, applicationProperties(mine, body), 2, again);
    assertEquals(0, again.lines.stream().filter(l -> l.contains("processed once")).count(),
        "the second copy is skipped");
    await().atMost(Duration.ofSeconds(30))
        .until(() -> app.region.store().isTerminal(mine, Shards.forKey(mine, SHARDS)));

    // a message of B's shard: A holds it briefly, then parks a recheck copy on its own queue and
    // returns (the trigger completes the original; B runs the message)
    String theirs = idOnShardOf(B);
    Context follower = new Context();
    functions.ordersFromServiceBus(body, applicationProperties(theirs, body), 1, follower);
    assertTrue(follower.lines.isEmpty(), "the function body did not run in the follower region");
    ArgumentCaptor<ServiceBusMessage> copy = ArgumentCaptor.forClass(ServiceBusMessage.class);
    ArgumentCaptor<OffsetDateTime> at = ArgumentCaptor.forClass(OffsetDateTime.class);
    verify(recheckSender).scheduleMessage(copy.capture(), at.capture());
    assertEquals(theirs, copy.getValue().getApplicationProperties().get(TandemHeaders.ID));
    assertNotEquals(theirs, copy.getValue().getMessageId(), "a new MessageId");
    assertEquals(1, copy.getValue().getApplicationProperties()
        .get(RecheckScheduler.RECHECK_PROPERTY));
    assertEquals(body, copy.getValue().getBody().toString());
    assertTrue(at.getValue().isAfter(OffsetDateTime.now().plusSeconds(3)),
        "one heartbeat period later: " + at.getValue());
  }
}
