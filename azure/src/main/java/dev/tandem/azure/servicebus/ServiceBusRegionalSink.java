package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusException;
import com.azure.messaging.servicebus.ServiceBusFailureReason;
import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingDeque;

/**
 * The {@link RegionalSink} of one Service Bus namespace. One worker thread per region takes copies in
 * the order the publisher gave them and sends whatever has queued up meanwhile as one batch (up to
 * {@code maxBatchMessages} and the batch's size limit), the way a Kafka producer batches: a batch is
 * atomic on Service Bus, and the next one starts only when the previous one was acknowledged, so the
 * region receives the copies in publish order. Scheduled copies and cancellations of scheduled copies
 * go through the same queue, so a cancellation follows the copy it cancels.
 *
 * <p>A send completes when the SDK's send call returned (the namespace acknowledged it). A copy that
 * alone exceeds an empty batch, or that the namespace refuses as too large, fails with {@link
 * MessageRejectedException} (replaying cannot cure it); any other error is the region's, and the
 * publisher spools the copy.
 *
 * <p>{@link #close()} stops the worker and fails what is still queued (the publisher has spooled or
 * settled it by then); it does not close the SDK client, which belongs to the Tandem sender.
 */
final class ServiceBusRegionalSink implements RegionalSink {

  private final RegionId region;
  private final NamespaceSender sender;
  private final int maxBatchMessages;
  private final BlockingDeque<Operation> queue = new LinkedBlockingDeque<>();
  private final Object enqueueLock = new Object();
  private final Thread worker;
  private final Counter batches;
  private final Counter scheduled;
  private final Counter cancelled;
  private final Counter cancelFailed;
  private volatile CompletableFuture<?> last = CompletableFuture.completedFuture(null);
  private volatile boolean closed;

  ServiceBusRegionalSink(RegionId region, NamespaceSender sender, int maxBatchMessages,
      MeterRegistry registry) {
    this.region = Objects.requireNonNull(region, "region");
    this.sender = Objects.requireNonNull(sender, "sender");
    this.maxBatchMessages = maxBatchMessages;
    this.batches = counter(registry, "tandem.servicebus.batches", "sent");
    this.scheduled = counter(registry, "tandem.servicebus.scheduled", "scheduled");
    this.cancelled = counter(registry, "tandem.servicebus.cancelled", "cancelled");
    this.cancelFailed = counter(registry, "tandem.servicebus.cancelled", "failed");
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

  @Override
  public CompletableFuture<SinkAck> send(OutboundMessage message) {
    Send op;
    try {
      op = new Send(message, ServiceBusMessageMapping.toServiceBus(message),
          ServiceBusMessageMapping.scheduleAt(message));
    } catch (IllegalArgumentException e) {
      return CompletableFuture.failedFuture(
          new MessageRejectedException(region, "cannot map to a Service Bus message: "
              + e.getMessage(), e));
    }
    enqueue(op);
    return op.result;
  }

  /** Cancels a scheduled copy by its sequence number in this namespace, after every queued copy. */
  CompletableFuture<Void> cancel(long sequenceNumber) {
    Cancel op = new Cancel(sequenceNumber);
    enqueue(op);
    return op.result;
  }

  private void enqueue(Operation op) {
    synchronized (enqueueLock) {
      if (closed) {
        op.fail(new IllegalStateException("the Service Bus sink of " + region + " is closed"));
        return;
      }
      queue.add(op);
      last = op.future();
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
      worker.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    Operation op;
    while ((op = queue.poll()) != null) {
      op.fail(new IllegalStateException("the Service Bus sink of " + region + " closed first"));
    }
  }

  private void run() {
    while (!closed) {
      Operation first;
      try {
        first = queue.take();
      } catch (InterruptedException e) {
        return; // closing
      }
      if (first instanceof Cancel c) {
        runCancel(c);
      } else {
        Send s = (Send) first;
        if (s.scheduleAt != null) {
          runSchedule(s);
        } else {
          runBatch(s);
        }
      }
    }
  }

  private void runCancel(Cancel c) {
    try {
      sender.cancelScheduledMessage(c.sequenceNumber);
      cancelled.increment();
      c.result.complete(null);
    } catch (RuntimeException e) {
      cancelFailed.increment();
      c.result.completeExceptionally(e);
    }
  }

  private void runSchedule(Send s) {
    try {
      long sequenceNumber = sender.scheduleMessage(s.serviceBus, s.scheduleAt);
      scheduled.increment();
      s.result.complete(ack(s, sequenceNumber));
    } catch (RuntimeException e) {
      s.result.completeExceptionally(classify(e));
    }
  }

  /** Sends {@code first} with every plain send queued behind it that fits one batch. */
  private void runBatch(Send first) {
    List<Send> group = new ArrayList<>();
    group.add(first);
    while (group.size() < maxBatchMessages
        && queue.peek() instanceof Send next && next.scheduleAt == null) {
      group.add((Send) queue.poll());
    }
    ServiceBusMessageBatch batch;
    try {
      batch = sender.createMessageBatch();
    } catch (RuntimeException e) {
      group.forEach(s -> s.result.completeExceptionally(e));
      return;
    }
    List<Send> inBatch = new ArrayList<>();
    int i = 0;
    try {
      for (; i < group.size(); i++) {
        if (!batch.tryAddMessage(group.get(i).serviceBus)) {
          break;
        }
        inBatch.add(group.get(i));
      }
    } catch (RuntimeException e) { // the SDK throws when one message alone overflows its buffer
      group.get(i).result.completeExceptionally(classify(e));
      i++;
    }
    if (inBatch.isEmpty() && i == 0) {
      group.get(0).result.completeExceptionally(new MessageRejectedException(region,
          "message " + group.get(0).message.id() + " of " + group.get(0).message.valueSize()
              + " bytes does not fit an empty batch (" + batch.getMaxSizeInBytes() + " bytes)", null));
      i = 1;
    }
    // What did not fit goes back to the head of the queue, in order, for the next batch.
    for (int j = group.size() - 1; j >= i; j--) {
      queue.addFirst(group.get(j));
    }
    if (inBatch.isEmpty()) {
      return;
    }
    try {
      sender.sendMessages(batch);
      batches.increment();
      inBatch.forEach(s -> s.result.complete(ack(s, -1)));
    } catch (RuntimeException e) {
      RuntimeException failure = classify(e);
      inBatch.forEach(s -> s.result.completeExceptionally(failure));
    }
  }

  private SinkAck ack(Send s, long position) {
    return new SinkAck(region, s.message.destination(), s.message.shard(), position, -1);
  }

  /** Too large is the message's fault (not worth replaying); anything else is the region's. */
  private RuntimeException classify(RuntimeException e) {
    if (e instanceof ServiceBusException sbe
        && ServiceBusFailureReason.MESSAGE_SIZE_EXCEEDED.equals(sbe.getReason())) {
      return new MessageRejectedException(region, "the message is too large: " + e.getMessage(), e);
    }
    return e;
  }

  @Override
  public String toString() {
    return "ServiceBusRegionalSink[" + region + ", " + sender.namespace() + "/" + sender.entityPath()
        + "]";
  }

  private sealed interface Operation permits Send, Cancel {
    CompletableFuture<?> future();

    void fail(Throwable t);
  }

  private record Send(OutboundMessage message, ServiceBusMessage serviceBus,
      OffsetDateTime scheduleAt, CompletableFuture<SinkAck> result) implements Operation {
    Send(OutboundMessage message, ServiceBusMessage serviceBus, OffsetDateTime scheduleAt) {
      this(message, serviceBus, scheduleAt, new CompletableFuture<>());
    }

    @Override
    public CompletableFuture<?> future() {
      return result;
    }

    @Override
    public void fail(Throwable t) {
      result.completeExceptionally(t);
    }
  }

  private record Cancel(long sequenceNumber, CompletableFuture<Void> result) implements Operation {
    Cancel(long sequenceNumber) {
      this(sequenceNumber, new CompletableFuture<>());
    }

    @Override
    public CompletableFuture<?> future() {
      return result;
    }

    @Override
    public void fail(Throwable t) {
      result.completeExceptionally(t);
    }
  }
}
