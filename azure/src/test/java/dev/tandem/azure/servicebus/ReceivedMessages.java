package dev.tandem.azure.servicebus;

import com.azure.core.amqp.models.AmqpMessageId;
import com.azure.core.util.BinaryData;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import java.lang.reflect.Constructor;
import java.util.Map;

/**
 * Real {@link ServiceBusReceivedMessage}s for tests, as the SDK builds them from AMQP. The SDK's
 * constructor is package-private and its jar is signed (no class of ours may join its package), so
 * the constructor is called reflectively; everything else goes through the message's public AMQP
 * view.
 */
public final class ReceivedMessages {

  private ReceivedMessages() {}

  public static ServiceBusReceivedMessage of(byte[] body, String messageId, String sessionId,
      Map<String, Object> applicationProperties, long deliveryCount) {
    ServiceBusReceivedMessage m;
    try {
      Constructor<ServiceBusReceivedMessage> c =
          ServiceBusReceivedMessage.class.getDeclaredConstructor(BinaryData.class);
      c.setAccessible(true);
      m = c.newInstance(BinaryData.fromBytes(body));
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("the SDK's ServiceBusReceivedMessage(BinaryData) changed", e);
    }
    m.getRawAmqpMessage().getProperties().setMessageId(new AmqpMessageId(messageId));
    if (sessionId != null) {
      m.getRawAmqpMessage().getProperties().setGroupId(sessionId);
    }
    m.getRawAmqpMessage().getHeader().setDeliveryCount(deliveryCount);
    m.getApplicationProperties().putAll(applicationProperties);
    return m;
  }
}
