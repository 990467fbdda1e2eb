package dev.tandem.azure.functions;

import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.when;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.azure.servicebus.ServiceBusNamespaceProbe;
import dev.tandem.consumer.DeadLetter;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One region's function app for the tests: a {@link TandemRegion} (a real RocksDB store replicated
 * over both regions' real Kafka clusters, AUTOMATIC shard ownership), {@link TandemFunctions} built
 * from it, a trigger (a
 * delivery queue and one invocation thread; a {@link TandemFunctions.RetryLaterException} makes the
 * trigger deliver the message again after a short delay, as a Service Bus or Kafka trigger retries),
 * and a timer standing in for the {@code tandem-heartbeat} timer function.
 *
 * <p>With a recheck delay the trigger is a Service Bus trigger: each delivery carries a {@code
 * MessageId} and typed application properties, the function passes them as a {@link
 * ServiceBusTriggerMessage}, and the recheck sender is the SDK's {@link ServiceBusSenderClient}
 * mocked at the cloud boundary as the broker behaves: a scheduled message is enqueued to this
 * region's queue at its scheduled time (no Service Bus emulator runs here).
 */
final class RegionFunctionApp implements AutoCloseable {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;

  /**
   * One delivery of a message to this region's function; {@code properties} (typed application
   * properties, the envelope among them) only for a Service Bus trigger.
   */
  record Delivery(String id, Map<String, String> headers, byte[] payload, int count,
      String messageId, Map<String, Object> properties) {
    Delivery(String id, Map<String, String> headers, byte[] payload, int count) {
      this(id, headers, payload, count, id, null);
    }

    /** The trigger's retry of this delivery: the same message, its delivery count one higher. */
    Delivery next() {
      return new Delivery(id, headers, payload, count + 1, messageId, properties);
    }
  }

  /** A recheck copy the function scheduled, and when. */
  record Scheduled(ServiceBusMessage copy, OffsetDateTime at, long sequence, long atNanos) {}

  /** A heartbeat tick's report with the monotonic times it began and returned. */
  record Tick(long startNanos, long atNanos, HeartbeatReport report) {}

  final RegionId region;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  /** The region object everything below is made from. */
  final TandemRegion tandem;
  /** The region's replicated store. */
  final IdempotencyStore store;
  final KafkaReplicationLog log;
  final ShardOwnership ownership;
  final TandemFunctions functions;
  final Duration tickEvery;
  final List<Tick> ticks = new CopyOnWriteArrayList<>();
  final List<Throwable> tickErrors = new CopyOnWriteArrayList<>();
  /** Ids this region's function returned for (the trigger settled the message). */
  final Set<String> settled = ConcurrentHashMap.newKeySet();
  final List<DeadLetter> deadLetters = new CopyOnWriteArrayList<>();
  /** MessageIds whose invocation returned (the trigger completed them). */
  final List<String> completedMessageIds = new CopyOnWriteArrayList<>();
  /** MessageIds whose invocation threw (the trigger abandoned them: a MaxDeliveryCount retry). */
  final List<String> abandonedMessageIds = new CopyOnWriteArrayList<>();
  /** Recheck copies scheduled to this region's queue (Service Bus trigger only). */
  final List<Scheduled> scheduled = new CopyOnWriteArrayList<>();
  final ServiceBusSenderClient recheckSender;
  /**
   * This region's Service Bus namespace is unreachable (its Kafka clusters still answer): the
   * receiver's peek (the heartbeat's namespace probe) gets no answer, as the SDK's request waits for
   * one; the recheck sender's open link still builds batches without a request; the test stops
   * delivering to this region.
   */
  final java.util.concurrent.atomic.AtomicBoolean namespaceDown =
      new java.util.concurrent.atomic.AtomicBoolean();

  private final LinkedBlockingQueue<Delivery> queue = new LinkedBlockingQueue<>();
  private final ScheduledExecutorService timer;
  private final ScheduledExecutorService retries;
  private final Thread invoker;
  private final MessageHandler handler;
  private volatile boolean down;

  RegionFunctionApp(String bootstrapA, String bootstrapB, RegionId region, Path dir, String prefix,
      int shards, Duration leaseTimeout, Duration margin, Duration stuckAfter, Duration tickEvery,
      MessageHandler handler) {
    this(bootstrapA, bootstrapB, region, dir, prefix, shards, leaseTimeout, margin, stuckAfter,
        tickEvery, null, handler);
  }

  RegionFunctionApp(String bootstrapA, String bootstrapB, RegionId region, Path dir, String prefix,
      int shards, Duration leaseTimeout, Duration margin, Duration stuckAfter, Duration tickEvery,
      Duration recheckDelay, MessageHandler handler) {
    this(bootstrapA, bootstrapB, region, dir, prefix, shards, leaseTimeout, margin, stuckAfter,
        tickEvery, recheckDelay, null, handler);
  }

  /** As above, with the probe of a trigger's broker (e.g. a Kafka trigger's cluster), or null. */
  RegionFunctionApp(String bootstrapA, String bootstrapB, RegionId region, Path dir, String prefix,
      int shards, Duration leaseTimeout, Duration margin, Duration stuckAfter, Duration tickEvery,
      Duration recheckDelay, dev.tandem.consumer.ownership.BrokerProbe triggerProbe,
      MessageHandler handler) {
    this.region = region;
    this.tickEvery = tickEvery;
    this.handler = handler;
    // the region: store, changelogs of both regions, replicated view, AUTOMATIC ownership (its
    // revalidateAfter = L), one heartbeat interval = the timer's period, the test's meters
    tandem = TandemRegion.builder()
        .regions(regions(bootstrapA, bootstrapB))
        .localRegion(region.name())
        .instance("fn-" + region.name())
        .stateDir(dir.resolve("fn-" + region.name()))
        .shards(shards)
        .config(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG, prefix)
        .config(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG, 3_000)
        .config(TandemRegionConfig.CATCH_UP_TIMEOUT_MS_CONFIG, 5_000)
        .policy(OwnershipPolicy.automatic(leaseTimeout, margin, stuckAfter))
        .heartbeatInterval(tickEvery)
        .replicationLogOptions(lb -> lb.catchUpApiTimeout(Duration.ofSeconds(2)))
        .meterRegistry(meters)
        .build();
    store = tandem.store();
    log = tandem.replicationLog();
    ownership = tandem.ownership();
    retries = Executors.newSingleThreadScheduledExecutor(daemon(region.name() + "-retries"));
    recheckSender = recheckDelay == null ? null : broker();
    TandemFunctions.Builder fb = TandemFunctions.builder()
        .region(tandem, letter -> {
          deadLetters.add(letter);
          return CompletableFuture.completedFuture(null);
        })
        .followerHold(Duration.ofMillis(300))
        .probeTimeout(Duration.ofSeconds(3));
    if (recheckDelay != null) {
      // the trigger's entity as a receiver sees it: the namespace probe is its peek (a round trip)
      fb.recheckSender(recheckSender).recheckDelay(recheckDelay)
          .triggerProbe(ServiceBusNamespaceProbe.of(receiver()));
    }
    if (triggerProbe != null) {
      fb.triggerProbe(triggerProbe);
    }
    functions = fb.build();
    timer = Executors.newSingleThreadScheduledExecutor(daemon(region.name() + "-timer"));
    invoker = new Thread(this::invokeLoop, region.name() + "-invoker");
    invoker.setDaemon(true);
  }

  private static Map<String, String> regions(String bootstrapA, String bootstrapB) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put(A.name(), bootstrapA);
    m.put(B.name(), bootstrapB);
    return m;
  }

  private static java.util.concurrent.ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }

  /**
   * The region's queue as a {@link ServiceBusSenderClient} sees it: {@code scheduleMessage} returns a
   * sequence number and enqueues the message at its scheduled time, as a new delivery (count 1) of a
   * new MessageId with the message's application properties.
   */
  private ServiceBusSenderClient broker() {
    ServiceBusSenderClient sender = mock(ServiceBusSenderClient.class);
    when(sender.getFullyQualifiedNamespace()).thenReturn(region.name() + ".servicebus.windows.net");
    when(sender.getEntityPath()).thenReturn("orders");
    // the SDK builds a batch from the open send link's cached size: no request, namespace up or not
    when(sender.createMessageBatch()).thenReturn(null);
    AtomicLong sequence = new AtomicLong(1000);
    when(sender.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenAnswer(inv -> {
          ServiceBusMessage copy = inv.getArgument(0);
          OffsetDateTime at = inv.getArgument(1);
          long seq = sequence.incrementAndGet();
          scheduled.add(new Scheduled(copy, at, seq, System.nanoTime()));
          Map<String, Object> properties = new HashMap<>(copy.getApplicationProperties());
          Map<String, String> headers = new HashMap<>();
          properties.forEach((k, v) -> headers.put(k, String.valueOf(v)));
          Delivery d = new Delivery(headers.get("tandem-id"), headers, copy.getBody().toBytes(), 1,
              copy.getMessageId(), properties);
          long delayMs = Math.max(0, Duration.between(OffsetDateTime.now(), at).toMillis());
          retries.schedule(() -> queue.add(d), delayMs, TimeUnit.MILLISECONDS);
          return seq;
        });
    return sender;
  }

  /** A receiver of the region's entity: {@code peekMessage()} gets no answer while it is down. */
  private ServiceBusReceiverClient receiver() {
    ServiceBusReceiverClient receiver = mock(ServiceBusReceiverClient.class);
    when(receiver.getFullyQualifiedNamespace()).thenReturn(region.name() + ".servicebus.windows.net");
    when(receiver.getEntityPath()).thenReturn("orders");
    when(receiver.peekMessage()).thenAnswer(inv -> {
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos(); // SDK's tryTimeout
      while (namespaceDown.get()) { // the request is sent; the SDK waits for its answer
        if (System.nanoTime() - deadline >= 0) {
          throw new com.azure.messaging.servicebus.ServiceBusException(
              new com.azure.core.amqp.exception.AmqpException(true,
                  com.azure.core.amqp.exception.AmqpErrorCondition.TIMEOUT_ERROR,
                  "peek timed out", null),
              com.azure.messaging.servicebus.ServiceBusErrorSource.MANAGEMENT);
        }
        java.util.concurrent.locks.LockSupport.parkNanos(10_000_000L);
      }
      return null;
    });
    return receiver;
  }

  RegionFunctionApp start() {
    timer.scheduleWithFixedDelay(this::tick, 0, tickEvery.toMillis(), TimeUnit.MILLISECONDS);
    invoker.start();
    return this;
  }

  private void tick() {
    try {
      long start = System.nanoTime();
      HeartbeatReport r = functions.heartbeat();
      ticks.add(new Tick(start, System.nanoTime(), r));
    } catch (Throwable t) {
      tickErrors.add(t); // keep ticking, as the Functions timer would; the test asserts none
    }
  }

  /** The trigger delivers a message to this region's function. */
  void deliver(Delivery d) {
    queue.add(d);
  }

  private void invokeLoop() {
    try {
      while (!down) {
        Delivery d = queue.poll(100, TimeUnit.MILLISECONDS);
        if (d == null || down) {
          continue;
        }
        try {
          if (d.properties() != null) {
            Outcome outcome = functions.once(
                ServiceBusTriggerMessage.of(d.payload(), d.properties(), d.count()), handler);
            if (outcome.settled()) {
              settled.add(d.id());
            } // else a recheck copy was scheduled: the trigger completes this one all the same
          } else {
            functions.once(d.headers()::get, d.payload(), d.count(), handler);
            settled.add(d.id());
          }
          completedMessageIds.add(d.messageId());
        } catch (TandemFunctions.RetryLaterException | dev.tandem.store.StoreException e) {
          // the trigger's retry: the same message again, shortly
          abandonedMessageIds.add(d.messageId());
          retries.schedule(() -> queue.add(d.next()), 200, TimeUnit.MILLISECONDS);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The app goes down: its timer stops (no tick in flight after this) and it takes no delivery. */
  void goDown() throws InterruptedException {
    down = true;
    timer.shutdownNow();
    if (!timer.awaitTermination(60, TimeUnit.SECONDS)) {
      throw new IllegalStateException("a heartbeat tick of " + region + " did not end");
    }
  }

  /** Ends the invocation thread (after any hung handler was released). */
  void joinInvoker(Duration timeout) throws InterruptedException {
    down = true;
    invoker.join(timeout.toMillis());
  }

  double counter(String name, String outcome) {
    return meters.find(name).tag("region", region.name()).counters().stream()
        .filter(c -> outcome == null || outcome.equals(c.getId().getTag("outcome")))
        .mapToDouble(c -> c.count()).sum();
  }

  @Override
  public void close() {
    down = true;
    timer.shutdownNow();
    retries.shutdownNow();
    invoker.interrupt();
    try {
      invoker.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    tandem.close();
  }
}
