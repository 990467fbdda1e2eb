package dev.tandem.azure.functions;

import static dev.tandem.azure.functions.RegionFunctionApp.A;
import static dev.tandem.azure.functions.RegionFunctionApp.B;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessageContext;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.azure.servicebus.ReceivedMessages;
import dev.tandem.azure.servicebus.RecheckScheduler;
import dev.tandem.azure.servicebus.TandemServiceBusProcessor;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.testkit.History;
import dev.tandem.testkit.junit.TandemClusters;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.mockito.ArgumentCaptor;

/**
 * Service Bus followers in a function app park recheck copies instead of failing the invocation:
 * the same function app in two regions (real RocksDB stores replicated over two real KRaft
 * clusters, AUTOMATIC ownership driven by {@link TandemFunctions#heartbeat()}), a Service Bus
 * trigger per region that completes a message when the function returns and abandons it (a
 * {@code MaxDeliveryCount} retry) when it throws, and each region's queue behind the SDK's {@link
 * ServiceBusSenderClient} mocked at the cloud boundary (a scheduled message is enqueued at its time).
 */
@TandemClusters
class FunctionsServiceBusRecheckTwoRegionsTest extends TwoRegionFunctions {

  static final Duration RECHECK_DELAY = Duration.ofSeconds(2);

  RegionFunctionApp app(RegionId region, String prefix) {
    return app(region, prefix, recording(region));
  }

  RegionFunctionApp app(RegionId region, String prefix, MessageHandler handler) {
    return app(region, prefix, NEVER_STUCK, RECHECK_DELAY, null, handler);
  }

  /** The message a publisher sends to every region's queue: MessageId = tandem-id, typed properties. */
  static Map<String, Object> properties(Envelope e) {
    Map<String, Object> props = new HashMap<>();
    EnvelopeCodec.write(e, props::put);
    props.put("customer", "c-7");
    props.put("priority", 3);
    return props;
  }

  void publishToBoth(String id, RegionFunctionApp... to) {
    history.published(id);
    deliverServiceBus(id, properties(envelope(id)), to);
  }

  static List<RegionFunctionApp.Scheduled> copiesOf(RegionFunctionApp app, String id) {
    return app.scheduled.stream()
        .filter(s -> id.equals(s.copy().getApplicationProperties().get(TandemHeaders.ID)))
        .toList();
  }

  double rechecks(RegionFunctionApp app, String outcome) {
    var c = app.meters.find("tandem.servicebus.rechecks").tags("source", "functions", "outcome",
        outcome).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aFollowersCopiesAreParkedAsRecheckCopiesNotAbandonedAndRunOnceAfterTheTakeover()
      throws Exception {
    CountDownLatch hung = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicBoolean hangNext = new AtomicBoolean();
    RegionFunctionApp a = app(A, "fn-recheck", ctx -> {
      history.handled(ctx.id(), A.name(), "fn-region-a", ctx.epoch());
      if (hangNext.compareAndSet(true, false)) {
        hung.countDown();
        release.await(); // A's app hangs in the function: the id stays CLAIMED, never COMPLETED
      }
    });
    RegionFunctionApp b = app(B, "fn-recheck");
    startAndAwaitHeartbeats(a, b);
    try {
      recheckThroughATakeover(a, b, hung, hangNext);
    } finally {
      release.countDown();
      a.joinInvoker(Duration.ofSeconds(30));
    }
  }

  void recheckThroughATakeover(RegionFunctionApp a, RegionFunctionApp b, CountDownLatch hung,
      AtomicBoolean hangNext) throws Exception {
    // steady state: every copy settles in both regions, no trigger retry at all
    List<String> first = new ArrayList<>(idsOwnedBy(A, 4));
    first.addAll(idsOwnedBy(B, 4));
    first.forEach(id -> publishToBoth(id, a, b));
    await().atMost(Duration.ofSeconds(90))
        .until(() -> a.settled.containsAll(first) && b.settled.containsAll(first));
    assertEquals(List.of(), a.abandonedMessageIds);
    assertEquals(List.of(), b.abandonedMessageIds);
    assertEquals(0, history.check(0).duplicates());

    // region A's app hangs in the first function of the next batch (of A's shards), then goes
    // down: B holds the copies of A's shards, parks them as recheck copies, and takes over
    hangNext.set(true);
    List<String> second = idsOwnedBy(A, 4);
    second.forEach(id -> publishToBoth(id, a, b));
    assertTrue(hung.await(60, TimeUnit.SECONDS), "A ran a function of the second batch");
    int fault = history.beginFault("region-a app down");
    a.goDown();
    long downAt = System.nanoTime();
    await().atMost(Duration.ofSeconds(120)).until(() -> b.settled.containsAll(second));
    history.endFault(fault);

    List<TakeoverReport> reports = takeovers(b);
    assertEquals(Set.of(0, 2), reports.stream().map(TakeoverReport::shard)
        .collect(Collectors.toSet()), reports.toString());
    // the tick that took over began here (the new lease is written within it, before it returns)
    long takeoverAt = b.ticks.stream().filter(t -> !t.report().takeovers().isEmpty())
        .mapToLong(RegionFunctionApp.Tick::startNanos).min().orElseThrow();

    // no abandon: the function returned for every delivery, originals and recheck copies alike
    assertEquals(List.of(), b.abandonedMessageIds, "no MaxDeliveryCount retry in B");
    int totalRounds = 0;
    for (String id : second) {
      Envelope original = envelope(id);
      assertTrue(b.completedMessageIds.contains(id), "B's original " + id + " was completed");
      List<RegionFunctionApp.Scheduled> copies = copiesOf(b, id);
      assertTrue(!copies.isEmpty(), "B parked a recheck copy of " + id);
      assertTrue(copies.get(0).atNanos() < takeoverAt, "the first copy was parked before the "
          + "takeover (B followed the shard then)");
      Set<String> messageIds = new HashSet<>();
      for (int i = 0; i < copies.size(); i++) {
        ServiceBusMessage c = copies.get(i).copy();
        assertNotEquals(id, c.getMessageId(), "a new MessageId");
        assertTrue(messageIds.add(c.getMessageId()), "every copy a new MessageId");
        assertEquals(original.id(),
            EnvelopeCodec.read(n -> (String) c.getApplicationProperties().get(n)).id());
        assertEquals(original.digest(),
            EnvelopeCodec.read(n -> (String) c.getApplicationProperties().get(n)).digest());
        assertEquals("c-7", c.getApplicationProperties().get("customer"));
        assertEquals(3, c.getApplicationProperties().get("priority"), "typed values kept");
        assertEquals(i + 1, c.getApplicationProperties().get(RecheckScheduler.RECHECK_PROPERTY),
            "the recheck counter of copy " + i);
        assertEquals("order " + id, c.getBody().toString());
        assertTrue(copies.get(i).at().isAfter(OffsetDateTime.now().minusMinutes(5)));
        // every copy was delivered and its invocation returned (the last one ran the function)
      }
      assertTrue(b.completedMessageIds.containsAll(messageIds), "every recheck copy completed");
      totalRounds += copies.size();
      // the id ran in B once, under the new epoch, after the takeover (and in A only if A hung in
      // it: the one duplicate the takeover's bound covers)
      List<History.Run> runs = history.runsOf(id);
      List<History.Run> inB = runs.stream().filter(r -> r.region().equals("region-b")).toList();
      assertEquals(1, inB.size(), runs.toString());
      assertEquals(1L, inB.get(0).epoch());
      assertTrue(inB.get(0).atNanos() >= takeoverAt, "ran after the takeover");
      assertTrue(runs.size() == 1 || id.equals(hungId(second)), runs.toString());
    }
    String hungId = hungId(second);
    assertEquals(List.of("region-a", "region-b"),
        history.runsOf(hungId).stream().map(History.Run::region).toList());
    assertEquals(b.scheduled.size(), (int) rechecks(b, "scheduled"));
    assertEquals(0.0, rechecks(b, "failed"));

    History.Report report = history.check(0);
    long bound = reports.stream().mapToLong(r -> r.bound().orElse(Long.MAX_VALUE)).sum();
    assertEquals(Set.of(), report.lost(), report.toString());
    assertEquals(first.size() + second.size(), report.processed());
    assertEquals(1, report.duplicates(), "only the id A hung in ran twice: " + report);
    assertTrue(report.duplicates() <= bound, report + " within the bound " + bound);
    assertEquals(0, report.duplicatesOutsideFaults(), report.toString());
    assertEquals(List.of(), b.tickErrors);
    assertEquals(List.of(), b.deadLetters);
    System.out.printf("functions service bus recheck: %d messages, %d duplicates, bound %d, "
        + "%d recheck copies for %d held ids, 0 abandons; takeover %d ms after A went down%n",
        report.published(), report.duplicates(), bound, totalRounds, second.size(),
        Duration.ofNanos(takeoverAt - downAt).toMillis());

    // the processor wrapper over the same ownership: epochs and fence follow the takeover
    processorWrapperFollowsTheOwnership(b);
  }

  /** The id of {@code ids} region A ran (and hung in). */
  String hungId(List<String> ids) {
    return ids.stream().filter(id -> history.runsOf(id).stream()
        .anyMatch(r -> r.region().equals("region-a"))).findFirst()
        .orElseThrow(() -> new AssertionError("A ran none of " + ids));
  }

  /** {@link TandemServiceBusProcessor} with {@code .ownership(...)}, in B after it took A's shards. */
  void processorWrapperFollowsTheOwnership(RegionFunctionApp b) {
    ServiceBusSenderClient sender = mock(ServiceBusSenderClient.class);
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenReturn(1L);
    List<Long> epochs = new CopyOnWriteArrayList<>();
    MessageHandler handler = ctx -> epochs.add(ctx.epoch());
    TandemServiceBusProcessor wrapper = TandemServiceBusProcessor.builder()
        .region(b.tandem) // processor, fence and epochs, shards from B's region object
        .recheckSender(sender)
        .followerHold(Duration.ofMillis(100))
        .build();
    String takenOver = idsOwnedBy(A, 1).get(0); // A's shard, B's at epoch 1 now
    String own = idsOwnedBy(B, 1).get(0); // B's shard since the start, epoch 0
    for (String id : List.of(takenOver, own)) {
      ServiceBusReceivedMessage m = ReceivedMessages.of(payload(id), id, null,
          properties(envelope(id)), 1);
      ServiceBusReceivedMessageContext ctx = mock(ServiceBusReceivedMessageContext.class);
      when(ctx.getMessage()).thenReturn(m);
      wrapper.processMessage(handler).accept(ctx);
      verify(ctx).complete();
      verify(ctx, never()).abandon();
    }
    assertEquals(List.of(1L, 0L), epochs, "each shard ran under the ownership's current epoch");
    verify(sender, never()).scheduleMessage(any(ServiceBusMessage.class),
        any(OffsetDateTime.class));
  }

  @Test
  void theProcessorWrapperWithOwnershipParksTheFollowedShardsCopyAndRunsItsOwn() {
    RegionFunctionApp a = app(A, "fn-recheck-proc");
    RegionFunctionApp b = app(B, "fn-recheck-proc");
    startAndAwaitHeartbeats(a, b);
    ServiceBusSenderClient sender = mock(ServiceBusSenderClient.class);
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenReturn(42L);
    List<String> ran = new CopyOnWriteArrayList<>();
    TandemServiceBusProcessor wrapper = TandemServiceBusProcessor.builder()
        .region(b.tandem) // processor, fence and epochs, shards from B's region object
        .recheckSender(sender)
        .followerHold(Duration.ofMillis(100))
        .build();
    String followed = idsOwnedBy(A, 1).get(0);
    ServiceBusReceivedMessage m = ReceivedMessages.of(payload(followed), followed, null,
        properties(envelope(followed)), 1);
    ServiceBusReceivedMessageContext ctx = mock(ServiceBusReceivedMessageContext.class);
    when(ctx.getMessage()).thenReturn(m);
    wrapper.processMessage(c -> ran.add(c.id())).accept(ctx);

    ArgumentCaptor<ServiceBusMessage> copy = ArgumentCaptor.forClass(ServiceBusMessage.class);
    verify(sender).scheduleMessage(copy.capture(), any(OffsetDateTime.class));
    verify(ctx).complete();
    verify(ctx, never()).abandon();
    assertNotEquals(followed, copy.getValue().getMessageId());
    assertEquals(followed, copy.getValue().getApplicationProperties().get(TandemHeaders.ID));
    assertEquals(List.of(), ran, "a follower never runs the handler");

    String own = idsOwnedBy(B, 1).get(0);
    ServiceBusReceivedMessageContext ownCtx = mock(ServiceBusReceivedMessageContext.class);
    when(ownCtx.getMessage()).thenReturn(ReceivedMessages.of(payload(own), own, null,
        properties(envelope(own)), 1));
    wrapper.processMessage(c -> ran.add(c.id())).accept(ownCtx);
    verify(ownCtx).complete();
    assertEquals(List.of(own), ran);
  }
}
