package dev.tandem.spring.kafka;

import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.StringDeserializer;

/** A value deserializer of the tests that cannot read values starting with {@code poison}. */
public final class PoisonDeserializer extends StringDeserializer {

  @Override
  public String deserialize(String topic, byte[] data) {
    String s = super.deserialize(topic, data);
    if (s != null && s.startsWith("poison")) {
      throw new SerializationException("unreadable order: " + s);
    }
    return s;
  }

  @Override
  public String deserialize(String topic, Headers headers, byte[] data) {
    return deserialize(topic, data);
  }
}
