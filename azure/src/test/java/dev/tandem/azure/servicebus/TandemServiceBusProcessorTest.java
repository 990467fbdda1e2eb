package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessageContext;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.azure.messaging.servicebus.models.DeadLetterOptions;
import dev.tandem.consumer.MissingIdPolicy;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.ShardFence;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mockito.ArgumentCaptor;

/**
 * Every outcome of the real {@link OnceProcessor} (real RocksDB store) mapped to a Service Bus
 * settlement, with the SDK's real received-message type and a Mockito-mocked processor context and
 * sender (no Service Bus emulator runs here).
 */
class TandemServiceBusProcessorTest {

  static final int SHARDS = 4;

  @TempDir Path dir;
  IdempotencyStore store;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final AtomicInteger runs = new AtomicInteger();

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(TestRegions.B).instance("fn-1")
        .directory(dir).maxAttempts(3).build();
  }

  @AfterEach
  void close() {
    store.close();
  }

  TandemServiceBusProcessor wrapper(ShardFence fence, ServiceBusSenderClient recheck) {
    OnceProcessor processor = OnceProcessor.builder().store(store)
        .deadLetterSink(TandemServiceBusProcessor.settlementDeadLetterSink())
        .missingIdPolicy(MissingIdPolicy.REJECT)
        .inProgressWait(Duration.ofMillis(50))
        .fence(fence)
        .build();
    TandemServiceBusProcessor.Builder b = TandemServiceBusProcessor.builder().processor(processor)
        .shardCount(SHARDS).followerHold(Duration.ofMillis(300)).meterRegistry(meters);
    if (recheck != null) {
      b.recheckSender(recheck);
    }
    return b.build();
  }

  static Envelope envelope(String id, String body) {
    return Envelope.forPayload(id, body.getBytes(StandardCharsets.UTF_8), 1,
        System.currentTimeMillis());
  }

  static ServiceBusReceivedMessage received(Envelope envelope, String body) {
    Map<String, Object> props = new HashMap<>();
    props.put("customer", "c-7");
    if (envelope != null) {
      EnvelopeCodec.write(envelope, props::put);
    }
    return ReceivedMessages.of(body.getBytes(StandardCharsets.UTF_8),
        envelope == null ? "m-" + TandemIds.newId() : envelope.id(), "session-1", props, 1);
  }

  static ServiceBusReceivedMessageContext context(ServiceBusReceivedMessage m) {
    ServiceBusReceivedMessageContext ctx = mock(ServiceBusReceivedMessageContext.class);
    when(ctx.getMessage()).thenReturn(m);
    return ctx;
  }

  double settled(String outcome) {
    var c = meters.find("tandem.servicebus.settled").tags("outcome", outcome).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aFreshMessageRunsOnceAndIsCompletedAndItsDuplicateIsCompletedWithoutRunning() {
    var once = wrapper(ShardFence.OPEN, null).processMessage(ctx -> runs.incrementAndGet());
    Envelope e = envelope(TandemIds.newId(), "order 1");
    ServiceBusReceivedMessageContext first = context(received(e, "order 1"));
    once.accept(first);
    verify(first).complete();
    // the other region's copy (same tandem-id), delivered here too
    ServiceBusReceivedMessageContext copy = context(received(e, "order 1"));
    once.accept(copy);
    verify(copy).complete();
    verify(copy, never()).abandon();
    assertEquals(1, runs.get());
    assertEquals(2.0, settled("complete"));
  }

  @Test
  void aFailingHandlerAbandonsSoTheNextDeliveryIsTheNextAttempt() {
    var once = wrapper(ShardFence.OPEN, null).processMessage(ctx -> {
      if (runs.incrementAndGet() == 1) {
        throw new IllegalStateException("downstream unavailable");
      }
    });
    Envelope e = envelope(TandemIds.newId(), "order 2");
    ServiceBusReceivedMessageContext first = context(received(e, "order 2"));
    once.accept(first);
    verify(first).abandon();
    verify(first, never()).complete();
    ServiceBusReceivedMessageContext redelivery = context(received(e, "order 2"));
    once.accept(redelivery);
    verify(redelivery).complete();
    assertEquals(2, runs.get());
  }

  @Test
  void badOrConflictingMessagesAreDeadLetteredWithTheirReason() {
    var once = wrapper(ShardFence.OPEN, null).processMessage(ctx -> runs.incrementAndGet());

    ServiceBusReceivedMessageContext noEnvelope = context(received(null, "x"));
    once.accept(noEnvelope);
    ArgumentCaptor<DeadLetterOptions> why = ArgumentCaptor.forClass(DeadLetterOptions.class);
    verify(noEnvelope).deadLetter(why.capture());
    assertEquals("MISSING_ID", why.getValue().getDeadLetterReason());

    String id = TandemIds.newId();
    once.accept(context(received(envelope(id, "amount 10"), "amount 10")));
    ServiceBusReceivedMessageContext sameIdOtherBody =
        context(received(envelope(id, "amount 99"), "amount 99"));
    once.accept(sameIdOtherBody);
    verify(sameIdOtherBody).deadLetter(why.capture());
    assertEquals("CONFLICT", why.getValue().getDeadLetterReason());

    // a body that does not match its digest
    ServiceBusReceivedMessageContext tampered =
        context(received(envelope(TandemIds.newId(), "original"), "tampered"));
    once.accept(tampered);
    verify(tampered).deadLetter(why.capture());
    assertEquals("DIGEST_MISMATCH", why.getValue().getDeadLetterReason());
    assertEquals(1, runs.get());
    assertEquals(3.0, settled("dead-letter"));
  }

  @Test
  void aFollowerCompletesOnceTheOwnersCompletionHasReplicatedWithoutRunning() {
    var once = wrapper((shard, epoch) -> false, null).processMessage(ctx -> runs.incrementAndGet());
    Envelope e = envelope(TandemIds.newId(), "order 3");
    // The owner region's COMPLETED, as replication writes it into this store.
    PayloadDigest digest = e.digest();
    assertEquals(ClaimResult.Acquired.class,
        store.claim(e.id(), 1, digest, 0, Duration.ofMinutes(1)).getClass());
    store.complete(e.id(), 1, null);

    ServiceBusReceivedMessageContext ctx = context(received(e, "order 3"));
    once.accept(ctx);
    verify(ctx).complete();
    assertEquals(0, runs.get());
    assertEquals(1.0, settled("follower-complete"));
  }

  @Test
  void aFollowerWithoutTheOwnersCompletionParksARecheckCopyUnderANewMessageIdAndCompletes() {
    ServiceBusSenderClient sender = mock(ServiceBusSenderClient.class);
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenReturn(77L);
    var once = wrapper((shard, epoch) -> false, sender)
        .processMessage(ctx -> runs.incrementAndGet());
    Envelope e = envelope(TandemIds.newId(), "order 4");
    ServiceBusReceivedMessage original = received(e, "order 4");
    ServiceBusReceivedMessageContext ctx = context(original);

    once.accept(ctx);

    ArgumentCaptor<ServiceBusMessage> copy = ArgumentCaptor.forClass(ServiceBusMessage.class);
    ArgumentCaptor<OffsetDateTime> at = ArgumentCaptor.forClass(OffsetDateTime.class);
    verify(sender).scheduleMessage(copy.capture(), at.capture());
    verify(ctx).complete();
    verify(ctx, never()).abandon();
    assertEquals(0, runs.get());
    ServiceBusMessage c = copy.getValue();
    assertNotEquals(original.getMessageId(), c.getMessageId(), "a new MessageId");
    assertEquals(e.id(), c.getApplicationProperties().get(TandemHeaders.ID), "the same tandem-id");
    assertEquals(e, EnvelopeCodec.read(n -> (String) c.getApplicationProperties().get(n)));
    assertEquals("session-1", c.getSessionId());
    assertEquals("c-7", c.getApplicationProperties().get("customer"));
    assertEquals(1, c.getApplicationProperties().get(TandemServiceBusProcessor.RECHECK_PROPERTY));
    assertEquals("order 4", c.getBody().toString());
    assertEquals(true, at.getValue().isAfter(OffsetDateTime.now().plusSeconds(3)));
    assertEquals(1.0, settled("recheck-scheduled"));
  }

  @Test
  void aFollowerWhoseRecheckCopyCannotBeSentKeepsTheOriginal() {
    ServiceBusSenderClient sender = mock(ServiceBusSenderClient.class);
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenThrow(new IllegalStateException("namespace unreachable"));
    var once = wrapper((shard, epoch) -> false, sender)
        .processMessage(ctx -> runs.incrementAndGet());
    ServiceBusReceivedMessageContext ctx =
        context(received(envelope(TandemIds.newId(), "order 7"), "order 7"));
    assertThrows(IllegalStateException.class, () -> once.accept(ctx));
    verify(ctx).abandon();
    verify(ctx, never()).complete();
  }

  @Test
  void aFollowerWithoutARecheckSenderAbandons() {
    var once = wrapper((shard, epoch) -> false, null).processMessage(ctx -> runs.incrementAndGet());
    ServiceBusReceivedMessageContext ctx =
        context(received(envelope(TandemIds.newId(), "order 5"), "order 5"));
    once.accept(ctx);
    verify(ctx).abandon();
    assertEquals(0, runs.get());
  }

  @Test
  void aStoreFailureAbandonsAndPropagates() {
    var once = wrapper(ShardFence.OPEN, null).processMessage(ctx -> runs.incrementAndGet());
    store.close(); // a store that cannot answer
    ServiceBusReceivedMessageContext ctx =
        context(received(envelope(TandemIds.newId(), "order 6"), "order 6"));
    assertThrows(RuntimeException.class, () -> once.accept(ctx));
    verify(ctx).abandon();
    verify(ctx, never()).complete();
    store = IdempotencyStore.builder().region(TestRegions.B).instance("fn-1")
        .directory(dir).build(); // reopened so that @AfterEach closes something open
  }

  @Test
  void theShardIsTheEnvelopesElseTheSessionHash() {
    Envelope e = envelope(TandemIds.newId(), "x");
    assertEquals(1, TandemServiceBusProcessor.incoming(received(e, "x"), SHARDS).shard());
    ServiceBusReceivedMessage plain = received(null, "x");
    assertEquals(dev.tandem.core.Shards.forKey("session-1", SHARDS),
        TandemServiceBusProcessor.incoming(plain, SHARDS).shard());
  }
}
