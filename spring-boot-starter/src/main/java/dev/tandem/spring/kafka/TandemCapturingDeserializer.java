package dev.tandem.spring.kafka;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Wraps the application's key or value deserializer and keeps the serialized bytes in a transient
 * record header, because Tandem's envelope digest is over the bytes as published (and a dead letter
 * copies them): the listener wrapper reads and removes the header before the listener sees the
 * record. Installed by {@link TandemListenerContainers#apply} on the container factory's {@code
 * DefaultKafkaConsumerFactory}; not for direct use.
 */
public final class TandemCapturingDeserializer<T> implements Deserializer<T> {

  /** Transient header holding the serialized value (removed before the listener runs). */
  public static final String RAW_VALUE_HEADER = "tandem-spring-raw-value";
  /** Transient header holding the serialized key. */
  public static final String RAW_KEY_HEADER = "tandem-spring-raw-key";
  /**
   * Transient header set when the wrapped deserializer threw (its value: what failed and why); the
   * record then carries a null key or value, and the listener wrapper runs it as a handler failure
   * instead of calling the listener: retried, then dead-lettered after {@code tandem.store.max.attempts},
   * as {@code TandemKafkaConsumer} does (it deserializes inside the handler). Removed before any
   * listener sees the record.
   */
  public static final String FAILED_HEADER = "tandem-spring-deserialization-failed";
  /** Consumer property naming the wrapped value deserializer when it is configured by class. */
  public static final String DELEGATE_VALUE_CONFIG = "tandem.spring.delegate.value.deserializer";
  /** Consumer property naming the wrapped key deserializer when it is configured by class. */
  public static final String DELEGATE_KEY_CONFIG = "tandem.spring.delegate.key.deserializer";

  private Deserializer<T> delegate;
  private String header;

  /** For Kafka's configuration by class: the delegate comes from {@link #DELEGATE_VALUE_CONFIG}. */
  public TandemCapturingDeserializer() {
  }

  /** Wraps a deserializer instance ({@code isKey}: whether it deserializes keys). */
  public TandemCapturingDeserializer(Deserializer<T> delegate, boolean isKey) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
    this.header = isKey ? RAW_KEY_HEADER : RAW_VALUE_HEADER;
  }

  Deserializer<T> delegate() {
    return delegate;
  }

  @Override
  @SuppressWarnings("unchecked")
  public void configure(Map<String, ?> configs, boolean isKey) {
    header = isKey ? RAW_KEY_HEADER : RAW_VALUE_HEADER;
    if (delegate == null) {
      Object d = configs.get(isKey ? DELEGATE_KEY_CONFIG : DELEGATE_VALUE_CONFIG);
      if (d == null) {
        throw new KafkaException("TandemCapturingDeserializer needs "
            + (isKey ? DELEGATE_KEY_CONFIG : DELEGATE_VALUE_CONFIG));
      }
      try {
        Class<?> c = d instanceof Class<?> k ? k : Class.forName(d.toString().trim(), true,
            Utils.getContextOrKafkaClassLoader());
        delegate = (Deserializer<T>) Utils.newInstance(c);
      } catch (ClassNotFoundException e) {
        throw new KafkaException("deserializer class " + d + " not found", e);
      }
    }
    delegate.configure(new HashMap<>(configs), isKey);
  }

  @Override
  public T deserialize(String topic, byte[] data) {
    return delegate.deserialize(topic, data);
  }

  @Override
  public T deserialize(String topic, Headers headers, byte[] data) {
    headers.remove(header);
    headers.add(header, data);
    try {
      return delegate.deserialize(topic, headers, data);
    } catch (RuntimeException e) {
      // not thrown: Kafka would fail the poll at this record and the partition would stop for good
      String what = (header.equals(RAW_KEY_HEADER) ? "key" : "value") + " of " + topic + ": " + e;
      headers.add(FAILED_HEADER, what.getBytes(StandardCharsets.UTF_8));
      return null;
    }
  }

  @Override
  public void close() {
    delegate.close();
  }
}
