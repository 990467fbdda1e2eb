package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import com.azure.messaging.servicebus.models.CreateMessageBatchOptions;
import dev.tandem.azure.AzureMeterNames;
import dev.tandem.azure.servicebus.SinkOperation.Send;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link RegionalSink} of one Service Bus namespace. One worker thread per region takes copies in
 * the order the publisher gave them and sends whatever has queued up meanwhile as one batch (up to
 * {@code maxBatchMessages} and the batch's size limit), the way a Kafka producer batches: a batch is
 * atomic on Service Bus, and the next one starts only when the previous one was acknowledged, so the
 * region receives the copies in publish order. Scheduled copies and cancellations of scheduled copies
 * go through the same queue, so a cancellation follows the copy it cancels.
 *
 * <p>What a batch holds is what the service accepts as one batch: at most {@link
 * #SERVICE_MAX_BATCH_BYTES} (a larger message, possible on Premium with large messages, goes alone,
 * which the SDK sends as a plain message), and one message per batch on an entity that refuses
 * batches of distinct messages (partitioning with duplicate detection: set by the sender's {@code
 * sendSingly}, or learned from the service's first such refusal). A batch the service refuses as a
 * batch is sent again one message at a time, in order, so only a message refused on its own fails.
 *
 * <p>A send completes when the SDK's send call returned (the namespace acknowledged it). A copy the
 * SDK cannot encode, that exceeds the namespace's maximum message size, or that the namespace refuses
 * for its content ({@code amqp:not-allowed} or an argument error whose text is a known refusal of the
 * message, e.g. no session id for a session-enabled entity) fails with {@link
 * MessageRejectedException}: replaying cannot cure it, and it must never be spooled at the head of the
 * region's queue. A rejection is final: on replay the copy is deleted from the spool, and {@code
 * RegionListener.onCopyRejected} is the only way to keep it. Any other error (unreachable, busy,
 * timeout, authorization, entity missing, disabled, being deleted or of a tier without the feature,
 * quota, an unrecognised not-allowed) is the region's, and the publisher spools the copy.
 *
 * <p>Metrics (tag {@code region}): {@code tandem.servicebus.batches} with {@code outcome} = {@code
 * sent}, {@code refused} (a batch the service refused as a batch, then sent one by one), {@code
 * single} (a message sent alone after a refusal or for its size), {@code error} (an operation whose SDK
 * call threw an Error: its copies, and those queued behind them, failed as the region's, logged at
 * ERROR; the worker goes on); {@code tandem.servicebus.rejected}
 * (copies rejected for their content, each also logged at WARN with the reason).
 *
 * <p>{@link #close()} stops the worker and fails what is still queued (the publisher has spooled or
 * settled it by then); it does not close the SDK client, which belongs to the Tandem sender.
 */
final class ServiceBusRegionalSink implements RegionalSink {

  private static final Logger LOG = LoggerFactory.getLogger(ServiceBusRegionalSink.class);

  /**
   * The most bytes the service accepts in a batch of two or more, whatever the entity's maximum
   * message size (1 MB on Premium even with large messages, which raise only the single message's).
   */
  static final int SERVICE_MAX_BATCH_BYTES = 1024 * 1024;

  private final RegionId region;
  private final NamespaceSender sender;
  private final int maxBatchMessages;
  private final BlockingDeque<SinkOperation> queue = new LinkedBlockingDeque<>();
  private final Object enqueueLock = new Object();
  private final Thread worker;
  private final Counter batches;
  private final Counter scheduled;
  /** Cancellations of scheduled copies, run by the worker in queue order. */
  private final ScheduledCancellations cancellations;
  private final Counter refusedBatches;
  private final Counter singles;
  private final Counter rejectedContent;
  /** The link's maximum message size, learned from the first batch (0 = not yet). */
  private volatile int linkMaxBytes;
  /** One message per batch: set by the option, or learned from the service's refusal of a batch. */
  private volatile boolean singly;
  private volatile CompletableFuture<?> last = CompletableFuture.completedFuture(null);
  private volatile boolean closed;
  /** The operations the worker took from the queue and has not answered yet (worker thread only). */
  private List<? extends SinkOperation> inHand = List.of();
  private final Counter workerErrors;
  /** How long close() waits for the worker (package-private: tests shorten it). */
  volatile long closeWaitMillis = 10_000;

  ServiceBusRegionalSink(RegionId region, NamespaceSender sender, int maxBatchMessages,
      MeterRegistry registry) {
    this(region, sender, maxBatchMessages, false, registry);
  }

  /**
   * @param sendSingly one message per batch from the start (a partitioned entity with duplicate
   *     detection refuses every batch of messages with distinct ids, and Tandem's ids are distinct)
   */
  ServiceBusRegionalSink(RegionId region, NamespaceSender sender, int maxBatchMessages,
      boolean sendSingly, MeterRegistry registry) {
    this.singly = sendSingly;
    this.region = Objects.requireNonNull(region, "region");
    this.sender = Objects.requireNonNull(sender, "sender");
    this.maxBatchMessages = maxBatchMessages;
    this.batches = counter(registry, AzureMeterNames.SERVICEBUS_BATCHES, "sent");
    this.scheduled = counter(registry, AzureMeterNames.SERVICEBUS_SCHEDULED, "scheduled");
    this.cancellations = new ScheduledCancellations(region, sender, registry);
    this.refusedBatches = counter(registry, AzureMeterNames.SERVICEBUS_BATCHES, "refused");
    this.singles = counter(registry, AzureMeterNames.SERVICEBUS_BATCHES, "single");
    this.rejectedContent = counter(registry, AzureMeterNames.SERVICEBUS_REJECTED, "content");
    this.workerErrors = counter(registry, AzureMeterNames.SERVICEBUS_BATCHES, "error");
    this.worker = new Thread(this::run, "tandem-servicebus-" + region.name());
    this.worker.setDaemon(true);
    this.worker.start();
  }

  private Counter counter(MeterRegistry registry, String name, String outcome) {
    return Counter.builder(name).tag("region", region.name()).tag("outcome", outcome)
        .register(registry);
  }

  @Override
  public RegionId region() {
    return region;
  }

  String entityPath() {
    return sender.entityPath();
  }

  /** The namespace's maximum message size once the first batch told it, else 0. */
  int maxMessageBytes() {
    return linkMaxBytes;
  }

  @Override
  public CompletableFuture<SinkAck> send(OutboundMessage message) {
    SinkOperation.Send op;
    try {
      op = new SinkOperation.Send(message, ServiceBusMessageMapping.toServiceBus(message),
          ServiceBusMessageMapping.scheduleAt(message));
    } catch (IllegalArgumentException e) {
      // e.g. a spooled property of a type the SDK cannot encode: rejected before it is queued
      return CompletableFuture.failedFuture(
          rejected("cannot map to a Service Bus message: " + e.getMessage(), e));
    }
    enqueue(op);
    return op.result();
  }

  /** Cancels a scheduled copy by its sequence number in this namespace, after every queued copy. */
  CompletableFuture<Void> cancel(long sequenceNumber) {
    return cancel(sequenceNumber, null);
  }

  /**
   * Cancels a scheduled copy by its sequence number, and — when {@code messageId} is given and a
   * {@link #scheduledCopies lookup} is configured — every other scheduled copy of that {@code
   * MessageId} in the entity (a schedule replayed after a lost answer leaves one the sender never
   * learned the sequence number of).
   */
  CompletableFuture<Void> cancel(long sequenceNumber, String messageId) {
    SinkOperation.Cancel op = new SinkOperation.Cancel(sequenceNumber, messageId);
    enqueue(op);
    return op.result();
  }

  /** Where a cancel finds every scheduled copy of a {@code MessageId}; null: none (the default). */
  void scheduledCopies(ScheduledCopies lookup) {
    cancellations.lookup(lookup);
  }

  private void enqueue(SinkOperation op) {
    synchronized (enqueueLock) {
      if (closed) {
        op.fail(new IllegalStateException("the Service Bus sink of " + region + " is closed"));
        return;
      }
      queue.add(op);
      last = op.result();
    }
  }

  @Override
  public void flush() {
    last.handle((r, e) -> null).join();
  }

  @Override
  public void close() {
    synchronized (enqueueLock) {
      if (closed) {
        return;
      }
      closed = true;
    }
    worker.interrupt();
    try {
      worker.join(closeWaitMillis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    failQueued();
  }

  /**
   * Fails what is queued. Called by close() and by the worker when it stops: the worker can outlive
   * close()'s wait (a blocking send ends only at the SDK's try-timeout) and, when it finishes, puts
   * back copies that did not fit its batch or cancellations it kept; without this they would never
   * complete, and flush() would wait for them forever.
   */
  private void failQueued() {
    SinkOperation op;
    while ((op = queue.poll()) != null) {
      op.fail(new IllegalStateException("the Service Bus sink of " + region + " closed first"));
    }
  }

  private void run() {
    try {
      work();
    } finally {
      failQueued();
    }
  }

  private void work() {
    while (!closed) {
      SinkOperation first;
      try {
        first = queue.take();
      } catch (InterruptedException e) {
        return; // closing
      }
      inHand = List.of(first);
      try {
        if (first instanceof SinkOperation.Cancel c) {
          cancellations.run(c);
        } else {
          Send s = (Send) first;
          if (s.scheduleAt() != null) {
            runSchedule(s);
          } else {
            runBatch(s);
          }
        }
      } catch (Throwable e) {
        workerFailed(e);
      } finally {
        inHand = List.of();
      }
    }
  }

  /**
   * What the SDK threw past the RuntimeException handling of the operations above — an Error: a
   * LinkageError between azure-core, reactor and netty versions, an OutOfMemoryError. Escaping, it
   * would end this worker: the copies it holds never answered and every later copy queued for ever
   * (the region's replay and flush() waiting on them). Instead the copies in hand, and the copies
   * queued behind them (they must not overtake), fail as the region's failure — the publisher spools
   * them — and the worker goes on with the next operation.
   */
  private void workerFailed(Throwable e) {
    workerErrors.increment();
    LOG.error("{}: the Service Bus SDK threw on the sink's worker; the copies in hand and the copies "
        + "queued behind them fail as the region's failure", this, e);
    failQueuedIfRegionFailed(e);
    for (SinkOperation op : inHand) {
      op.fail(e); // no effect on those already answered
    }
  }

  private void runSchedule(Send s) {
    try {
      long sequenceNumber = sender.scheduleMessage(s.serviceBus(), s.scheduleAt());
      scheduled.increment();
      s.result().complete(ack(s, sequenceNumber));
    } catch (RuntimeException e) {
      RuntimeException failure = classify(e);
      if (!(failure instanceof MessageRejectedException) && s.serviceBus().getMessageId() != null) {
        // the service may have scheduled it before the answer was lost: remembered for cancel
        cancellations.scheduleAmbiguous(s.serviceBus().getMessageId());
      }
      s.result().completeExceptionally(failure);
      failQueuedIfRegionFailed(failure);
    }
  }

  /**
   * After a failure of the region, every copy still queued behind the failed one fails too: the
   * publisher spools them behind it, in order, instead of this worker sending them on and letting
   * them overtake the failed copy when the region answers again at once (a transient error).
   * Cancellations stay queued (they wait for the sequence number of a copy already scheduled).
   */
  private void failQueuedIfRegionFailed(Throwable failure) {
    if (failure == null || failure instanceof MessageRejectedException) {
      return;
    }
    List<SinkOperation> keep = new ArrayList<>();
    List<Send> failed = new ArrayList<>();
    synchronized (enqueueLock) {
      SinkOperation op;
      while ((op = queue.poll()) != null) {
        if (op instanceof Send s) {
          failed.add(s);
        } else {
          keep.add(op);
        }
      }
      queue.addAll(keep);
    }
    // outside the lock: the publisher's callbacks may take its own ordering lock
    failed.forEach(s -> s.result().completeExceptionally(failure));
  }

  /**
   * Sends {@code first} with every plain send queued behind it that fits one batch (one message per
   * batch once the entity is known to refuse batches).
   */
  private void runBatch(Send first) {
    List<Send> group = new ArrayList<>();
    group.add(first);
    inHand = group;
    int most = singly ? 1 : maxBatchMessages;
    while (group.size() < most && queue.peek() instanceof Send next && next.scheduleAt() == null) {
      group.add((Send) queue.poll());
    }
    ServiceBusMessageBatch batch;
    try {
      batch = newBatch();
    } catch (RuntimeException e) {
      group.forEach(s -> s.result().completeExceptionally(e));
      failQueuedIfRegionFailed(e);
      return;
    }
    List<Send> inBatch = new ArrayList<>();
    int i = 0;
    for (; i < group.size(); i++) {
      Send s = group.get(i);
      boolean added;
      try {
        added = batch.tryAddMessage(s.serviceBus());
      } catch (RuntimeException e) {
        if (!ServiceBusRefusals.tooLarge(e)) {
          // The SDK could not encode it (e.g. "No encoding is known for ..."): no region can take it.
          s.result().completeExceptionally(rejected("the Service Bus SDK cannot encode message "
              + s.message().id() + ": " + e, e));
          continue;
        }
        if (!inBatch.isEmpty()) {
          break; // send what the batch holds; s starts the next one
        }
        added = false;
      }
      if (!added) {
        if (!inBatch.isEmpty()) {
          break;
        }
        RuntimeException regionFailure = sendAlone(s, batch.getMaxSizeInBytes());
        if (regionFailure != null) {
          // the copies behind it must not overtake it: they fail too and are spooled after it
          for (int j = i + 1; j < group.size(); j++) {
            group.get(j).result().completeExceptionally(regionFailure);
          }
          failQueuedIfRegionFailed(regionFailure);
          return;
        }
        continue;
      }
      inBatch.add(s);
    }
    // What did not fit goes back to the head of the queue, in order, for the next batch.
    for (int j = group.size() - 1; j >= i; j--) {
      queue.addFirst(group.get(j));
    }
    if (!inBatch.isEmpty()) {
      send(batch, inBatch);
    }
  }

  /**
   * A new batch no larger than what the service accepts as a batch: the link's maximum message size
   * (what the SDK's {@code createMessageBatch()} uses) can be up to 100 MB on Premium with large
   * messages, but the service refuses any batch of two or more above 1 MB whatever that setting.
   */
  private ServiceBusMessageBatch newBatch() {
    int link = linkMaxBytes;
    if (link == 0) {
      ServiceBusMessageBatch b = sender.createMessageBatch();
      link = b.getMaxSizeInBytes();
      linkMaxBytes = link;
      if (link <= SERVICE_MAX_BATCH_BYTES) {
        return b;
      }
    }
    if (link <= SERVICE_MAX_BATCH_BYTES) {
      return sender.createMessageBatch();
    }
    return sender.createMessageBatch(
        new CreateMessageBatchOptions().setMaximumSizeInBytes(SERVICE_MAX_BATCH_BYTES));
  }

  /**
   * {@code s} does not fit an empty batch of {@code batchMax} bytes: when the link takes larger
   * messages (Premium large messages), it goes alone (the SDK sends a batch of one as a plain
   * message, not subject to the batch limit); otherwise it is too large for the namespace.
   *
   * @return the region's failure if sending it failed for the region, else null
   */
  private RuntimeException sendAlone(Send s, int batchMax) {
    int link = linkMaxBytes;
    if (link > batchMax) {
      return sendEachAlone(List.of(s));
    }
    s.result().completeExceptionally(rejected("message " + s.message().id() + " of "
        + s.message().valueSize() + " body bytes exceeds the namespace's maximum message size ("
        + batchMax + " bytes encoded)", null));
    return null;
  }

  /** Sends a filled batch; a batch the service refuses as a batch is split and sent one by one. */
  private void send(ServiceBusMessageBatch batch, List<Send> sends) {
    try {
      sender.sendMessages(batch);
      batches.increment();
      sends.forEach(s -> s.result().complete(ack(s, -1)));
    } catch (RuntimeException e) {
      if (sends.size() > 1 && ServiceBusRefusals.refusedAsBatch(e)) {
        refusedBatches.increment();
        if (ServiceBusRefusals.refusesBatching(e) && !singly) {
          singly = true;
          LOG.warn("{} refuses batches of distinct messages (partitioning with duplicate detection); "
              + "sending one message at a time from now on (set sendSingly(true) to start so): {}",
              this, e.getMessage());
        } else {
          LOG.warn("{} refused a batch of {} messages; sending them one by one: {}", this,
              sends.size(), e.getMessage());
        }
        failQueuedIfRegionFailed(sendEachAlone(sends));
        return;
      }
      RuntimeException failure = classify(e);
      sends.forEach(s -> s.result().completeExceptionally(failure));
      failQueuedIfRegionFailed(failure);
    }
  }

  /**
   * Sends each copy as a batch of one, in order. A copy refused for its content is rejected and the
   * next one goes; a region failure fails this copy and every later one (they are spooled, in order).
   *
   * @return the region's failure, or null if every copy was sent or rejected
   */
  private RuntimeException sendEachAlone(List<Send> sends) {
    for (int k = 0; k < sends.size(); k++) {
      Send s = sends.get(k);
      RuntimeException failure;
      ServiceBusMessageBatch one;
      try {
        // outside classify, as newBatch: a batch (link) that cannot be created is the region's
        one = sender.createMessageBatch();
      } catch (RuntimeException e) {
        for (int j = k; j < sends.size(); j++) {
          sends.get(j).result().completeExceptionally(e);
        }
        return e;
      }
      try {
        // a new SDK message: encoding an earlier batch rewrote this one's properties in place
        ServiceBusMessage fresh = ServiceBusMessageMapping.toServiceBus(s.message());
        if (!one.tryAddMessage(fresh)) {
          throw rejected("message " + s.message().id() + " does not fit an empty batch ("
              + one.getMaxSizeInBytes() + " bytes)", null);
        }
        sender.sendMessages(one);
        singles.increment();
        s.result().complete(ack(s, -1));
        continue;
      } catch (MessageRejectedException e) {
        failure = e;
      } catch (RuntimeException e) {
        failure = classify(e);
      }
      s.result().completeExceptionally(failure);
      if (!(failure instanceof MessageRejectedException)) {
        for (int j = k + 1; j < sends.size(); j++) {
          sends.get(j).result().completeExceptionally(failure);
        }
        return failure;
      }
    }
    return null;
  }

  private SinkAck ack(Send s, long position) {
    return new SinkAck(region, s.message().destination(), s.message().shard(), position, -1);
  }

  private MessageRejectedException rejected(String reason, Throwable cause) {
    rejectedContent.increment();
    LOG.warn("{} rejected a message for its content: {}", this, reason);
    return new MessageRejectedException(region, reason, cause);
  }

  /** The message's own fault (rejected: counted, logged) or the region's ({@link ServiceBusRefusals}). */
  private RuntimeException classify(RuntimeException e) {
    return ServiceBusRefusals.classify(e, this::rejected);
  }

  @Override
  public String toString() {
    return "ServiceBusRegionalSink[" + region + ", " + sender.namespace() + "/" + sender.entityPath()
        + "]";
  }
}
