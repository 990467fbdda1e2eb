package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import com.azure.messaging.servicebus.models.CreateMessageBatchOptions;
import java.time.OffsetDateTime;

/**
 * One region's Service Bus sender, synchronous or asynchronous, seen as blocking calls. Only the
 * region's {@link ServiceBusRegionalSink} worker thread calls it, one operation at a time, which is
 * what keeps each region's copies in publish order.
 */
interface NamespaceSender extends AutoCloseable {

  /** The queue or topic name. */
  String entityPath();

  /** The namespace host, for messages and toString (never a connection string). */
  String namespace();

  ServiceBusMessageBatch createMessageBatch();

  /** A batch of at most {@code options}' size (which must not exceed the link's). */
  ServiceBusMessageBatch createMessageBatch(CreateMessageBatchOptions options);

  void sendMessages(ServiceBusMessageBatch batch);

  /** Schedules {@code message}; returns its sequence number in this namespace. */
  long scheduleMessage(ServiceBusMessage message, OffsetDateTime enqueueAt);

  void cancelScheduledMessage(long sequenceNumber);

  @Override
  void close();
}
