package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.messaging.servicebus.ServiceBusMessage;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.PublishException;
import dev.tandem.publisher.RegionListener;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.math.BigDecimal;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15 item 3: a message the SDK or the service refuses for its content is rejected to the caller
 * with a clear error and never stops publishing to a region. The namespaces encode with the SDK's own
 * {@code ServiceBusMessageBatch} and serializer ({@link SdkBatches}) and refuse what the service
 * refuses ({@link FakeNamespace} entity rules).
 */
class ServiceBusRefusedContentTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static final int LINK_MAX = 256 * 1024; // Standard tier

  @TempDir Path spool;
  final FakeNamespace nsA = new FakeNamespace("orders", 100, LINK_MAX, 1);
  final FakeNamespace nsB = new FakeNamespace("orders", 100, LINK_MAX, 1);
  final MeterRegistry registry = new SimpleMeterRegistry();
  TandemServiceBusSender sender;

  {
    nsA.sdkLinkMaxBytes = LINK_MAX;
    nsB.sdkLinkMaxBytes = LINK_MAX;
  }

  /** Copies a region refused on replay, as the publisher hands them to its listeners. */
  final List<String> movedAside = new java.util.concurrent.CopyOnWriteArrayList<>();

  TandemServiceBusSender sender(AckPolicy policy) {
    RegionListener deadLetters = new RegionListener() {
      @Override
      public void onCopyRejected(RegionId region, OutboundMessage message,
          MessageRejectedException cause) {
        movedAside.add(region.name() + ":" + message.id() + ":" + cause.getMessage());
      }
    };
    sender = TandemServiceBusSender.builder()
        .region(A, nsA.syncClient())
        .region(B, nsB.syncClient())
        .shardCount(8)
        .meterRegistry(registry)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(policy).timeout(Duration.ofSeconds(5))
            .listener(deadLetters))
        .build();
    return sender;
  }

  @AfterEach
  void close() {
    if (sender != null) {
      sender.close();
    }
  }

  private double rejected(RegionId region) {
    var c = registry.find("tandem.publisher.failed").tags("region", region.name(), "outcome", "rejected")
        .counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aPropertyTheSdkCannotEncodeIsRefusedToTheCallerByNameAndTheNextMessageStillReachesBothRegions() {
    sender(AckPolicy.ALL);
    ServiceBusMessage bad = new ServiceBusMessage("paid").setMessageId("bad");
    bad.getApplicationProperties().put("paidAt", Instant.parse("2026-12-05T00:00:00Z"));

    RuntimeException e = assertThrows(RuntimeException.class, () -> sender.sendMessage(bad));
    assertInstanceOf(IllegalArgumentException.class, e, "refused before anything is sent: " + e);
    assertTrue(e.getMessage().contains("paidAt") && e.getMessage().contains("Instant"), e.getMessage());
    assertEquals(0, sender.publisher().status(A).spoolDepth(), "nothing spooled for A");
    assertEquals(0, sender.publisher().status(B).spoolDepth(), "nothing spooled for B");

    sender.sendMessage(new ServiceBusMessage("next").setMessageId("good"));
    assertEquals(List.of("good"), nsA.deliveredIds());
    assertEquals(List.of("good"), nsB.deliveredIds());
  }

  @Test
  void everyTypeTheCodecCarriesIsOneTheSdkEncodesAndTheOthersAreRefusedByName() {
    sender(AckPolicy.ALL);
    Map<String, Object> carried = new LinkedHashMap<>();
    carried.put("string", "s");
    carried.put("boolean", true);
    carried.put("byte", (byte) 1);
    carried.put("short", (short) 2);
    carried.put("int", 3);
    carried.put("long", 4L);
    carried.put("float", 1.5f);
    carried.put("double", 2.5d);
    carried.put("char", 'c');
    carried.put("uuid", UUID.randomUUID());
    carried.put("offsetDateTime", OffsetDateTime.of(2026, 12, 5, 1, 0, 0, 0, ZoneOffset.UTC));
    carried.put("date", new Date(1_700_000_000_000L));
    carried.put("duration", Duration.ofSeconds(90));
    carried.put("uri", URI.create("https://example.org/x"));
    carried.put("null", null);
    ServiceBusMessage all = new ServiceBusMessage("typed").setMessageId("typed");
    all.getApplicationProperties().putAll(carried);
    sender.sendMessage(all);
    for (FakeNamespace ns : List.of(nsA, nsB)) {
      assertEquals(1, ns.delivered.size());
      Map<String, Object> got =
          SdkBatches.received(ns.delivered.get(0)).getApplicationProperties(); // as a receiver sees it
      carried.forEach((k, v) -> assertEquals(v, got.get(k), k));
      assertTrue(got.containsKey("null"));
    }

    // What the SDK's AMQP encoder cannot encode (Instant, BigDecimal, LocalDate: "No encoding is
    // known"; byte[]: a ClassCastException) is refused with the property's name, nothing sent.
    for (Object odd : List.of(Instant.now(), new BigDecimal("1.5"), LocalDate.now(), new byte[] {1})) {
      ServiceBusMessage m = new ServiceBusMessage("odd");
      m.getApplicationProperties().put("oddOne", odd);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> sender.sendMessage(m), odd.getClass().getName());
      assertTrue(e.getMessage().contains("oddOne"), e.getMessage());
    }
    assertEquals(1, nsA.delivered.size());
    assertEquals(1, nsB.delivered.size());
  }

  @Test
  void aSessionlessMessageToASessionQueueIsRejectedToTheCallerAndTheNextOneStillGoes() {
    nsA.requiresSession = true;
    nsB.requiresSession = true;
    sender(AckPolicy.ALL);

    PublishException e = assertThrows(PublishException.class,
        () -> sender.sendMessage(new ServiceBusMessage("no session").setMessageId("lost-session")));
    for (RegionId r : List.of(A, B)) {
      assertInstanceOf(MessageRejectedException.class, e.failures().get(r), "region " + r + ": " + e);
      assertTrue(e.failures().get(r).getMessage().contains("SessionId"), e.failures().get(r).getMessage());
      assertEquals(0, sender.publisher().status(r).spoolDepth(), "nothing spooled for " + r);
    }
    assertTrue(e.spooled().isEmpty());

    sender.sendMessage(new ServiceBusMessage("with session").setSessionId("s-1").setMessageId("ok"));
    assertEquals(List.of("ok"), nsA.deliveredIds());
    assertEquals(List.of("ok"), nsB.deliveredIds());
  }

  @Test
  void aCopyTheServiceRefusesOnReplayIsMovedAsideWithAMetricAndTheRestOfTheSpoolDrains()
      throws InterruptedException {
    nsA.requiresSession = true;
    nsB.requiresSession = true;
    sender(AckPolicy.ANY);
    nsB.down.set(true);

    // A refuses it for its content; B is down, so B's copy waits in the spool.
    PublishException e = assertThrows(PublishException.class,
        () -> sender.sendMessage(new ServiceBusMessage("no session").setMessageId("bad")));
    assertInstanceOf(MessageRejectedException.class, e.failures().get(A), String.valueOf(e.failures()));
    for (int i = 0; i < 3; i++) {
      sender.sendMessage(new ServiceBusMessage("p" + i).setSessionId("s").setMessageId("p-" + i));
    }
    assertEquals(List.of("p-0", "p-1", "p-2"), nsA.deliveredIds());
    assertEquals(4, sender.publisher().status(B).spoolDepth());

    nsB.down.set(false);
    assertTrue(sender.publisher().awaitSpoolDrained(Duration.ofSeconds(20)),
        "B's spool drains past the refused copy; refused by B so far: " + nsB.refused.size()
            + " batches, delivered " + nsB.deliveredIds());
    assertEquals(List.of("p-0", "p-1", "p-2"), nsB.deliveredIds().stream().distinct().toList());
    assertFalse(nsB.deliveredIds().contains("bad"));
    assertEquals(1.0, rejected(B), "the refused copy is counted once for B");
    assertEquals(1.0, rejected(A));
    // moved aside with its reason: counted as rejected on replay and handed to the listener
    assertEquals(1.0, registry.get("tandem.publisher.spool.rejected").tags("region", "region-b")
        .counter().count());
    assertEquals(1, movedAside.size(), String.valueOf(movedAside));
    assertTrue(movedAside.get(0).startsWith("region-b:bad:") && movedAside.get(0).contains("SessionId"),
        movedAside.get(0));
  }

  @Test
  void aBodyOverTheNamespacesKnownMaximumIsRefusedBeforeItIsSpooledForARegionThatIsDown() {
    sender(AckPolicy.ANY);
    sender.sendMessage(new ServiceBusMessage("first").setMessageId("first")); // the link's size is known
    nsB.down.set(true);

    ServiceBusMessage big = new ServiceBusMessage(new byte[LINK_MAX + 1]).setMessageId("big");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> sender.sendMessage(big));
    assertTrue(e.getMessage().contains(String.valueOf(LINK_MAX)), e.getMessage());
    assertEquals(0, sender.publisher().status(B).spoolDepth(), "nothing spooled for the region down");
    assertEquals(List.of("first"), nsA.deliveredIds());
  }

  @Test
  void aSessionlessMessageScheduledOnASessionQueueIsRejectedNotSpooled() {
    nsA.requiresSession = true;
    nsB.requiresSession = true;
    sender(AckPolicy.ALL);
    OffsetDateTime at = OffsetDateTime.now(ZoneOffset.UTC).plusHours(1);

    PublishException e = assertThrows(PublishException.class,
        () -> sender.scheduleMessage(new ServiceBusMessage("later").setMessageId("later"), at));
    assertInstanceOf(MessageRejectedException.class, e.failures().get(A), String.valueOf(e.failures()));
    assertInstanceOf(MessageRejectedException.class, e.failures().get(B), String.valueOf(e.failures()));
    assertTrue(e.spooled().isEmpty());

    ScheduledMessage ok = sender.scheduleMessage(
        new ServiceBusMessage("later").setSessionId("s").setMessageId("later-ok"), at);
    assertTrue(ok.allKnown());
  }

  @Test
  void theAsyncSenderRejectsACopyTheServiceRefusesAndKeepsPublishing() {
    nsA.requiresSession = true;
    nsB.requiresSession = true;
    try (TandemServiceBusAsyncSender async = TandemServiceBusAsyncSender.builder()
        .region(A, nsA.asyncClient())
        .region(B, nsB.asyncClient())
        .shardCount(8)
        .operationTimeout(Duration.ofSeconds(5))
        .meterRegistry(registry)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ALL).timeout(Duration.ofSeconds(5)))
        .build()) {
      PublishException e = assertThrows(PublishException.class, () -> async
          .sendMessage(new ServiceBusMessage("no session").setMessageId("bad"))
          .block(Duration.ofSeconds(10)));
      assertInstanceOf(MessageRejectedException.class, e.failures().get(A), String.valueOf(e.failures()));
      assertInstanceOf(MessageRejectedException.class, e.failures().get(B), String.valueOf(e.failures()));
      assertTrue(e.spooled().isEmpty());

      async.sendMessage(new ServiceBusMessage("ok").setSessionId("s").setMessageId("ok"))
          .block(Duration.ofSeconds(10));
      assertEquals(List.of("ok"), nsA.deliveredIds());
      assertEquals(List.of("ok"), nsB.deliveredIds());
    }
  }
}
