package dev.tandem.azure.functions;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.core.util.BinaryData;
import com.azure.messaging.servicebus.ServiceBusMessage;
import dev.tandem.azure.servicebus.FakeServiceBus;
import dev.tandem.consumer.DeadLetter;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15, "Done when": the same function app in two regions (real RocksDB stores replicated over
 * two real KRaft clusters, AUTOMATIC shard ownership driven by {@link TandemFunctions#heartbeat()}),
 * each region's Service Bus queue a {@link FakeServiceBus} (MaxDeliveryCount 10, every abandon and
 * lock expiry counted, the SDK's own message encoding), and a Service Bus trigger per region that
 * completes a message when the function returns, abandons it when it throws, and leaves it to its
 * lock's expiry when the worker dies. The owner region's invocation of one message crashes after
 * its side effect: every message must still be processed, nothing dead-lettered by Service Bus, and
 * the duplicates within the bound (one possible re-run per crashed invocation, each reported).
 */
@TandemClusters
class ServiceBusCrashedOwnerTwoRegionsTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;
  /** The shards of the shared two-region fixture, whose {@code idsOwnedBy} this test uses. */
  static final int SHARDS = TwoRegionFunctions.SHARDS;
  static final Duration L = Duration.ofSeconds(6);
  static final Duration LOCK = Duration.ofSeconds(2);
  /** Above the lock: the redelivery after the crash finds the crashed claim still live. */
  static final Duration CLAIM_LEASE = Duration.ofSeconds(4);

  /** The worker process dies inside the function: nothing after it runs, nothing is settled. */
  static final class HostCrash extends Error {
    private static final long serialVersionUID = 1L;

    HostCrash() {
      super("the worker process died");
    }
  }

  @TempDir Path dir;
  final History history = new History();
  final List<App> apps = new ArrayList<>();
  TwoRegions regions;

  @AfterEach
  void close() {
    apps.forEach(App::close);
  }

  /** One region's function app over its own Service Bus namespace. */
  final class App {
    final RegionId region;
    final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    final IdempotencyStore store;
    final KafkaReplicationLog log;
    final TandemFunctions functions;
    final FakeServiceBus namespace = new FakeServiceBus();
    final FakeServiceBus.Entity queue;
    final List<DeadLetter> sinkDeadLetters = new CopyOnWriteArrayList<>();
    final List<Throwable> errors = new CopyOnWriteArrayList<>();
    /** Settlements refused because the lock had expired (a slow invocation): the host logs them. */
    final AtomicInteger lockLost = new AtomicInteger();
    final AtomicInteger renewedTicks = new AtomicInteger();
    final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    final Thread invoker;
    volatile boolean stopped;

    App(RegionId region, MessageHandler handler) {
      this.region = region;
      String instance = "fn-" + region.name();
      queue = namespace.queue("orders", 10, LOCK);
      store = IdempotencyStore.builder().region(region).instance(instance)
          .directory(dir.resolve(instance + "-store")).meterRegistry(meters).build();
      log = KafkaReplicationLog.builder().store(store)
          .region(A, regions.a().bootstrapServers())
          .region(B, regions.b().bootstrapServers())
          .spoolDirectory(dir.resolve(instance + "-spool"))
          .publishTimeout(Duration.ofSeconds(3)).shards(SHARDS).topicPrefix("sb-crash")
          .catchUpApiTimeout(Duration.ofSeconds(2)).materializeAllShards().meterRegistry(meters)
          .build();
      ShardOwnership ownership = ShardOwnership.builder().region(region).regions(List.of(A, B))
          .store(log.replicatedStore()).replicationLog(log)
          .policy(OwnershipPolicy.automatic(L, Duration.ofSeconds(3), Duration.ofSeconds(120)))
          .catchUpTimeout(Duration.ofSeconds(5)).revalidateAfter(L).meterRegistry(meters).build();
      functions = TandemFunctions.builder()
          .processor(OnceProcessor.builder().store(log.replicatedStore()).claimLease(CLAIM_LEASE)
              .deadLetterSink(letter -> {
                sinkDeadLetters.add(letter);
                return CompletableFuture.completedFuture(null);
              })
              .meterRegistry(meters))
          .shardCount(SHARDS).ownership(ownership, log).followerHold(Duration.ofMillis(300))
          .recheckSender(namespace.sender("orders")).recheckDelay(Duration.ofSeconds(1))
          .probeTimeout(Duration.ofSeconds(3)).meterRegistry(meters).build();
      invoker = new Thread(() -> invokeLoop(handler), region.name() + "-trigger");
      invoker.setDaemon(true);
    }

    void start() {
      assertTrue(log.awaitRestored(Duration.ofSeconds(60)), region + " restored");
      timer.scheduleWithFixedDelay(() -> {
        try {
          if (!functions.heartbeat().renewed().isEmpty()) {
            renewedTicks.incrementAndGet();
          }
        } catch (Throwable t) {
          errors.add(t);
        }
      }, 0, 1, TimeUnit.SECONDS);
      invoker.start();
    }

    /** The Service Bus trigger (autoCompleteMessages): complete on return, abandon on a throw. */
    void invokeLoop(MessageHandler handler) {
      while (!stopped) {
        var next = queue.receive();
        if (next.isEmpty()) {
          java.util.concurrent.locks.LockSupport.parkNanos(10_000_000L); // an idle receive's wait
          continue;
        }
        FakeServiceBus.Delivery d = next.get();
        try {
          functions.once(ServiceBusTriggerMessage.of(d.message().getBody().toBytes(),
              d.applicationProperties(), (int) d.message().getDeliveryCount())
              .withTimes(d.message().getEnqueuedTime(), null), handler);
        } catch (HostCrash crash) {
          continue; // the worker died: no settlement, the message's lock expires
        } catch (RuntimeException e) {
          settle(d::abandon);
          continue;
        }
        settle(d::complete);
      }
    }

    /** The host settles; a lock that expired meanwhile makes Service Bus refuse (it redelivers). */
    void settle(Runnable settlement) {
      try {
        settlement.run();
      } catch (com.azure.messaging.servicebus.ServiceBusException e) {
        lockLost.incrementAndGet();
      }
    }

    double counter(String name) {
      var c = meters.find(name).counter();
      return c == null ? 0 : c.count();
    }

    void close() {
      stopped = true;
      timer.shutdownNow();
      try {
        invoker.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      log.close();
      store.close();
    }
  }

  static ServiceBusMessage published(String id) {
    byte[] body = ("order " + id).getBytes(StandardCharsets.UTF_8);
    Envelope e = Envelope.forPayload(id, body, Shards.forKey(id, SHARDS),
        System.currentTimeMillis());
    ServiceBusMessage m = new ServiceBusMessage(BinaryData.fromBytes(body)).setMessageId(id);
    EnvelopeCodec.write(e, m.getApplicationProperties()::put);
    return m;
  }

  @Test
  void aCrashedOwnerInvocationsMessageIsProcessedWithNothingDeadLetteredAndDuplicatesInTheBound() {
    List<String> ids = new ArrayList<>(TwoRegionFunctions.idsOwnedBy(A, 4));
    ids.addAll(TwoRegionFunctions.idsOwnedBy(B, 4));
    String crashing = ids.get(0); // a shard A owns: A's invocation of it dies once
    AtomicBoolean crashed = new AtomicBoolean();
    App a = new App(A, ctx -> {
      history.handled(ctx.id(), A.name(), "fn-region-a", ctx.epoch());
      if (ctx.id().equals(crashing) && crashed.compareAndSet(false, true)) {
        throw new HostCrash(); // after the side effect, before the completion
      }
    });
    App b = new App(B, ctx -> history.handled(ctx.id(), B.name(), "fn-region-b", ctx.epoch()));
    apps.add(a);
    apps.add(b);
    a.start();
    b.start();
    await().atMost(Duration.ofSeconds(60))
        .until(() -> a.renewedTicks.get() > 0 && b.renewedTicks.get() > 0);

    int fault = history.beginFault("crashed invocation in region A");
    for (String id : ids) {
      history.published(id);
      a.namespace.sender("orders").sendMessage(published(id));
      b.namespace.sender("orders").sendMessage(published(id));
    }
    await().atMost(Duration.ofSeconds(90)).until(() ->
        (history.distinctHandled() == ids.size() && a.queue.size() == 0 && b.queue.size() == 0)
            || !a.queue.deadLetters.isEmpty() || !b.queue.deadLetters.isEmpty());
    history.endFault(fault);

    assertEquals(List.of(), a.queue.deadLetters, "nothing dead-lettered by Service Bus in A");
    assertEquals(List.of(), b.queue.deadLetters, "nothing dead-lettered by Service Bus in B");
    assertEquals(List.of(), a.sinkDeadLetters);
    assertEquals(List.of(), b.sinkDeadLetters);
    assertTrue(crashed.get(), "A's invocation crashed");
    History.Report report = history.check(0);
    assertEquals(Set.of(), report.lost(), report.toString());
    assertEquals(ids.size(), report.processed(), report.toString());
    // the bound: one possible re-run per crashed invocation, each reported as such
    long bound = (long) a.counter("tandem.consumer.reclaimed.expired")
        + (long) b.counter("tandem.consumer.reclaimed.expired");
    assertEquals(1, bound, "the crashed claim was re-claimed once, after its lease");
    assertTrue(report.duplicates() <= bound, report + " within the bound " + bound);
    // the crash cost one delivery attempt (a lock expiry); a slow invocation under load may cost
    // another, never ten: waiting for the crashed claim spends none
    assertTrue(a.queue.lockExpiries.get() >= 1, "the crashed invocation's lock expired");
    assertEquals(List.of(), a.errors);
    assertEquals(List.of(), b.errors);
    System.out.printf("service bus crashed owner: %d messages, %d duplicates, bound %d, "
        + "0 dead-lettered; A: %d deliveries, %d lock expiries, %d abandons; B: %d deliveries "
        + "(recheck copies included), %d lock expiries, %d abandons%n", report.published(),
        report.duplicates(), bound, a.queue.deliveries.get(), a.queue.lockExpiries.get(),
        a.queue.abandons.get(), b.queue.deliveries.get(), b.queue.lockExpiries.get(),
        b.queue.abandons.get());
  }
}
