package dev.tandem.azure.servicebus;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.messaging.servicebus.ServiceBusMessage;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.PublishException;
import dev.tandem.publisher.PublishResult;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The synchronous Service Bus sender over the SDK's real message types and Mockito-mocked SDK clients
 * ({@link FakeNamespace}), with the real {@link dev.tandem.publisher.DualPublisher} and its RocksDB
 * spool underneath.
 */
class TandemServiceBusSenderTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static final int SHARDS = 16;

  @TempDir Path spool;
  final FakeNamespace nsA = new FakeNamespace("orders", 3, 1024, 100);
  final FakeNamespace nsB = new FakeNamespace("orders", 3, 1024, 9_000);
  final MeterRegistry registry = new SimpleMeterRegistry();
  TandemServiceBusSender sender;

  TandemServiceBusSender sender(AckPolicy policy) {
    sender = TandemServiceBusSender.builder()
        .region(A, nsA.syncClient())
        .region(B, nsB.syncClient())
        .shardCount(SHARDS)
        .meterRegistry(registry)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(policy).timeout(Duration.ofSeconds(5)))
        .build();
    return sender;
  }

  @AfterEach
  void close() {
    if (sender != null) {
      sender.close();
    }
  }

  static Envelope envelopeOf(ServiceBusMessage m) {
    return EnvelopeCodec.read(name -> (String) m.getApplicationProperties().get(name));
  }

  @Test
  void everyRegionGetsTheSameCopyWithTheEnvelopeTheIdAsMessageIdAndTheSessionAsShardKey() {
    sender(AckPolicy.ALL);
    UUID correlation = UUID.randomUUID();
    OffsetDateTime when = OffsetDateTime.of(2026, 11, 25, 6, 0, 0, 0, ZoneOffset.UTC);
    ServiceBusMessage message = new ServiceBusMessage("order 42 paid")
        .setSessionId("customer-7")
        .setContentType("text/plain")
        .setCorrelationId("corr-1")
        .setSubject("payment")
        .setTimeToLive(Duration.ofMinutes(5));
    message.getApplicationProperties().put("amount", 1999L);
    message.getApplicationProperties().put("currency", "EUR");
    message.getApplicationProperties().put("trace", correlation);
    message.getApplicationProperties().put("at", when);
    message.getApplicationProperties().put("ratio", 0.5d);

    PublishResult result = sender.sendMessage(message);

    assertTrue(result.spooled().isEmpty());
    assertEquals(java.util.Set.of(A, B), result.acknowledged().keySet());
    assertEquals(1, nsA.delivered.size());
    assertEquals(1, nsB.delivered.size());
    ServiceBusMessage a = nsA.delivered.get(0);
    ServiceBusMessage b = nsB.delivered.get(0);
    for (ServiceBusMessage copy : List.of(a, b)) {
      assertEquals(result.id(), copy.getMessageId(), "MessageId is the Tandem id");
      assertEquals("customer-7", copy.getSessionId(), "the session id travels unchanged");
      assertArrayEquals("order 42 paid".getBytes(StandardCharsets.UTF_8), copy.getBody().toBytes());
      assertEquals("text/plain", copy.getContentType());
      assertEquals("corr-1", copy.getCorrelationId());
      assertEquals("payment", copy.getSubject());
      assertEquals(Duration.ofMinutes(5), copy.getTimeToLive());
      assertEquals(1999L, copy.getApplicationProperties().get("amount"));
      assertEquals("EUR", copy.getApplicationProperties().get("currency"));
      assertEquals(correlation, copy.getApplicationProperties().get("trace"));
      assertEquals(when, copy.getApplicationProperties().get("at"));
      assertEquals(0.5d, copy.getApplicationProperties().get("ratio"));
      Envelope envelope = envelopeOf(copy);
      assertEquals(result.envelope(), envelope, "the same envelope in every region");
      assertEquals(Shards.forKey("customer-7", SHARDS), envelope.shard());
      assertEquals(String.valueOf(envelope.shard()),
          copy.getApplicationProperties().get(TandemHeaders.SHARD));
      assertEquals(PayloadDigest.of("order 42 paid".getBytes(StandardCharsets.UTF_8)),
          envelope.digest());
    }
  }

  @Test
  void theApplicationsOwnMessageIdIsTheTandemIdAndAForgedEnvelopePropertyIsRefused() {
    sender(AckPolicy.ALL);
    PublishResult r = sender.sendMessage(new ServiceBusMessage("x").setMessageId("invoice-2026-0001"));
    assertEquals("invoice-2026-0001", r.id());
    assertEquals("invoice-2026-0001", nsA.delivered.get(0).getMessageId());
    assertEquals("invoice-2026-0001", envelopeOf(nsB.delivered.get(0)).id());
    // Without a session the id is the shard key.
    assertEquals(Shards.forKey("invoice-2026-0001", SHARDS), r.envelope().shard());

    // The envelope's properties are Tandem's: a message that brings its own is refused, not merged.
    ServiceBusMessage forged = new ServiceBusMessage("y");
    forged.getApplicationProperties().put(TandemHeaders.ID, "forged");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> sender.sendMessage(forged));
    assertTrue(e.getMessage().contains(TandemHeaders.ID), e.getMessage());
    assertEquals(1, nsA.delivered.size());
    assertEquals(1, nsB.delivered.size());
  }

  @Test
  void propertiesThatCannotTravelUnchangedAreRefusedWithTheirNameAndNothingIsSent() {
    sender(AckPolicy.ALL);
    ServiceBusMessage odd = new ServiceBusMessage("z");
    odd.getApplicationProperties().put("customer", new StringBuilder("not a supported type"));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> sender.sendMessage(odd));
    assertTrue(e.getMessage().contains("customer"), e.getMessage());

    ServiceBusMessage good = new ServiceBusMessage("ok");
    IllegalArgumentException batchError = assertThrows(IllegalArgumentException.class,
        () -> sender.sendMessages(List.of(good, odd)));
    assertTrue(batchError.getMessage().contains("customer"));
    assertTrue(nsA.delivered.isEmpty(), "a refused batch sends nothing, not even the good message");
    assertTrue(nsB.delivered.isEmpty());
  }

  @Test
  void sendMessagesKeepsOrderInEveryRegionAndSplitsWhatDoesNotFitOneBatch() {
    sender(AckPolicy.ALL);
    List<ServiceBusMessage> messages = new ArrayList<>();
    IntStream.range(0, 8).forEach(i -> messages.add(new ServiceBusMessage("m" + i).setMessageId("id-" + i)));
    List<PublishResult> results = sender.sendMessages(messages);

    List<String> expected = IntStream.range(0, 8).mapToObj(i -> "id-" + i).toList();
    assertEquals(expected, results.stream().map(PublishResult::id).toList());
    assertEquals(expected, nsA.deliveredIds());
    assertEquals(expected, nsB.deliveredIds());
    for (FakeNamespace ns : List.of(nsA, nsB)) {
      assertTrue(ns.batches.size() >= 3, "8 messages in batches of at most 3: " + ns.batches.size());
      assertTrue(ns.batches.stream().allMatch(b -> !b.isEmpty() && b.size() <= 3));
    }
    assertEquals((double) nsA.batches.size(), registry.get("tandem.servicebus.batches")
        .tags("region", "region-a", "outcome", "sent").counter().count());
  }

  @Test
  void aMessageTooLargeForABatchIsRejectedNotSpooledAndTheNextOneStillGoes() {
    sender(AckPolicy.ANY);
    ServiceBusMessage big = new ServiceBusMessage(new byte[4096]).setMessageId("big");
    PublishException e = assertThrows(PublishException.class, () -> sender.sendMessage(big));
    assertEquals("big", e.id());
    assertInstanceOf(MessageRejectedException.class, e.failures().get(A));
    assertInstanceOf(MessageRejectedException.class, e.failures().get(B));
    assertEquals(0, sender.publisher().status(A).spoolDepth());
    assertEquals(0, sender.publisher().status(B).spoolDepth());

    sender.sendMessage(new ServiceBusMessage("small").setMessageId("small"));
    assertEquals(List.of("small"), nsA.deliveredIds());
    assertEquals(List.of("small"), nsB.deliveredIds());
  }

  @Test
  void aRegionThatIsDownGetsEveryCopyFromTheSpoolInOrderWhenItComesBack() throws Exception {
    sender(AckPolicy.ANY);
    nsB.down.set(true);
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      PublishResult r = sender.sendMessage(
          new ServiceBusMessage("p" + i).setSessionId("s" + (i % 2)).setMessageId("p-" + i));
      ids.add(r.id());
      assertEquals(java.util.Set.of(A), r.acknowledged().keySet(), "A acknowledged " + r);
      assertEquals(java.util.Set.of(B), r.spooled(), "B's copy is in the spool " + r);
    }
    assertEquals(ids, nsA.deliveredIds());
    assertTrue(nsB.delivered.isEmpty());
    assertEquals(6, sender.publisher().status(B).spoolDepth());

    nsB.down.set(false);
    assertTrue(sender.publisher().awaitSpoolDrained(Duration.ofSeconds(30)), "B's spool drains");
    // A replayed copy may land twice (ids never differ); the first landing of each is in order.
    assertEquals(ids, nsB.deliveredIds().stream().distinct().toList());
    for (ServiceBusMessage copy : nsB.delivered) {
      assertEquals(copy.getMessageId(), envelopeOf(copy).id());
      ServiceBusMessage original = nsA.delivered.get(ids.indexOf(copy.getMessageId()));
      assertEquals(envelopeOf(original), envelopeOf(copy), "the replayed copy has the same envelope");
      assertEquals(original.getSessionId(), copy.getSessionId());
    }
  }

  @Test
  void aScheduledMessageHoldsBothSequenceNumbersAndIsCancelledInBothRegions() {
    sender(AckPolicy.ALL);
    OffsetDateTime at = OffsetDateTime.now(ZoneOffset.UTC).plusHours(1);
    ScheduledMessage s = sender.scheduleMessage(new ServiceBusMessage("later").setMessageId("later-1"), at);

    assertEquals("later-1", s.id());
    assertEquals(Map.of(A, 100L, B, 9_000L), s.knownSequenceNumbers());
    assertTrue(s.allKnown());
    assertEquals(List.of(at), nsA.scheduledFor);
    assertEquals(List.of(at), nsB.scheduledFor);
    assertEquals("later-1", nsB.scheduled.get(0).getMessageId());
    assertEquals("later-1", envelopeOf(nsB.scheduled.get(0)).id());
    assertTrue(nsA.delivered.isEmpty(), "a scheduled message is not sent now");

    sender.cancelScheduledMessage(s);
    assertEquals(List.of(100L), nsA.cancelled);
    assertEquals(List.of(9_000L), nsB.cancelled);

    // A handle persisted as plain sequence numbers cancels too (e.g. from another process).
    ScheduledMessage t = sender.scheduleMessage(new ServiceBusMessage("later2"), at);
    sender.cancelScheduledMessage(t.id(), t.knownSequenceNumbers());
    assertEquals(List.of(100L, 101L), nsA.cancelled);
    assertEquals(List.of(9_000L, 9_001L), nsB.cancelled);
  }

  @Test
  void aCopyScheduledWhileItsRegionWasDownIsCancelledRightAfterItsReplay() throws Exception {
    sender(AckPolicy.ANY);
    nsB.down.set(true);
    OffsetDateTime at = OffsetDateTime.now(ZoneOffset.UTC).plusHours(1);
    ScheduledMessage s = sender.scheduleMessage(new ServiceBusMessage("later"), at);
    assertEquals(Map.of(A, 100L), s.knownSequenceNumbers());
    assertFalse(s.allKnown());

    sender.cancelScheduledMessage(s); // A at once; B when its copy lands
    assertEquals(List.of(100L), nsA.cancelled);
    assertTrue(nsB.cancelled.isEmpty());

    nsB.down.set(false);
    await().atMost(Duration.ofSeconds(30)).until(() -> !nsB.cancelled.isEmpty());
    assertEquals(nsB.sequenceNumbers, nsB.cancelled, "B cancels exactly what it scheduled");
    assertNotNull(s.sequenceNumber(B).get());
    assertTrue(s.allKnown());
  }

  @Test
  void aFailedCancellationNamesTheRegion() {
    sender(AckPolicy.ALL);
    ScheduledMessage s = sender.scheduleMessage(new ServiceBusMessage("later"),
        OffsetDateTime.now(ZoneOffset.UTC).plusHours(1));
    nsB.down.set(true);
    CancelScheduledException e =
        assertThrows(CancelScheduledException.class, () -> sender.cancelScheduledMessage(s));
    assertEquals(java.util.Set.of(B), e.failures().keySet());
    assertTrue(e.getMessage().contains("region-b"), e.getMessage());
    assertEquals(List.of(100L), nsA.cancelled);
    assertEquals(1.0, registry.get("tandem.servicebus.cancelled")
        .tags("region", "region-b", "outcome", "failed").counter().count());
  }

  @Test
  void regionsSendingToDifferentEntitiesAreRefusedAtBuild() {
    FakeNamespace other = new FakeNamespace("payments", 3, 1024, 1);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TandemServiceBusSender.builder()
            .region(A, nsA.syncClient())
            .region(B, other.syncClient())
            .shardCount(4)
            .publisher(p -> p.spoolDirectory(spool))
            .build());
    assertTrue(e.getMessage().contains("orders") && e.getMessage().contains("payments"));
    assertThrows(IllegalStateException.class, () -> TandemServiceBusSender.builder()
        .region(A, nsA.syncClient()).publisher(p -> p.spoolDirectory(spool)).build(),
        "the shard count must be given");
  }

  @Test
  void closingTheSenderClosesTheClientsItOwns() {
    sender(AckPolicy.ALL).close();
    sender = null;
    assertTrue(nsA.closed.get());
    assertTrue(nsB.closed.get());
  }
}
