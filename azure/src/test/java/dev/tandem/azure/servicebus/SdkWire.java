package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.util.Date;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import org.apache.qpid.proton.Proton;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.MessageAnnotations;
import org.apache.qpid.proton.message.Message;

/**
 * A message's way over the wire, through the SDK's own code: the SDK's package-private {@code
 * ServiceBusMessageSerializer} turns a {@link ServiceBusMessage} into its AMQP message (application
 * properties encoded as the SDK encodes them: a type it cannot encode fails here, as on a real
 * send), which is encoded to bytes as it would travel; a delivery decodes those bytes, adds what the
 * broker stamps (sequence number, enqueued time, locked-until, the delivery count) and has the same serializer build the {@link
 * ServiceBusReceivedMessage}. The serializer is called reflectively (its jar is signed, no class of
 * ours may join its package).
 */
final class SdkWire {

  private static final Object SERIALIZER;
  private static final Method SERIALIZE;
  private static final Method DESERIALIZE;

  static {
    try {
      Class<?> c = Class.forName("com.azure.messaging.servicebus.ServiceBusMessageSerializer");
      Constructor<?> k = c.getDeclaredConstructor();
      k.setAccessible(true);
      SERIALIZER = k.newInstance();
      SERIALIZE = c.getMethod("serialize", Object.class);
      SERIALIZE.setAccessible(true);
      DESERIALIZE = c.getMethod("deserialize", Message.class, Class.class);
      DESERIALIZE.setAccessible(true);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private SdkWire() {}

  /** The message as it travels: the SDK's AMQP encoding, as bytes. */
  static byte[] encode(ServiceBusMessage message) {
    Message amqp;
    try {
      amqp = (Message) SERIALIZE.invoke(SERIALIZER, message);
    } catch (java.lang.reflect.InvocationTargetException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r; // e.g. "No encoding is known for ..." for a property type the SDK cannot send
      }
      throw new IllegalStateException(e.getCause());
    } catch (IllegalAccessException e) {
      throw new IllegalStateException(e);
    }
    byte[] buffer = new byte[64 * 1024];
    while (true) {
      try {
        int n = amqp.encode(buffer, 0, buffer.length);
        return java.util.Arrays.copyOf(buffer, n);
      } catch (java.nio.BufferOverflowException e) {
        buffer = new byte[buffer.length * 4];
      }
    }
  }

  /** The application properties the service sees (for rule filters), decoded from the wire. */
  static Map<String, Object> applicationProperties(byte[] wire) {
    Message amqp = Proton.message();
    amqp.decode(wire, 0, wire.length);
    Map<String, Object> out = new HashMap<>();
    if (amqp.getApplicationProperties() != null) {
      amqp.getApplicationProperties().getValue().forEach((k, v) -> out.put(String.valueOf(k), v));
    }
    return out;
  }

  /** The time-to-live on the wire, in milliseconds; 0 when the message has none (AMQP: absent). */
  static long ttlMillis(byte[] wire) {
    Message amqp = Proton.message();
    amqp.decode(wire, 0, wire.length);
    return amqp.getTtl();
  }

  /**
   * A peeked message as the SDK builds it: with its sequence number, enqueue time and state
   * ({@code x-opt-message-state}: 0 active, 2 scheduled), no lock.
   */
  static ServiceBusReceivedMessage peeked(byte[] wire, long sequenceNumber, long enqueuedAtMillis,
      boolean scheduled) {
    Message amqp = Proton.message();
    amqp.decode(wire, 0, wire.length);
    if (amqp.getHeader() == null) {
      amqp.setHeader(new org.apache.qpid.proton.amqp.messaging.Header()); // the broker sends one
    }
    Map<Symbol, Object> annotations = new HashMap<>();
    if (amqp.getMessageAnnotations() != null) {
      annotations.putAll(amqp.getMessageAnnotations().getValue());
    }
    annotations.put(Symbol.valueOf("x-opt-sequence-number"), sequenceNumber);
    annotations.put(Symbol.valueOf("x-opt-enqueued-time"), new Date(enqueuedAtMillis));
    annotations.put(Symbol.valueOf("x-opt-message-state"), scheduled ? 2 : 0);
    amqp.setMessageAnnotations(new MessageAnnotations(annotations));
    try {
      return (ServiceBusReceivedMessage) DESERIALIZE.invoke(SERIALIZER, amqp,
          ServiceBusReceivedMessage.class);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A delivery of the message as the SDK builds it from what the broker sends. */
  static ServiceBusReceivedMessage receive(byte[] wire, long sequenceNumber, long enqueuedAtMillis,
      int deliveryCount, UUID lockToken, long lockedUntilMillis) {
    Message amqp = Proton.message();
    amqp.decode(wire, 0, wire.length);
    if (amqp.getHeader() == null) {
      amqp.setHeader(new org.apache.qpid.proton.amqp.messaging.Header()); // the broker sends one
    }
    // The SDK (7.17.10) hands the AMQP header's delivery-count through unchanged as
    // getDeliveryCount(); the fake puts the documented DeliveryCount (1 on the first delivery) there
    amqp.getHeader().setDeliveryCount(org.apache.qpid.proton.amqp.UnsignedInteger.valueOf(
        deliveryCount));
    Map<Symbol, Object> annotations = new HashMap<>();
    if (amqp.getMessageAnnotations() != null) {
      annotations.putAll(amqp.getMessageAnnotations().getValue());
    }
    annotations.put(Symbol.valueOf("x-opt-sequence-number"), sequenceNumber);
    annotations.put(Symbol.valueOf("x-opt-enqueued-time"), new Date(enqueuedAtMillis));
    annotations.put(Symbol.valueOf("x-opt-locked-until"), new Date(lockedUntilMillis));
    amqp.setMessageAnnotations(new MessageAnnotations(annotations));
    ServiceBusReceivedMessage m;
    try {
      m = (ServiceBusReceivedMessage) DESERIALIZE.invoke(SERIALIZER, amqp,
          ServiceBusReceivedMessage.class);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
    return m;
  }
}
