package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import com.azure.messaging.servicebus.ServiceBusSenderAsyncClient;
import com.azure.messaging.servicebus.models.CreateMessageBatchOptions;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Objects;

/**
 * A {@link NamespaceSender} over an application's existing {@link ServiceBusSenderAsyncClient}. Its
 * calls block the region's worker thread only (never a Reactor thread), at most {@code timeout} each.
 */
final class AsyncNamespaceSender implements NamespaceSender {

  private final ServiceBusSenderAsyncClient client;
  private final Duration timeout;

  AsyncNamespaceSender(ServiceBusSenderAsyncClient client, Duration timeout) {
    this.client = Objects.requireNonNull(client, "client");
    this.timeout = Objects.requireNonNull(timeout, "timeout");
  }

  @Override
  public String entityPath() {
    return client.getEntityPath();
  }

  @Override
  public String namespace() {
    return client.getFullyQualifiedNamespace();
  }

  @Override
  public ServiceBusMessageBatch createMessageBatch() {
    return client.createMessageBatch().block(timeout);
  }

  @Override
  public ServiceBusMessageBatch createMessageBatch(CreateMessageBatchOptions options) {
    return client.createMessageBatch(options).block(timeout);
  }

  @Override
  public void sendMessages(ServiceBusMessageBatch batch) {
    client.sendMessages(batch).block(timeout);
  }

  @Override
  public long scheduleMessage(ServiceBusMessage message, OffsetDateTime enqueueAt) {
    Long sequenceNumber = client.scheduleMessage(message, enqueueAt).block(timeout);
    if (sequenceNumber == null) {
      throw new IllegalStateException("Service Bus returned no sequence number for a scheduled message");
    }
    return sequenceNumber;
  }

  @Override
  public void cancelScheduledMessage(long sequenceNumber) {
    client.cancelScheduledMessage(sequenceNumber).block(timeout);
  }

  @Override
  public void close() {
    client.close();
  }
}
