package dev.tandem.azure.servicebus;

import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.when;

import com.azure.core.amqp.exception.AmqpErrorCondition;
import com.azure.core.amqp.exception.AmqpException;
import com.azure.messaging.servicebus.ServiceBusErrorSource;
import com.azure.messaging.servicebus.ServiceBusException;
import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderAsyncClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.azure.messaging.servicebus.models.CreateMessageBatchOptions;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import reactor.core.publisher.Mono;

/**
 * One region's Service Bus namespace as the SDK clients show it (no emulator runs here): Mockito
 * mocks of the SDK's final client and batch classes whose answers record what the namespace would
 * hold. Batches carry at most {@code batchCapacity} messages; a message with a body above {@code
 * maxMessageBytes} makes {@code tryAddMessage} throw as the SDK does. {@link #down} makes every
 * sender call fail at once with the SDK's exception type, as an unreachable namespace does once the
 * SDK has closed its connection. The receiver's {@code peekMessage()} ({@link #receiverClient}) is a
 * request-response on a link that stays open: while {@link #down} it gets no answer and waits, as
 * the SDK's does up to its tryTimeout (60 s), then fails.
 */
public final class FakeNamespace {

  static {
    // Mockito's inline mock maker instruments a final class at its first mock() in the JVM, which
    // takes far longer than the rest of a call (seconds on a loaded machine): done here, once, so a
    // probe's first createMessageBatch() (sub-second probe timeouts) measures the fake, not that.
    mock(ServiceBusMessageBatch.class);
  }

  final String entityPath;
  final int batchCapacity;
  final int maxMessageBytes;
  final AtomicBoolean down = new AtomicBoolean();
  final List<ServiceBusMessage> delivered = new CopyOnWriteArrayList<>();
  final List<List<ServiceBusMessage>> batches = new CopyOnWriteArrayList<>();
  final List<ServiceBusMessage> scheduled = new CopyOnWriteArrayList<>();
  final List<OffsetDateTime> scheduledFor = new CopyOnWriteArrayList<>();
  final List<Long> sequenceNumbers = new CopyOnWriteArrayList<>();
  final List<Long> cancelled = new CopyOnWriteArrayList<>();
  final AtomicLong nextSequenceNumber;
  final AtomicBoolean closed = new AtomicBoolean();

  // Entity rules the real service enforces at send, opt-in (sources in the notes of issue 15, items 3/4).
  /** When > 0, batches are the SDK's own {@link ServiceBusMessageBatch} with this link size. */
  volatile int sdkLinkMaxBytes;
  /** The service refuses a batch of two or more above this size (1 MB, even with large messages). */
  volatile int serviceMaxBatchBytes = Integer.MAX_VALUE;
  /** A session-enabled queue or subscription: a message without a session id is refused. */
  volatile boolean requiresSession;
  /** Partitioning and duplicate detection: a batch of messages with distinct ids is refused. */
  volatile boolean partitionedWithDuplicateDetection;
  /** The AMQP condition of the service's refusals (the Java mapping of some is not documented). */
  volatile AmqpErrorCondition refusalCondition = AmqpErrorCondition.NOT_ALLOWED;
  /** Every batch the service refused, as sent. */
  final List<List<ServiceBusMessage>> refused = new CopyOnWriteArrayList<>();
  /** The next this-many batch sends fail as an unreachable namespace does, then sends succeed. */
  final java.util.concurrent.atomic.AtomicInteger failNextSends =
      new java.util.concurrent.atomic.AtomicInteger();
  /** When set, a send waits for it (so that a test can let copies queue up behind a send). */
  volatile java.util.concurrent.CountDownLatch sendGate;
  final java.util.concurrent.atomic.AtomicInteger sendsAtGate = new java.util.concurrent.atomic.AtomicInteger();
  /** When set, createMessageBatch waits for it (a link being attached again, as slow as it gets). */
  volatile java.util.concurrent.CountDownLatch createGate;
  final java.util.concurrent.atomic.AtomicInteger createsAtGate =
      new java.util.concurrent.atomic.AtomicInteger();
  /**
   * The gates ignore interrupts (as a blocking SDK call may, up to its try-timeout): the sink's
   * worker then outlives close()'s wait.
   */
  volatile boolean gatesIgnoreInterrupts;
  /**
   * When set, the createMessageBatch call after {@link #createsBeforeFailure} more throws this once
   * (e.g. a link that fails to attach again).
   */
  final java.util.concurrent.atomic.AtomicReference<RuntimeException> failCreate =
      new java.util.concurrent.atomic.AtomicReference<>();
  final java.util.concurrent.atomic.AtomicInteger createsBeforeFailure =
      new java.util.concurrent.atomic.AtomicInteger();
  /** While set, every send and schedule throws this (e.g. a state of the entity, not the message). */
  volatile RuntimeException sendFailure;

  public FakeNamespace(String entityPath, int batchCapacity, int maxMessageBytes, long firstSequenceNumber) {
    this.entityPath = entityPath;
    this.batchCapacity = batchCapacity;
    this.maxMessageBytes = maxMessageBytes;
    this.nextSequenceNumber = new AtomicLong(firstSequenceNumber);
  }

  List<String> deliveredIds() {
    return delivered.stream().map(ServiceBusMessage::getMessageId).toList();
  }

  private void failIfDown() {
    if (down.get()) {
      throw new ServiceBusException(new AmqpException(true, AmqpErrorCondition.SERVER_BUSY_ERROR,
          "namespace of " + entityPath + " unreachable", null), ServiceBusErrorSource.SEND);
    }
  }

  private void pass(java.util.concurrent.CountDownLatch gate,
      java.util.concurrent.atomic.AtomicInteger atGate) {
    if (gate == null) {
      return;
    }
    atGate.incrementAndGet();
    boolean interrupted = false;
    while (true) {
      try {
        gate.await();
        break;
      } catch (InterruptedException e) {
        if (!gatesIgnoreInterrupts) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted at the gate", e);
        }
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  ServiceBusMessageBatch newBatch() {
    pass(createGate, createsAtGate);
    if (failCreate.get() != null && createsBeforeFailure.getAndDecrement() <= 0) {
      throw failCreate.getAndSet(null);
    }
    failIfDown();
    if (sdkLinkMaxBytes > 0) {
      return SdkBatches.create(sdkLinkMaxBytes);
    }
    List<ServiceBusMessage> content = new ArrayList<>();
    ServiceBusMessageBatch batch = mock(ServiceBusMessageBatch.class);
    when(batch.getMaxSizeInBytes()).thenReturn(maxMessageBytes);
    when(batch.getCount()).thenAnswer(i -> content.size());
    when(batch.tryAddMessage(any())).thenAnswer(i -> {
      ServiceBusMessage m = i.getArgument(0);
      if (m.getBody().toBytes().length > maxMessageBytes) {
        throw new ServiceBusException(new AmqpException(false,
            AmqpErrorCondition.LINK_PAYLOAD_SIZE_EXCEEDED, "Size of the payload exceeded maximum",
            null), ServiceBusErrorSource.SEND);
      }
      if (content.size() >= batchCapacity) {
        return false;
      }
      content.add(m);
      return true;
    });
    batchContents.put(batch, content);
    return batch;
  }

  private final java.util.Map<ServiceBusMessageBatch, List<ServiceBusMessage>> batchContents =
      new java.util.concurrent.ConcurrentHashMap<>();

  /** As {@code createMessageBatch(options)}: the SDK refuses a size above the link's. */
  ServiceBusMessageBatch newBatch(CreateMessageBatchOptions options) {
    if (sdkLinkMaxBytes <= 0) {
      return newBatch();
    }
    failIfDown();
    int size = options.getMaximumSizeInBytes();
    if (size > sdkLinkMaxBytes) {
      throw new IllegalArgumentException("CreateMessageBatchOptions.getMaximumSizeInBytes (" + size
          + " bytes) is larger than the link size (" + sdkLinkMaxBytes + " bytes).");
    }
    return SdkBatches.create(size > 0 ? size : sdkLinkMaxBytes);
  }

  /** The service's answer to a batch it does not accept (an InvalidOperationException on the wire). */
  private void refuse(List<ServiceBusMessage> content, String description) {
    refused.add(List.copyOf(content));
    throw new ServiceBusException(new AmqpException(false, refusalCondition,
        description + " TrackingId:fake, SystemTracker:fake:Queue:" + entityPath, null),
        ServiceBusErrorSource.SEND);
  }

  private void applyEntityRules(ServiceBusMessageBatch batch, List<ServiceBusMessage> content) {
    if (requiresSession && content.stream().anyMatch(m -> m.getSessionId() == null)) {
      refuse(content, "The SessionId was not set on a message, and it cannot be sent to the entity. "
          + "Entities that have session support enabled can only receive messages that have the "
          + "SessionId set to a valid value.");
    }
    if (partitionedWithDuplicateDetection && content.size() > 1 && content.stream()
        .map(m -> java.util.Arrays.asList(m.getSessionId(), m.getPartitionKey(), m.getMessageId()))
        .distinct().count() > 1) {
      refuse(content, "Batching brokered messages with distinct SessionId, PartitionKey, or MessageId "
          + "is not supported for an entity with partitioning and duplicate detection enabled.");
    }
    if (content.size() > 1 && batch.getSizeInBytes() > serviceMaxBatchBytes) {
      refuse(content, "The link 'G1:1:amqps://fake.servicebus.windows.net/-1;0:5:6' is force "
          + "detached by the broker because publisher(link1) received a batch message with no data "
          + "in it. Detach origin: Publisher.");
    }
  }

  void send(ServiceBusMessageBatch batch) {
    pass(sendGate, sendsAtGate);
    failIfDown();
    if (sendFailure != null) {
      throw sendFailure;
    }
    if (failNextSends.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      throw new ServiceBusException(new AmqpException(true, AmqpErrorCondition.SERVER_BUSY_ERROR,
          "namespace of " + entityPath + " busy", null), ServiceBusErrorSource.SEND);
    }
    List<ServiceBusMessage> content = batchContents.remove(batch);
    if (content == null) {
      content = SdkBatches.messages(batch);
    }
    applyEntityRules(batch, content);
    batches.add(List.copyOf(content));
    delivered.addAll(content);
  }

  long schedule(ServiceBusMessage m, OffsetDateTime at) {
    failIfDown();
    if (sendFailure != null) {
      throw sendFailure;
    }
    if (sdkLinkMaxBytes > 0) {
      try {
        SdkBatches.create(sdkLinkMaxBytes).tryAddMessage(m); // the SDK encodes a scheduled message too
      } catch (ServiceBusException e) {
        throw e;
      } catch (RuntimeException e) {
        // The SDK encodes it inside ManagementChannel.schedule; scheduleMessageInternal's
        // onErrorMap(mapError) wraps anything not a ServiceBusException as
        // ServiceBusException(e, SEND): reason GENERAL_ERROR, the SDK's exception as the cause.
        throw new ServiceBusException(e, ServiceBusErrorSource.SEND);
      }
    }
    if (requiresSession && m.getSessionId() == null) {
      refuse(List.of(m), "The SessionId was not set on a message, and it cannot be sent to the "
          + "entity. Entities that have session support enabled can only receive messages that have "
          + "the SessionId set to a valid value.");
    }
    long seq = nextSequenceNumber.getAndIncrement();
    scheduled.add(m);
    scheduledFor.add(at);
    sequenceNumbers.add(seq);
    return seq;
  }

  void cancel(long seq) {
    failIfDown();
    cancelled.add(seq);
  }

  public ServiceBusSenderClient syncClient() {
    ServiceBusSenderClient c = mock(ServiceBusSenderClient.class);
    when(c.getEntityPath()).thenReturn(entityPath);
    when(c.getFullyQualifiedNamespace()).thenReturn("fake.servicebus.windows.net");
    when(c.createMessageBatch()).thenAnswer(i -> newBatch());
    when(c.createMessageBatch(any(CreateMessageBatchOptions.class)))
        .thenAnswer(i -> newBatch((CreateMessageBatchOptions) i.getArgument(0)));
    org.mockito.Mockito.doAnswer(i -> {
      send(i.getArgument(0));
      return null;
    }).when(c).sendMessages(any(ServiceBusMessageBatch.class));
    when(c.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenAnswer(i -> schedule(i.getArgument(0), i.getArgument(1)));
    org.mockito.Mockito.doAnswer(i -> {
      cancel(i.getArgument(0));
      return null;
    }).when(c).cancelScheduledMessage(anyLong());
    org.mockito.Mockito.doAnswer(i -> {
      closed.set(true);
      return null;
    }).when(c).close();
    return c;
  }

  /** A receiver of the entity: {@code peekMessage()} waits while the namespace is down. */
  ServiceBusReceiverClient receiverClient() {
    ServiceBusReceiverClient c = mock(ServiceBusReceiverClient.class);
    when(c.getEntityPath()).thenReturn(entityPath);
    when(c.getFullyQualifiedNamespace()).thenReturn("fake.servicebus.windows.net");
    when(c.peekMessage()).thenAnswer(i -> {
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos(); // the SDK's tryTimeout
      while (down.get()) { // the request is on the wire; no answer comes
        if (System.nanoTime() - deadline >= 0) {
          throw new ServiceBusException(new AmqpException(true, AmqpErrorCondition.TIMEOUT_ERROR,
              "peek of " + entityPath + " timed out", null), ServiceBusErrorSource.MANAGEMENT);
        }
        LockSupport.parkNanos(10_000_000L);
      }
      return null; // an empty entity: the namespace answered
    });
    return c;
  }

  ServiceBusSenderAsyncClient asyncClient() {
    ServiceBusSenderAsyncClient c = mock(ServiceBusSenderAsyncClient.class);
    when(c.getEntityPath()).thenReturn(entityPath);
    when(c.getFullyQualifiedNamespace()).thenReturn("fake.servicebus.windows.net");
    when(c.createMessageBatch()).thenAnswer(i -> Mono.fromCallable(this::newBatch));
    when(c.createMessageBatch(any(CreateMessageBatchOptions.class))).thenAnswer(
        i -> Mono.fromCallable(() -> newBatch((CreateMessageBatchOptions) i.getArgument(0))));
    when(c.sendMessages(any(ServiceBusMessageBatch.class)))
        .thenAnswer(i -> Mono.fromRunnable(() -> send(i.getArgument(0))));
    when(c.scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class)))
        .thenAnswer(i -> Mono.fromCallable(() -> schedule(i.getArgument(0), i.getArgument(1))));
    when(c.cancelScheduledMessage(anyLong()))
        .thenAnswer(i -> Mono.fromRunnable(() -> cancel(i.getArgument(0))));
    org.mockito.Mockito.doAnswer(i -> {
      closed.set(true);
      return null;
    }).when(c).close();
    return c;
  }
}
