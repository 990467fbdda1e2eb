package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.PublishResult;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;

/**
 * Sends each Service Bus message to the same queue or topic in every region, through the existing
 * {@link ServiceBusSenderClient}s of the application, with one Tandem envelope.
 *
 * <pre>{@code
 * TandemServiceBusSender sender = TandemServiceBusSender.builder()
 *     .region(RegionId.of("westeurope"), senderWestEurope)     // existing ServiceBusSenderClient
 *     .region(RegionId.of("northeurope"), senderNorthEurope)
 *     .shardCount(16)                                          // the consumers' shard count
 *     .publisher(p -> p.spoolDirectory(Path.of("/var/lib/app/spool")).ackPolicy(AckPolicy.ANY))
 *     .build();
 * sender.sendMessage(new ServiceBusMessage("hello").setSessionId("order-42"));
 * }</pre>
 *
 * <p>Every copy carries:
 *
 * <ul>
 *   <li>{@code MessageId} = the Tandem id: the message's own {@code MessageId} if the application set
 *       one (a business key, at most 128 characters), else a new time-ordered UUIDv7. Each
 *       namespace's duplicate detection therefore also drops retried sends.
 *   <li>the session id, partition key and every other broker property unchanged, and the application
 *       properties with their types;
 *   <li>the envelope in application properties ({@code tandem-id}, {@code tandem-digest}, {@code
 *       tandem-shard}, {@code tandem-published-at}, optionally {@code tandem-sig}); the shard is the
 *       session id (or, without a session, the id) hashed into {@code shardCount} buckets ({@link
 *       dev.tandem.core.Shards#forKey}).
 * </ul>
 *
 * <p>Acknowledgement, timeouts, spooling of a region that is down and its replay in order are the
 * {@link DualPublisher}'s (configured through {@link Builder#publisher}). Per region, messages are
 * sent in order, whatever has queued up meanwhile in one batch.
 *
 * <p>Not supported: transactions (no commit is atomic across two namespaces) and message bodies that
 * are not a single binary data section. A message that cannot be carried unchanged (an application
 * property type the SDK cannot encode, such as {@code Instant} or {@code byte[]}; a {@code tandem-*}
 * property; an id over 128 characters; a body over a namespace's maximum message size, once known)
 * is refused with {@link IllegalArgumentException}, before anything is sent. A copy a namespace
 * refuses at send for its content (e.g. no session id for a session-enabled entity) fails for that
 * region with {@link dev.tandem.publisher.MessageRejectedException} and is not spooled; one refused
 * on replay is moved out of the spool ({@link dev.tandem.publisher.RegionListener#onCopyRejected}).
 * For a partitioned entity with duplicate detection, set {@link Builder#sendSingly}.
 *
 * <p>Metrics: those of the {@link DualPublisher}, plus {@code tandem.servicebus.batches} ({@code
 * outcome} = {@code sent}, {@code refused}, {@code single}), {@code .rejected}, {@code .scheduled}
 * and {@code .cancelled} (tags {@code region}, {@code outcome}). Thread-safe.
 */
public final class TandemServiceBusSender implements AutoCloseable {

  private final ServiceBusFanOut fanOut;

  private TandemServiceBusSender(ServiceBusFanOut fanOut) {
    this.fanOut = fanOut;
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Sends {@code message} to every region; returns when the ack policy is met.
   *
   * @throws dev.tandem.publisher.PublishException naming each region that failed (its copy is
   *     spooled and replayed unless the message was rejected)
   * @throws IllegalArgumentException if the message cannot be carried unchanged (see class doc)
   */
  public PublishResult sendMessage(ServiceBusMessage message) {
    return join(fanOut.publish(Objects.requireNonNull(message, "message"), null));
  }

  /**
   * Sends {@code messages} to every region, in order; on the wire they travel in batches. Unlike the
   * SDK's {@code sendMessages}, the set is not atomic: each message is published (and acknowledged or
   * spooled) on its own. Every message is mapped before any is sent, so a message that cannot be
   * carried fails the call with nothing sent.
   *
   * @return one result per message, in order
   * @throws dev.tandem.publisher.PublishException for the first message that failed, the others'
   *     failures suppressed in it; the messages that did not fail are published
   */
  public List<PublishResult> sendMessages(Iterable<ServiceBusMessage> messages) {
    Objects.requireNonNull(messages, "messages");
    List<ServiceBusMessage> all = new ArrayList<>();
    messages.forEach(m -> all.add(Objects.requireNonNull(m, "a message in messages")));
    List<CompletableFuture<PublishResult>> futures = fanOut.publishAll(all);
    List<PublishResult> results = new ArrayList<>(futures.size());
    RuntimeException first = null;
    for (CompletableFuture<PublishResult> f : futures) {
      try {
        results.add(join(f));
      } catch (RuntimeException e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
    return results;
  }

  /**
   * Schedules {@code message} for {@code enqueueAt} in every region.
   *
   * @return the handle holding every region's sequence number, for {@link #cancelScheduledMessage}
   */
  public ScheduledMessage scheduleMessage(ServiceBusMessage message, OffsetDateTime enqueueAt) {
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(enqueueAt, "enqueueAt");
    return join(fanOut.schedule(message, enqueueAt));
  }

  /**
   * Cancels the scheduled message in every region. Regions whose copy is scheduled already are
   * cancelled before this returns; a region whose copy still waits in the spool is cancelled right
   * after the copy is replayed (if the replay happens after the enqueue time, that copy may be
   * delivered first: Service Bus enqueues a past schedule at once).
   *
   * @throws CancelScheduledException naming the regions where the cancellation failed
   */
  public void cancelScheduledMessage(ScheduledMessage message) {
    Objects.requireNonNull(message, "message");
    Map<RegionId, Long> known = message.knownSequenceNumbers();
    awaitCancelled(message.id(), fanOut.cancel(message), known.keySet());
  }

  /**
   * Cancels a scheduled message by the sequence numbers persisted from {@link
   * ScheduledMessage#knownSequenceNumbers()} (e.g. by another process).
   *
   * @throws CancelScheduledException naming the regions where the cancellation failed
   */
  public void cancelScheduledMessage(String id, Map<RegionId, Long> sequenceNumbers) {
    Objects.requireNonNull(sequenceNumbers, "sequenceNumbers");
    awaitCancelled(id, fanOut.cancel(id, sequenceNumbers), sequenceNumbers.keySet());
  }

  private static void awaitCancelled(String id, Map<RegionId, CompletableFuture<Void>> perRegion,
      Iterable<RegionId> awaited) {
    Map<RegionId, Throwable> failures = new LinkedHashMap<>();
    for (RegionId r : awaited) {
      try {
        perRegion.get(r).join();
      } catch (CompletionException e) {
        failures.put(r, e.getCause());
      }
    }
    if (!failures.isEmpty()) {
      throw new CancelScheduledException(id, failures);
    }
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

  static <T> T join(CompletableFuture<T> f) {
    try {
      return f.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw e;
    }
  }

  /** Builds a {@link TandemServiceBusSender}; not thread-safe. */
  public static final class Builder {
    /** Default most messages per batch on the wire. */
    public static final int DEFAULT_MAX_BATCH_MESSAGES = 100;

    private final Map<RegionId, ServiceBusSenderClient> clients = new LinkedHashMap<>();
    private final Map<RegionId, ServiceBusReceiverClient> peekers = new LinkedHashMap<>();
    private int shardCount;
    private int maxBatchMessages = DEFAULT_MAX_BATCH_MESSAGES;
    private MeterRegistry registry;
    private Consumer<DualPublisher.Builder> publisherOptions;
    private boolean closeClients = true;
    private boolean sendSingly;

    private Builder() {}

    /** Adds a region and its existing sender (every region's sender names the same entity). */
    public Builder region(RegionId region, ServiceBusSenderClient sender) {
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

    /** Where metrics go (also the publisher's); default a new {@link SimpleMeterRegistry}. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /**
     * Configures the {@link DualPublisher} underneath (ack policy, timeout, circuit breaker, signer);
     * required, because its {@link DualPublisher.Builder#spoolDirectory(Path) spool directory} is.
     * The sinks and the meter registry are set already.
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

    /**
     * A receiver of {@code region}'s queue (PeekLock or any mode: only {@code peekMessages} is
     * used), so that {@link TandemServiceBusSender#cancelScheduledMessage} also finds and cancels
     * every other scheduled copy of the message's {@code MessageId}: a schedule whose answer was
     * lost (a timeout) may have been scheduled all the same and is then replayed from the spool,
     * and the sender learns only the replay's sequence number. Each cancel then peeks through the
     * queue. Queues only: a topic has no receiver to peek with (whether its subscriptions list a
     * scheduled message is not verified), so on a topic such a copy remains and is enqueued at its
     * time — reported at WARN and in {@code tandem.servicebus.cancelled{outcome=unknown-copy}} when
     * this sender saw the lost answer (another process cancelling by persisted sequence numbers
     * cannot know). Optional; the receiver is not closed by the sender.
     */
    public Builder scheduledMessagesPeek(RegionId region, ServiceBusReceiverClient receiver) {
      Objects.requireNonNull(region, "region");
      Objects.requireNonNull(receiver, "receiver");
      if (peekers.putIfAbsent(region, receiver) != null) {
        throw new IllegalArgumentException("region " + region + " has a peek receiver already");
      }
      return this;
    }

    /** Whether {@link #close()} closes the given clients too (default true: the sender owns them). */
    public Builder closeClients(boolean closeClients) {
      this.closeClients = closeClients;
      return this;
    }

    /**
     * Builds the sender and starts the publisher (which replays what an earlier one left in the
     * spool).
     *
     * @throws IllegalArgumentException if the regions' senders name different entities
     * @throws IllegalStateException if a required setting is missing
     */
    public TandemServiceBusSender build() {
      Map<RegionId, NamespaceSender> senders = new LinkedHashMap<>();
      clients.forEach((r, c) -> senders.put(r, new SyncNamespaceSender(c)));
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
      return new TandemServiceBusSender(fanOut);
    }
  }
}
