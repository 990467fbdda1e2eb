package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderAsyncClient;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.PublishResult;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The Reactor counterpart of {@link TandemServiceBusSender}, over the application's existing {@link
 * ServiceBusSenderAsyncClient}s: the same envelope, mapping and guarantees (see that class), with
 * {@link Mono}s that, like the SDK's, do nothing until subscribed.
 *
 * <p>The SDK calls run on one Tandem worker thread per region (blocking there, never on a Reactor
 * thread), which keeps each region's copies in order and batches what queued up meanwhile.
 */
public final class TandemServiceBusAsyncSender implements AutoCloseable {

  private final ServiceBusFanOut fanOut;

  private TandemServiceBusAsyncSender(ServiceBusFanOut fanOut) {
    this.fanOut = fanOut;
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** On subscription, sends {@code message} to every region; emits when the ack policy is met. */
  public Mono<PublishResult> sendMessage(ServiceBusMessage message) {
    Objects.requireNonNull(message, "message");
    return Mono.fromFuture(() -> fanOut.publish(message, null)).onErrorMap(
        CompletionException.class, e -> e.getCause() == null ? e : e.getCause());
  }

  /**
   * On subscription, sends {@code messages} in order (batched on the wire; not atomic, see {@link
   * TandemServiceBusSender#sendMessages}); emits one result per message, in order, or the first
   * failure once every message is settled.
   */
  public Mono<List<PublishResult>> sendMessages(Iterable<ServiceBusMessage> messages) {
    Objects.requireNonNull(messages, "messages");
    return Mono.defer(() -> {
      List<ServiceBusMessage> all = new ArrayList<>();
      messages.forEach(m -> all.add(Objects.requireNonNull(m, "a message in messages")));
      List<CompletableFuture<PublishResult>> futures = fanOut.publishAll(all);
      return Mono.fromFuture(CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new))
              .handle((v, e) -> null))
          .then(Mono.fromCallable(() -> {
            List<PublishResult> results = new ArrayList<>();
            for (CompletableFuture<PublishResult> f : futures) {
              results.add(TandemServiceBusSender.join(f));
            }
            return results;
          }));
    });
  }

  /** On subscription, schedules {@code message} in every region; emits the handle. */
  public Mono<ScheduledMessage> scheduleMessage(ServiceBusMessage message, OffsetDateTime enqueueAt) {
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(enqueueAt, "enqueueAt");
    return Mono.fromFuture(() -> fanOut.schedule(message, enqueueAt)).onErrorMap(
        CompletionException.class, e -> e.getCause() == null ? e : e.getCause());
  }

  /**
   * On subscription, cancels every region's copy; completes when all are cancelled, including a
   * copy that waited in the spool (cancelled right after its replay). Fails with {@link
   * CancelScheduledException} naming the regions where cancelling failed.
   */
  public Mono<Void> cancelScheduledMessage(ScheduledMessage message) {
    Objects.requireNonNull(message, "message");
    return Mono.defer(() -> awaitAll(message.id(), fanOut.cancel(message)));
  }

  /** Cancels by persisted sequence numbers; see {@link #cancelScheduledMessage(ScheduledMessage)}. */
  public Mono<Void> cancelScheduledMessage(String id, Map<RegionId, Long> sequenceNumbers) {
    Objects.requireNonNull(sequenceNumbers, "sequenceNumbers");
    return Mono.defer(() -> awaitAll(id, fanOut.cancel(id, sequenceNumbers)));
  }

  private static Mono<Void> awaitAll(String id, Map<RegionId, CompletableFuture<Void>> perRegion) {
    return Flux.fromIterable(perRegion.entrySet())
        .flatMap(e -> Mono.fromFuture(e.getValue().handle((v, t) -> {
          Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
          return cause == null ? Map.<RegionId, Throwable>of() : Map.of(e.getKey(), cause);
        })))
        .reduce(new LinkedHashMap<RegionId, Throwable>(), (acc, m) -> {
          acc.putAll(m);
          return acc;
        })
        .flatMap(failures -> failures.isEmpty()
            ? Mono.<Void>empty()
            : Mono.error(new CancelScheduledException(id, failures)));
  }

  /** The queue or topic every region sends to. */
  public String getEntityPath() {
    return fanOut.entityPath();
  }

  /** The regions, in the order they were added. */
  public List<RegionId> regions() {
    return fanOut.regions();
  }

  /** The publisher underneath: region status, spool depth, {@code awaitSpoolDrained}. */
  public DualPublisher publisher() {
    return fanOut.publisher();
  }

  /** Flushes, stops the replay (pending copies stay in the spool), closes the clients if owned. */
  @Override
  public void close() {
    fanOut.close();
  }

  /** Builds a {@link TandemServiceBusAsyncSender}; not thread-safe. */
  public static final class Builder {
    /** Default bound of one SDK call made on a region's worker thread. */
    public static final Duration DEFAULT_OPERATION_TIMEOUT = Duration.ofSeconds(60);

    private final Map<RegionId, ServiceBusSenderAsyncClient> clients = new LinkedHashMap<>();
    private final Map<RegionId, ServiceBusReceiverClient> peekers = new LinkedHashMap<>();
    private int shardCount;
    private int maxBatchMessages = TandemServiceBusSender.Builder.DEFAULT_MAX_BATCH_MESSAGES;
    private Duration operationTimeout = DEFAULT_OPERATION_TIMEOUT;
    private MeterRegistry registry;
    private Consumer<DualPublisher.Builder> publisherOptions;
    private boolean closeClients = true;
    private boolean sendSingly;

    private Builder() {}

    /**
     * A receiver of {@code region}'s queue, so that a cancel also finds every other scheduled copy
     * of the {@code MessageId}; see {@link
     * TandemServiceBusSender.Builder#scheduledMessagesPeek(RegionId, ServiceBusReceiverClient)}
     * (a blocking client: the peeks run on the region's sink thread, not on a reactor thread).
     */
    public Builder scheduledMessagesPeek(RegionId region, ServiceBusReceiverClient receiver) {
      Objects.requireNonNull(region, "region");
      Objects.requireNonNull(receiver, "receiver");
      if (peekers.putIfAbsent(region, receiver) != null) {
        throw new IllegalArgumentException("region " + region + " has a peek receiver already");
      }
      return this;
    }

    /** Adds a region and its existing sender (every region's sender names the same entity). */
    public Builder region(RegionId region, ServiceBusSenderAsyncClient sender) {
      Objects.requireNonNull(region, "region");
      Objects.requireNonNull(sender, "sender");
      if (clients.putIfAbsent(region, sender) != null) {
        throw new IllegalArgumentException("region " + region + " has a sender already");
      }
      return this;
    }

    /** The number of shards the consumers use; the session id or the id is hashed into them. */
    public Builder shardCount(int shardCount) {
      if (shardCount <= 0) {
        throw new IllegalArgumentException("shardCount must be > 0, got " + shardCount);
      }
      this.shardCount = shardCount;
      return this;
    }

    /** Most messages per batch on the wire (the batch's byte limit applies too); default 100. */
    public Builder maxBatchMessages(int maxBatchMessages) {
      if (maxBatchMessages <= 0) {
        throw new IllegalArgumentException("maxBatchMessages must be > 0, got " + maxBatchMessages);
      }
      this.maxBatchMessages = maxBatchMessages;
      return this;
    }

    /**
     * Bound of one SDK call on a region's worker thread (the publisher's own timeout spools a slow
     * region's copy earlier); default 60 s.
     */
    public Builder operationTimeout(Duration timeout) {
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("operationTimeout must be positive, got " + timeout);
      }
      this.operationTimeout = timeout;
      return this;
    }

    /** Where metrics go (also the publisher's); default a new {@link SimpleMeterRegistry}. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /**
     * Configures the {@link DualPublisher} underneath; required, because its {@link
     * DualPublisher.Builder#spoolDirectory(Path) spool directory} is.
     */
    public Builder publisher(Consumer<DualPublisher.Builder> options) {
      this.publisherOptions = Objects.requireNonNull(options, "options");
      return this;
    }

    /**
     * Sends one message per batch on the wire. Set it for a partitioned queue or topic with duplicate
     * detection: the service refuses a batch of messages with distinct SessionId, PartitionKey or
     * MessageId there, and every Tandem copy has its own MessageId. Without it, the sender learns
     * this from the service's first such refusal (the refused batch is then sent one by one, counted
     * in {@code tandem.servicebus.batches} outcome {@code refused}). Default false.
     */
    public Builder sendSingly(boolean sendSingly) {
      this.sendSingly = sendSingly;
      return this;
    }

    /** Whether {@link #close()} closes the given clients too (default true: the sender owns them). */
    public Builder closeClients(boolean closeClients) {
      this.closeClients = closeClients;
      return this;
    }

    /** Builds the sender and starts the publisher; see {@link TandemServiceBusSender.Builder#build}. */
    public TandemServiceBusAsyncSender build() {
      Map<RegionId, NamespaceSender> senders = new LinkedHashMap<>();
      clients.forEach((r, c) -> senders.put(r, new AsyncNamespaceSender(c, operationTimeout)));
      for (RegionId r : peekers.keySet()) {
        if (!clients.containsKey(r)) {
          throw new IllegalStateException("scheduledMessagesPeek(" + r + ", ...) for a region "
              + "without a region(...) sender");
        }
      }
      ServiceBusFanOut fanOut = ServiceBusFanOut.create(senders, shardCount, maxBatchMessages,
          sendSingly, registry == null ? new SimpleMeterRegistry() : registry, publisherOptions,
          closeClients);
      peekers.forEach((r, receiver) -> fanOut.scheduledCopies(r, ScheduledCopies.peeking(receiver)));
      return new TandemServiceBusAsyncSender(fanOut);
    }
  }
}
