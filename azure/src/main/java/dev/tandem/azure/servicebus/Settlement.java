package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessageContext;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.models.DeadLetterOptions;

/** How a received message is settled: through a processor's context or a receiver client. */
interface Settlement {

  ServiceBusReceivedMessage message();

  /** The entity the message was received from ({@code topic/subscriptions/name} for a subscription). */
  String entityPath();

  void complete();

  void abandon();

  void deadLetter(String reason, String description);

  static Settlement of(ServiceBusReceivedMessageContext context) {
    return new Settlement() {
      @Override
      public ServiceBusReceivedMessage message() {
        return context.getMessage();
      }

      @Override
      public String entityPath() {
        return context.getEntityPath();
      }

      @Override
      public void complete() {
        context.complete();
      }

      @Override
      public void abandon() {
        context.abandon();
      }

      @Override
      public void deadLetter(String reason, String description) {
        context.deadLetter(options(reason, description));
      }
    };
  }

  static Settlement of(ServiceBusReceiverClient receiver, ServiceBusReceivedMessage message) {
    return new Settlement() {
      @Override
      public ServiceBusReceivedMessage message() {
        return message;
      }

      @Override
      public String entityPath() {
        return receiver.getEntityPath();
      }

      @Override
      public void complete() {
        receiver.complete(message);
      }

      @Override
      public void abandon() {
        receiver.abandon(message);
      }

      @Override
      public void deadLetter(String reason, String description) {
        receiver.deadLetter(message, options(reason, description));
      }
    };
  }

  private static DeadLetterOptions options(String reason, String description) {
    // Service Bus limits both to 4096 characters
    return new DeadLetterOptions()
        .setDeadLetterReason(reason)
        .setDeadLetterErrorDescription(description == null || description.length() <= 4096
            ? description : description.substring(0, 4096));
  }
}
