package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.azure.messaging.servicebus.models.CreateMessageBatchOptions;
import java.time.OffsetDateTime;
import java.util.Objects;

/** A {@link NamespaceSender} over an application's existing {@link ServiceBusSenderClient}. */
final class SyncNamespaceSender implements NamespaceSender {

  private final ServiceBusSenderClient client;

  SyncNamespaceSender(ServiceBusSenderClient client) {
    this.client = Objects.requireNonNull(client, "client");
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
    return client.createMessageBatch();
  }

  @Override
  public ServiceBusMessageBatch createMessageBatch(CreateMessageBatchOptions options) {
    return client.createMessageBatch(options);
  }

  @Override
  public void sendMessages(ServiceBusMessageBatch batch) {
    client.sendMessages(batch);
  }

  @Override
  public long scheduleMessage(ServiceBusMessage message, OffsetDateTime enqueueAt) {
    return client.scheduleMessage(message, enqueueAt);
  }

  @Override
  public void cancelScheduledMessage(long sequenceNumber) {
    client.cancelScheduledMessage(sequenceNumber);
  }

  @Override
  public void close() {
    client.close();
  }
}
