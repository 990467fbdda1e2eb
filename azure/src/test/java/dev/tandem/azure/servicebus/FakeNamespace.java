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
final class FakeNamespace {

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

  FakeNamespace(String entityPath, int batchCapacity, int maxMessageBytes, long firstSequenceNumber) {
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

  ServiceBusMessageBatch newBatch() {
    failIfDown();
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

  void send(ServiceBusMessageBatch batch) {
    failIfDown();
    List<ServiceBusMessage> content = batchContents.remove(batch);
    batches.add(List.copyOf(content));
    delivered.addAll(content);
  }

  long schedule(ServiceBusMessage m, OffsetDateTime at) {
    failIfDown();
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

  ServiceBusSenderClient syncClient() {
    ServiceBusSenderClient c = mock(ServiceBusSenderClient.class);
    when(c.getEntityPath()).thenReturn(entityPath);
    when(c.getFullyQualifiedNamespace()).thenReturn("fake.servicebus.windows.net");
    when(c.createMessageBatch()).thenAnswer(i -> newBatch());
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
