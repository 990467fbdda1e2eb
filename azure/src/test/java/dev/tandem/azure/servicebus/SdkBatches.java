package dev.tandem.azure.servicebus;

import com.azure.core.amqp.exception.AmqpErrorContext;
import com.azure.core.amqp.implementation.ErrorContextProvider;
import com.azure.core.amqp.implementation.MessageSerializer;
import com.azure.core.util.tracing.Tracer;
import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.util.List;
import org.apache.qpid.proton.message.Message;

/**
 * The SDK's own {@link ServiceBusMessageBatch}, as {@code ServiceBusSenderAsyncClient.createMessageBatch}
 * builds it once the send link is open: the SDK's {@code ServiceBusMessageSerializer} turns each added
 * message into its AMQP form and proton-j encodes it, so {@code tryAddMessage} refuses exactly what the
 * SDK cannot encode (e.g. an {@code Instant} application property: "No encoding is known for map entry
 * value of type") and measures the encoded size against {@code maxSizeInBytes} (the link's maximum
 * message size, or the smaller size asked for with {@code CreateMessageBatchOptions}). The constructor
 * and the serializer are package-private and the SDK jar is signed, so both are reached reflectively.
 */
final class SdkBatches {

  private static final Constructor<ServiceBusMessageBatch> BATCH;
  private static final Method MESSAGES;
  private static final Object SERIALIZER;
  private static final Object TRACER;

  static {
    try {
      Class<?> serializer = Class.forName("com.azure.messaging.servicebus.ServiceBusMessageSerializer");
      Constructor<?> sc = serializer.getDeclaredConstructor();
      sc.setAccessible(true);
      SERIALIZER = sc.newInstance();
      Class<?> tracer = Class.forName(
          "com.azure.messaging.servicebus.implementation.instrumentation.ServiceBusTracer");
      TRACER = tracer.getConstructor(Tracer.class, String.class, String.class)
          .newInstance(null, "fake.servicebus.windows.net", "entity");
      BATCH = ServiceBusMessageBatch.class.getDeclaredConstructor(boolean.class, int.class,
          ErrorContextProvider.class, tracer, MessageSerializer.class);
      BATCH.setAccessible(true);
      MESSAGES = ServiceBusMessageBatch.class.getDeclaredMethod("getMessages");
      MESSAGES.setAccessible(true);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private SdkBatches() {}

  /** A new, empty SDK batch of at most {@code maxSizeInBytes} encoded bytes. */
  static ServiceBusMessageBatch create(int maxSizeInBytes) {
    try {
      ErrorContextProvider context = () -> new AmqpErrorContext("fake.servicebus.windows.net");
      return BATCH.newInstance(false, maxSizeInBytes, context, TRACER, SERIALIZER);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("the SDK's ServiceBusMessageBatch constructor changed", e);
    }
  }

  /**
   * What a receiver gets for {@code sent}: the SDK serializes it to AMQP (turning OffsetDateTime,
   * Duration and URI application properties into its described types, in place) and the receiving
   * SDK deserializes it back.
   */
  static ServiceBusReceivedMessage received(ServiceBusMessage sent) {
    MessageSerializer serializer = (MessageSerializer) SERIALIZER;
    Message amqp = serializer.serialize(sent);
    if (amqp.getHeader() == null) {
      amqp.setHeader(new org.apache.qpid.proton.amqp.messaging.Header()); // the broker adds one
    }
    return serializer.deserialize(amqp, ServiceBusReceivedMessage.class);
  }

  /** The messages of an SDK batch, in the order added. */
  @SuppressWarnings("unchecked")
  static List<ServiceBusMessage> messages(ServiceBusMessageBatch batch) {
    try {
      return List.copyOf((List<ServiceBusMessage>) MESSAGES.invoke(batch));
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("the SDK's ServiceBusMessageBatch.getMessages changed", e);
    }
  }
}
