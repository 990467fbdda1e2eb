package dev.tandem.azure;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.when;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessageContext;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.microsoft.azure.functions.HttpRequestMessage;
import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.annotation.FunctionName;
import com.microsoft.azure.functions.annotation.KafkaTrigger;
import dev.tandem.azure.functions.IdempotentHttp;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.azure.servicebus.FakeNamespace;
import dev.tandem.azure.servicebus.ReceivedMessages;
import dev.tandem.azure.servicebus.TandemServiceBusProcessor;
import dev.tandem.azure.servicebus.TandemServiceBusSender;
import dev.tandem.azure.witness.BlobLeaseWitness;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.witness.WitnessUnavailableException;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.ManualClock;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.InMemoryReplicationLog;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The azure module's meter names are in one place: each area of the module is driven the way its
 * own fast tests drive it (real RocksDB stores, the in-memory replication log, the SDK's message
 * types with Mockito-mocked clients, {@link FakeNamespace}, a closed port for the witness), and every
 * {@code tandem.*} name registered under the module's prefixes must be a constant of {@link
 * AzureMeterNames}. No cluster, no emulator.
 */
class AzureMeterNamesTest {

  @TempDir Path dir;
  final MeterRegistry registry = new SimpleMeterRegistry();

  @Test
  void everyMeterTheAzureClassesRegisterIsListedInAzureMeterNames() throws Exception {
    functions();
    idempotentHttp();
    serviceBusSender();
    serviceBusProcessor();
    witness();

    Set<String> registered = registry.getMeters().stream().map(m -> m.getId().getName())
        .filter(n -> AzureMeterNames.PREFIXES.stream().anyMatch(n::startsWith))
        .collect(Collectors.toCollection(TreeSet::new));
    Set<String> missing = new TreeSet<>(registered);
    missing.removeAll(AzureMeterNames.ALL);
    assertTrue(missing.isEmpty(), "registered but not in AzureMeterNames: " + missing);
    // the drive reached every section: each listed name was registered by the classes above
    Set<String> unseen = new TreeSet<>(AzureMeterNames.ALL);
    unseen.removeAll(registered);
    assertTrue(unseen.isEmpty(), "listed in AzureMeterNames but not registered by the drive: "
        + unseen + " (registered: " + registered + ")");
  }

  @Test
  void allListsEveryConstantOnceAndEachUnderAPrefix() throws IllegalAccessException {
    Set<String> constants = new TreeSet<>();
    for (Field f : AzureMeterNames.class.getFields()) {
      if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
        constants.add((String) f.get(null));
      }
    }
    assertEquals(constants, new TreeSet<>(AzureMeterNames.ALL));
    assertEquals(AzureMeterNames.ALL.size(), Set.copyOf(AzureMeterNames.ALL).size(), "no repeats");
    for (String n : AzureMeterNames.ALL) {
      assertTrue(AzureMeterNames.PREFIXES.stream().anyMatch(n::startsWith), n);
    }
  }

  /** Functions: heartbeats, parking, the Kafka retry check and the recheck scheduler. */
  private void functions() {
    ManualClock clock = new ManualClock(1_000_000);
    InMemoryReplicationLog.Network network = InMemoryReplicationLog.network(clock);
    IdempotencyStore store = IdempotencyStore.builder().region(TestRegions.B).instance("fn-b")
        .directory(dir.resolve("fn")).build();
    InMemoryReplicationLog log = network.join(store);
    log.assign(Set.of(0, 1));
    try {
      ShardOwnership ownership = ShardOwnership.builder().region(TestRegions.B)
          .regions(List.of(TestRegions.A, TestRegions.B)).store(store).replicationLog(log)
          .revalidateAfter(Duration.ofSeconds(6)).clock(clock).meterRegistry(registry).build();
      ServiceBusSenderClient recheck = mock(ServiceBusSenderClient.class);
      when(recheck.getFullyQualifiedNamespace()).thenReturn("b.servicebus.windows.net");
      when(recheck.getEntityPath()).thenReturn("orders");
      TandemFunctions f = TandemFunctions.install(TandemFunctions.builder()
          .processor(OnceProcessor.builder().store(store)
              .deadLetterSink(letter -> CompletableFuture.completedFuture(null)))
          .ownership(ownership, log).shardCount(2).clock(clock).meterRegistry(registry)
          .recheckSender(recheck)
          .kafkaFunctions(Duration.ofMinutes(1), KafkaFunctions.class));
      TandemFunctions.uninstall();
      f.heartbeat();
    } finally {
      log.close();
      store.close();
    }
  }

  /** A Kafka-triggered function for the start-up check (its findings do not matter here). */
  public static class KafkaFunctions {
    @FunctionName("orders")
    public void orders(@KafkaTrigger(name = "e", topic = "t", brokerList = "b",
        consumerGroup = "g") String e) {}
  }

  private void idempotentHttp() {
    IdempotencyStore store = IdempotencyStore.builder().region(TestRegions.A).instance("http")
        .directory(dir.resolve("http")).build();
    try {
      IdempotentHttp http = IdempotentHttp.builder().store(store).shardCount(4)
          .meterRegistry(registry).build();
      @SuppressWarnings("unchecked")
      HttpRequestMessage<Optional<String>> request = mock(HttpRequestMessage.class);
      when(request.getHeaders()).thenReturn(Map.of());
      when(request.getBody()).thenReturn(Optional.empty());
      HttpResponseMessage response = mock(HttpResponseMessage.class);
      assertEquals(response, http.execute(request, () -> response));
    } finally {
      store.close();
    }
  }

  /** Publishing: the regional sinks send, schedule and cancel through the SDK's real types. */
  private void serviceBusSender() {
    FakeNamespace a = new FakeNamespace("orders", 3, 1024, 100);
    FakeNamespace b = new FakeNamespace("orders", 3, 1024, 9_000);
    try (TandemServiceBusSender sender = TandemServiceBusSender.builder()
        .region(TestRegions.A, a.syncClient()).region(TestRegions.B, b.syncClient())
        .shardCount(4).meterRegistry(registry)
        .publisher(p -> p.spoolDirectory(dir.resolve("spool")).timeout(Duration.ofSeconds(5)))
        .build()) {
      sender.sendMessage(new ServiceBusMessage("order 1"));
      var scheduled = sender.scheduleMessage(new ServiceBusMessage("order 2"),
          OffsetDateTime.now().plusMinutes(5));
      sender.cancelScheduledMessage(scheduled);
    }
  }

  /** Processing: one message settled (the settlement counter registers per outcome). */
  private void serviceBusProcessor() {
    IdempotencyStore store = IdempotencyStore.builder().region(TestRegions.B).instance("sb")
        .directory(dir.resolve("sb")).build();
    try (OnceProcessor processor = OnceProcessor.builder().store(store)
        .deadLetterSink(TandemServiceBusProcessor.settlementDeadLetterSink()).build()) {
      TandemServiceBusProcessor p = TandemServiceBusProcessor.builder().processor(processor)
          .shardCount(4).meterRegistry(registry).build();
      Envelope e = Envelope.forPayload("id-1", "body".getBytes(StandardCharsets.UTF_8), 1,
          System.currentTimeMillis());
      Map<String, Object> props = new HashMap<>();
      EnvelopeCodec.write(e, props::put);
      ServiceBusReceivedMessage m = ReceivedMessages.of("body".getBytes(StandardCharsets.UTF_8),
          "id-1", null, props, 1);
      ServiceBusReceivedMessageContext ctx = mock(ServiceBusReceivedMessageContext.class);
      when(ctx.getMessage()).thenReturn(m);
      p.processMessage(c -> { }).accept(ctx);
    } finally {
      store.close();
    }
  }

  /** The witness: a closed port refuses the connection for real (acquire, release, request). */
  private void witness() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }
    try (BlobLeaseWitness witness = BlobLeaseWitness.builder()
        .connectionString("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
            + "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
            + ";BlobEndpoint=http://127.0.0.1:" + closedPort + "/devstoreaccount1;", "tandem-witness")
        .requestTimeout(Duration.ofSeconds(2)).meterRegistry(registry).build()) {
      assertThrows(WitnessUnavailableException.class, () -> witness.acquire(1, TestRegions.A, 1));
      assertThrows(WitnessUnavailableException.class, () -> witness.release(1, TestRegions.A));
    }
    assertFalse(registry.getMeters().stream().map(Meter::getId).map(Meter.Id::getName)
        .noneMatch(n -> n.startsWith("tandem.witness.")));
  }
}
