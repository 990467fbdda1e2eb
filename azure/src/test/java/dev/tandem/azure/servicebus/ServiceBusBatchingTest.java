package dev.tandem.azure.servicebus;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.messaging.servicebus.ServiceBusMessage;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.PublishResult;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15 item 4: batches hold only what the entity accepts. The namespaces batch with the SDK's own
 * {@code ServiceBusMessageBatch} and refuse what the service refuses ({@link FakeNamespace}).
 */
class ServiceBusBatchingTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  static final int MB = 1024 * 1024;

  @TempDir Path spool;
  final FakeNamespace nsA = new FakeNamespace("orders", 100, 256 * 1024, 1);
  final FakeNamespace nsB = new FakeNamespace("orders", 100, 256 * 1024, 1);
  final MeterRegistry registry = new SimpleMeterRegistry();
  TandemServiceBusSender sender;
  TandemServiceBusAsyncSender asyncSender;

  void linkMax(int bytes) {
    nsA.sdkLinkMaxBytes = bytes;
    nsB.sdkLinkMaxBytes = bytes;
  }

  TandemServiceBusSender sender() {
    sender = TandemServiceBusSender.builder()
        .region(A, nsA.syncClient())
        .region(B, nsB.syncClient())
        .shardCount(8)
        .meterRegistry(registry)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ALL).timeout(Duration.ofSeconds(10)))
        .build();
    return sender;
  }

  @AfterEach
  void close() {
    if (sender != null) {
      sender.close();
    }
    if (asyncSender != null) {
      asyncSender.close();
    }
  }

  static List<ServiceBusMessage> messages(int n, int bodyBytes) {
    List<ServiceBusMessage> list = new ArrayList<>();
    IntStream.range(0, n).forEach(i -> list.add(new ServiceBusMessage(new byte[bodyBytes])
        .setSessionId("session-" + (i % 3)).setMessageId("m-" + i)));
    return list;
  }

  static List<String> ids(int n) {
    return IntStream.range(0, n).mapToObj(i -> "m-" + i).toList();
  }

  /**
   * Sends {@code list} with the sync sender while the namespaces hold the first send until every copy
   * is queued behind it, so that the sink has several copies to batch (as under load).
   */
  List<PublishResult> sendQueuedUp(List<ServiceBusMessage> list) throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    nsA.sendGate = gate;
    nsB.sendGate = gate;
    double beforeA = sent(A);
    double beforeB = sent(B);
    var pending = java.util.concurrent.CompletableFuture.supplyAsync(() -> sender.sendMessages(list));
    await().atMost(Duration.ofSeconds(10)).until(() -> nsA.sendsAtGate.get() >= 1
        && nsB.sendsAtGate.get() >= 1 && sent(A) - beforeA == list.size()
        && sent(B) - beforeB == list.size());
    nsA.sendGate = null;
    nsB.sendGate = null;
    gate.countDown();
    return pending.get(30, TimeUnit.SECONDS);
  }

  private double sent(RegionId region) {
    var c = registry.find("tandem.publisher.sent").tags("region", region.name()).counter();
    return c == null ? 0 : c.count();
  }

  private double batches(String outcome) {
    var c = registry.find("tandem.servicebus.batches").tags("region", "region-a", "outcome", outcome)
        .counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void onAPartitionedEntityWithDuplicateDetectionEveryMessageArrivesInOrderAfterOneRefusal()
      throws Exception {
    linkMax(256 * 1024);
    nsA.partitionedWithDuplicateDetection = true;
    nsB.partitionedWithDuplicateDetection = true;
    sender();

    List<PublishResult> results = sendQueuedUp(messages(8, 10));

    assertEquals(ids(8), results.stream().map(PublishResult::id).toList());
    for (FakeNamespace ns : List.of(nsA, nsB)) {
      assertEquals(ids(8), ns.deliveredIds(), "every message, in order");
      assertTrue(ns.batches.stream().allMatch(b -> b.size() == 1), "sent one by one");
      assertEquals(1, ns.refused.size(), "learned from the first refusal");
    }
    assertEquals(0, sender.publisher().status(A).spoolDepth());
    assertEquals(0, sender.publisher().status(B).spoolDepth());

    // Later sends go one by one at once: no further refusal.
    sender.sendMessages(messages(4, 10).stream().map(m -> m.setMessageId("later-" + m.getMessageId()))
        .toList());
    assertEquals(1, nsA.refused.size());
    assertEquals(1, nsB.refused.size());
    assertEquals(12, nsA.delivered.size());
  }

  @Test
  void batchesStayUnderTheServicesOneMegabyteBatchLimitWhenLargeMessagesAreEnabled() throws Exception {
    linkMax(4 * MB); // Premium with large messages: the link takes 4 MB messages...
    nsA.serviceMaxBatchBytes = MB; // ...but the service refuses a batch above 1 MB
    nsB.serviceMaxBatchBytes = MB;
    sender();

    List<ServiceBusMessage> list = messages(4, 400 * 1024);
    list.add(new ServiceBusMessage(new byte[2 * MB]).setSessionId("big").setMessageId("m-4"));
    List<PublishResult> results = sendQueuedUp(list);

    assertEquals(ids(5), results.stream().map(PublishResult::id).toList());
    for (FakeNamespace ns : List.of(nsA, nsB)) {
      assertEquals(ids(5), ns.deliveredIds(), "every message, in order");
      assertTrue(ns.refused.isEmpty(), "no batch over the service's limit was sent");
      assertTrue(ns.batches.stream().anyMatch(b -> b.size() == 2), "still batching: " + ns.batches.size());
    }
    assertEquals(0, sender.publisher().status(A).spoolDepth());
  }

  @Test
  void theSendSinglyOptionNeverSendsABatchTheEntityRefuses() {
    linkMax(256 * 1024);
    nsA.partitionedWithDuplicateDetection = true;
    nsB.partitionedWithDuplicateDetection = true;
    sender = TandemServiceBusSender.builder()
        .region(A, nsA.syncClient())
        .region(B, nsB.syncClient())
        .shardCount(8)
        .sendSingly(true)
        .meterRegistry(registry)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ALL).timeout(Duration.ofSeconds(10)))
        .build();

    sender.sendMessages(messages(6, 10));

    for (FakeNamespace ns : List.of(nsA, nsB)) {
      assertEquals(ids(6), ns.deliveredIds());
      assertTrue(ns.refused.isEmpty(), "nothing refused");
    }
    assertEquals(0.0, batches("refused"));
  }

  @Test
  void theAsyncSenderLearnsToSendSinglyAndCountsTheRefusal() throws Exception {
    linkMax(256 * 1024);
    nsA.partitionedWithDuplicateDetection = true;
    nsB.partitionedWithDuplicateDetection = true;
    asyncSender = TandemServiceBusAsyncSender.builder()
        .region(A, nsA.asyncClient())
        .region(B, nsB.asyncClient())
        .shardCount(8)
        .operationTimeout(Duration.ofSeconds(5))
        .meterRegistry(registry)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ALL).timeout(Duration.ofSeconds(10)))
        .build();

    // Hold the first send until all six copies are queued behind it, so the next batch holds several.
    nsA.sendGate = new CountDownLatch(1);
    nsB.sendGate = nsA.sendGate;
    var pending = asyncSender.sendMessages(messages(6, 10)).toFuture();
    await().atMost(Duration.ofSeconds(10)).until(() -> nsA.sendsAtGate.get() >= 1
        && nsB.sendsAtGate.get() >= 1 && sent(A) == 6 && sent(B) == 6);
    nsA.sendGate.countDown();
    List<PublishResult> results = pending.get(30, TimeUnit.SECONDS);

    assertEquals(ids(6), results.stream().map(PublishResult::id).toList());
    assertEquals(ids(6), nsA.deliveredIds());
    assertEquals(ids(6), nsB.deliveredIds());
    assertEquals((double) nsA.refused.size(), batches("refused"), "each refusal is counted");
    assertEquals(1.0, batches("refused"), "one refusal, then one by one");
    assertEquals(1, nsB.refused.size());
  }

  @Test
  void aLargeMessageSentAloneThatFailsForTheRegionIsNotOvertakenByTheCopiesBehindIt()
      throws Exception {
    linkMax(4 * MB);
    nsA.serviceMaxBatchBytes = MB;
    nsB.serviceMaxBatchBytes = MB;
    sender = TandemServiceBusSender.builder()
        .region(A, nsA.syncClient())
        .region(B, nsB.syncClient())
        .shardCount(8)
        .meterRegistry(registry)
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ANY).timeout(Duration.ofSeconds(10)))
        .build();
    sender.sendMessage(new ServiceBusMessage("warm-up").setMessageId("warm-up")); // link size known
    nsA.failNextSends.set(1); // A's next send (the large message, alone) fails for the region

    List<ServiceBusMessage> list = new ArrayList<>();
    list.add(new ServiceBusMessage(new byte[2 * MB]).setSessionId("s").setMessageId("m-0"));
    list.add(new ServiceBusMessage("small").setSessionId("s").setMessageId("m-1"));
    list.add(new ServiceBusMessage("small").setSessionId("s").setMessageId("m-2"));
    sendQueuedUp(list);

    assertTrue(sender.publisher().awaitSpoolDrained(Duration.ofSeconds(20)), "A's spool drains");
    assertEquals(List.of("warm-up", "m-0", "m-1", "m-2"), nsA.deliveredIds().stream().distinct().toList(),
        "region A receives the session's copies in publish order");
    assertEquals(List.of("warm-up", "m-0", "m-1", "m-2"), nsB.deliveredIds());
  }
}
