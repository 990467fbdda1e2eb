package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The sink alone, fed what a spool written by an earlier version may hold: application properties the
 * codec accepted then and the SDK cannot encode.
 */
class ServiceBusRegionalSinkTest {

  static final RegionId A = RegionId.of("region-a");
  final FakeNamespace ns = new FakeNamespace("orders", 100, 256 * 1024, 1);
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  ServiceBusRegionalSink sink;

  {
    ns.sdkLinkMaxBytes = 256 * 1024;
    sink = new ServiceBusRegionalSink(A, new SyncNamespaceSender(ns.syncClient()), 100, registry);
  }

  @AfterEach
  void close() {
    sink.close();
  }

  static OutboundMessage spooled(String id, String property, String encoded) {
    return OutboundMessage.builder("orders", 0).id(id).value(new byte[] {1})
        .attribute(ServiceBusMessageMapping.PROPERTY + property, encoded).build();
  }

  @Test
  void aSpooledByteArrayPropertyIsRejectedWithItsReasonAndTheCopiesBehindItGo() throws Exception {
    CompletableFuture<?> bad = sink.send(spooled("old-bytes", "raw", "x:AQI="));
    CompletableFuture<?> next = sink.send(spooled("next", "n", "i:1"));

    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> bad.get(10, TimeUnit.SECONDS));
    assertInstanceOf(MessageRejectedException.class, e.getCause());
    assertTrue(e.getCause().getMessage().contains("cannot encode"), e.getCause().getMessage());
    next.get(10, TimeUnit.SECONDS);
    assertEquals(List.of("next"), ns.deliveredIds());
    assertEquals(1.0, registry.get("tandem.servicebus.rejected").tags("region", "region-a").counter()
        .count());
  }

  @Test
  void aSpooledInstantPropertyIsReplayedAsTheSameInstantInATypeTheSdkEncodes() throws Exception {
    sink.send(spooled("old-instant", "at", "I:2026-12-05T00:00:00Z")).get(10, TimeUnit.SECONDS);
    assertEquals(OffsetDateTime.of(2026, 12, 5, 0, 0, 0, 0, ZoneOffset.UTC),
        SdkBatches.received(ns.delivered.get(0)).getApplicationProperties().get("at"));
  }
}
