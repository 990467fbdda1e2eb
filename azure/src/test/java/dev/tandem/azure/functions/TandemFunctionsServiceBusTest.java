package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.azure.servicebus.RecheckScheduler;
import dev.tandem.consumer.MissingIdPolicy;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.ShardFence;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mockito.ArgumentCaptor;

/**
 * {@link TandemFunctions#once(ServiceBusTriggerMessage, dev.tandem.consumer.MessageHandler)} on one
 * real RocksDB store: what a Service Bus function does per outcome, with the SDK's sender client
 * mocked at the cloud boundary. The two-region behaviour (takeover) is in {@link
 * FunctionsServiceBusRecheckTwoRegionsTest}.
 */
class TandemFunctionsServiceBusTest {

  static final int SHARDS = 4;
  @TempDir Path dir;
  IdempotencyStore store;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final AtomicInteger runs = new AtomicInteger();
  ServiceBusSenderClient sender;

  @BeforeEach
  void open() {
    store = IdempotencyStore.builder().region(TestRegions.B).instance("fn-1")
        .directory(dir).build();
    sender = mock(ServiceBusSenderClient.class);
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenReturn(9L);
  }

  @AfterEach
  void close() {
    store.close();
  }

  TandemFunctions functions(ShardFence fence, boolean recheck) {
    TandemFunctions.Builder b = TandemFunctions.builder()
        .processor(OnceProcessor.builder().store(store)
            .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
            .missingIdPolicy(MissingIdPolicy.REJECT)
            .fence(fence))
        .shardCount(SHARDS)
        .followerHold(Duration.ofMillis(100))
        .meterRegistry(meters);
    if (recheck) {
      b.recheckSender(sender).recheckDelay(Duration.ofSeconds(4));
    }
    return b.build();
  }

  static Envelope envelope(String id, String body) {
    return Envelope.forPayload(id, body.getBytes(StandardCharsets.UTF_8), 1,
        System.currentTimeMillis());
  }

  static Map<String, Object> properties(Envelope e) {
    Map<String, Object> props = new HashMap<>();
    EnvelopeCodec.write(e, props::put);
    props.put("customer", "c-7");
    return props;
  }

  double rechecks(String outcome) {
    var c = meters.find("tandem.servicebus.rechecks").tags("source", "functions", "outcome",
        outcome).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aFollowersCopySchedulesARecheckCopyAndTheFunctionReturns() {
    TandemFunctions fn = functions((shard, epoch) -> false, true);
    Envelope e = envelope(TandemIds.newId(), "order 1");
    ServiceBusTriggerMessage m = ServiceBusTriggerMessage.of("order 1", properties(e), 3)
        .withSessionId("session-9").withSystemProperties("corr-1", "text/plain", "orders");

    Outcome outcome = fn.once(m, ctx -> runs.incrementAndGet());

    assertInstanceOf(Outcome.RetryLater.class, outcome);
    assertEquals(Outcome.RetryReason.FENCED, ((Outcome.RetryLater) outcome).reason());
    ArgumentCaptor<ServiceBusMessage> copy = ArgumentCaptor.forClass(ServiceBusMessage.class);
    ArgumentCaptor<OffsetDateTime> at = ArgumentCaptor.forClass(OffsetDateTime.class);
    verify(sender).scheduleMessage(copy.capture(), at.capture());
    ServiceBusMessage c = copy.getValue();
    assertNotEquals(e.id(), c.getMessageId());
    assertEquals(e, EnvelopeCodec.read(n -> (String) c.getApplicationProperties().get(n)));
    assertEquals("c-7", c.getApplicationProperties().get("customer"));
    assertEquals(1, c.getApplicationProperties().get(RecheckScheduler.RECHECK_PROPERTY));
    assertEquals("order 1", c.getBody().toString());
    assertEquals("session-9", c.getSessionId());
    assertEquals("corr-1", c.getCorrelationId());
    assertEquals("text/plain", c.getContentType());
    assertEquals("orders", c.getSubject());
    assertTrue(at.getValue().isAfter(OffsetDateTime.now().plusSeconds(2)), "recheckDelay later");
    assertEquals(0, runs.get());
    assertEquals(1.0, rechecks("scheduled"));
  }

  @Test
  void aRecheckCopyOfACopyCountsOnAndJsonPropertiesAreCopiedTyped() {
    TandemFunctions fn = functions((shard, epoch) -> false, true);
    Envelope e = envelope(TandemIds.newId(), "order 2");
    StringBuilder json = new StringBuilder("{");
    properties(e).forEach((k, v) -> json.append('"').append(k).append("\":\"").append(v)
        .append("\","));
    json.append("\"priority\":3,\"").append(RecheckScheduler.RECHECK_PROPERTY).append("\":2}");

    fn.once(ServiceBusTriggerMessage.of("order 2", json.toString(), 1), ctx -> runs.incrementAndGet());

    ArgumentCaptor<ServiceBusMessage> copy = ArgumentCaptor.forClass(ServiceBusMessage.class);
    verify(sender).scheduleMessage(copy.capture(), any(OffsetDateTime.class));
    Map<String, Object> props = copy.getValue().getApplicationProperties();
    assertEquals(3, props.get(RecheckScheduler.RECHECK_PROPERTY), "the third recheck");
    assertEquals(3, props.get("priority"));
    assertEquals(e.id(), props.get(TandemHeaders.ID));
  }

  @Test
  void anOwnedShardRunsTheFunctionOnceAndADuplicateIsSkippedWithoutAnyCopy() {
    TandemFunctions fn = functions(ShardFence.OPEN, true);
    Envelope e = envelope(TandemIds.newId(), "order 3");
    ServiceBusTriggerMessage m = ServiceBusTriggerMessage.of("order 3", properties(e), 1);
    assertInstanceOf(Outcome.Processed.class, fn.once(m, ctx -> runs.incrementAndGet()));
    assertInstanceOf(Outcome.Skipped.class, fn.once(m, ctx -> runs.incrementAndGet()));
    assertEquals(1, runs.get());
    verify(sender, never()).scheduleMessage(any(ServiceBusMessage.class),
        any(OffsetDateTime.class));
  }

  @Test
  void aFailingFunctionIsRetriedByTheTriggerNotRechecked() {
    TandemFunctions fn = functions(ShardFence.OPEN, true);
    ServiceBusTriggerMessage m = ServiceBusTriggerMessage.of("order 4",
        properties(envelope(TandemIds.newId(), "order 4")), 1);
    TandemFunctions.RetryLaterException thrown = assertThrows(
        TandemFunctions.RetryLaterException.class, () -> fn.once(m, ctx -> {
          throw new IllegalStateException("downstream down");
        }));
    assertEquals(Outcome.RetryReason.HANDLER_FAILED, thrown.outcome().reason());
    verify(sender, never()).scheduleMessage(any(ServiceBusMessage.class),
        any(OffsetDateTime.class));
  }

  @Test
  void withoutARecheckSenderAFollowerStillAsksTheTriggerToRetry() {
    TandemFunctions fn = functions((shard, epoch) -> false, false);
    ServiceBusTriggerMessage m = ServiceBusTriggerMessage.of("order 5",
        properties(envelope(TandemIds.newId(), "order 5")), 1);
    TandemFunctions.RetryLaterException thrown = assertThrows(
        TandemFunctions.RetryLaterException.class, () -> fn.once(m, ctx -> runs.incrementAndGet()));
    assertEquals(Outcome.RetryReason.FENCED, thrown.outcome().reason());
    assertEquals(0, runs.get());
  }

  @Test
  void aRecheckCopyTheBrokerRefusesFailsTheInvocationSoTheOriginalIsRetried() {
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenThrow(new IllegalStateException("namespace unreachable"));
    TandemFunctions fn = functions((shard, epoch) -> false, true);
    ServiceBusTriggerMessage m = ServiceBusTriggerMessage.of("order 6",
        properties(envelope(TandemIds.newId(), "order 6")), 1);
    IllegalStateException thrown = assertThrows(IllegalStateException.class,
        () -> fn.once(m, ctx -> runs.incrementAndGet()));
    assertEquals("namespace unreachable", thrown.getMessage());
    assertEquals(1.0, rechecks("failed"));
    assertEquals(0.0, rechecks("scheduled"));
  }

  @Test
  void missingApplicationPropertiesFailClearlyNamingTheDeclaration() {
    TandemFunctions fn = functions(ShardFence.OPEN, true);
    IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
        () -> fn.once(ServiceBusTriggerMessage.of("order 7", null, 1),
            ctx -> runs.incrementAndGet()));
    assertTrue(thrown.getMessage().contains("@BindingName(\"ApplicationProperties\")"),
        thrown.getMessage());
    assertEquals(0, runs.get());
  }

  @Test
  void aRecheckDelayNotBelowTheHeldExpiryIsRefused() {
    IllegalStateException thrown = assertThrows(IllegalStateException.class,
        () -> TandemFunctions.builder()
            .processor(OnceProcessor.builder().store(store)
                .deadLetterSink(letter -> CompletableFuture.completedFuture(null)))
            .shardCount(SHARDS).recheckSender(sender).recheckDelay(Duration.ofMinutes(5))
            .heldExpiry(Duration.ofMinutes(5)).build());
    assertTrue(thrown.getMessage().contains("heldExpiry"), thrown.getMessage());
  }

  TandemFunctions followerWithSink(dev.tandem.consumer.DeadLetterSink sink, boolean[] owner) {
    return TandemFunctions.builder()
        .processor(OnceProcessor.builder().store(store).deadLetterSink(sink)
            .fence((shard, epoch) -> owner[0]))
        .shardCount(SHARDS).followerHold(Duration.ofMillis(20)).meterRegistry(meters)
        .recheckSender(sender).recheckDelay(Duration.ofSeconds(4)).maxRechecks(2).build();
  }

  @Test
  void aCopyPastTheRoundBoundGoesToTheDeadLetterSinkWithItsRecordUntouched() {
    java.util.List<dev.tandem.consumer.DeadLetter> letters =
        new java.util.concurrent.CopyOnWriteArrayList<>();
    boolean[] owner = {false};
    TandemFunctions fn = followerWithSink(letter -> {
      letters.add(letter);
      return CompletableFuture.completedFuture(null);
    }, owner);
    Envelope e = envelope(TandemIds.newId(), "order 5");
    Map<String, Object> props = properties(e);
    props.put(RecheckScheduler.RECHECK_PROPERTY, 2); // the last round maxRechecks(2) allows

    Outcome outcome = fn.once(ServiceBusTriggerMessage.of("order 5", props, 1),
        ctx -> runs.incrementAndGet());

    assertInstanceOf(Outcome.DeadLettered.class, outcome);
    assertEquals(1, letters.size(), "the copy went to the DeadLetterSink");
    assertEquals(dev.tandem.consumer.DeadLetterReason.RECHECK_LIMIT, letters.get(0).reason());
    assertEquals(e.id(), letters.get(0).id());
    verify(sender, never()).scheduleMessage(any(ServiceBusMessage.class),
        any(OffsetDateTime.class));
    assertEquals(1.0, rechecks("limit"));
    // the follower's dead letter did not decide the id: its owner still processes it once
    owner[0] = true;
    assertInstanceOf(Outcome.Processed.class, fn.once(ServiceBusTriggerMessage.of("order 5",
        properties(e), 1), ctx -> runs.incrementAndGet()));
    assertEquals(1, runs.get());
  }

  @Test
  void aCopyPastTheBoundWhoseDeadLetterSinkFailsIsRetriedByTheTrigger() {
    boolean[] owner = {false};
    TandemFunctions fn = followerWithSink(
        letter -> CompletableFuture.failedFuture(new IllegalStateException("sink down")), owner);
    Map<String, Object> props = properties(envelope(TandemIds.newId(), "order 6"));
    props.put(RecheckScheduler.RECHECK_PROPERTY, 2);

    assertThrows(TandemFunctions.RetryLaterException.class,
        () -> fn.once(ServiceBusTriggerMessage.of("order 6", props, 1),
            ctx -> runs.incrementAndGet()));
    assertEquals(0, runs.get());
  }

  @Test
  void theSettlementDeadLetterSinkIsRefusedForAFunctionsApp() {
    // Functions cannot settle into the Service Bus dead-letter queue: with the processor wrapper's
    // no-op sink every dead letter of a function (RECHECK_LIMIT among them) would be lost
    IllegalStateException thrown = assertThrows(IllegalStateException.class,
        () -> TandemFunctions.builder()
            .processor(OnceProcessor.builder().store(store)
                .deadLetterSink(dev.tandem.azure.servicebus.TandemServiceBusProcessor
                    .settlementDeadLetterSink()))
            .shardCount(SHARDS).recheckSender(sender).build());
    assertTrue(thrown.getMessage().contains("settlementDeadLetterSink"), thrown.getMessage());
  }

  @Test
  void zeroOrTooShortRecheckDelaysAreRefusedNamingTheValue() {
    IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
        () -> TandemFunctions.builder().recheckDelay(Duration.ZERO));
    assertTrue(zero.getMessage().contains("PT0S"), zero.getMessage());
    IllegalArgumentException zeroInProgress = assertThrows(IllegalArgumentException.class,
        () -> TandemFunctions.builder().inProgressRecheckDelay(Duration.ZERO));
    assertTrue(zeroInProgress.getMessage().contains("PT0S"), zeroInProgress.getMessage());
    IllegalStateException tooShort = assertThrows(IllegalStateException.class,
        () -> TandemFunctions.builder()
            .processor(OnceProcessor.builder().store(store)
                .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
                .claimLease(Duration.ofSeconds(30)))
            .shardCount(SHARDS).recheckSender(sender)
            .inProgressRecheckDelay(Duration.ofSeconds(2)).build());
    assertTrue(tooShort.getMessage().contains("PT2S") && tooShort.getMessage().contains("PT10S"),
        tooShort.getMessage());
  }
}
