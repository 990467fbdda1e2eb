package dev.tandem.publisher;

import java.util.Arrays;
import java.util.Objects;

/**
 * One transport header of an {@link OutboundMessage} besides the Tandem envelope: a name and raw bytes
 * (Kafka header; a Service Bus sink maps it to an application property). Names starting with
 * {@code tandem-} are reserved for the envelope.
 */
public record MessageHeader(String name, byte[] value) {

  public MessageHeader {
    Objects.requireNonNull(name, "name");
    value = value == null ? null : value.clone();
  }

  /** A copy of the value bytes (null for a header without a value). */
  @Override
  public byte[] value() {
    return value == null ? null : value.clone();
  }

  byte[] valueUnsafe() {
    return value;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof MessageHeader h && name.equals(h.name) && Arrays.equals(value, h.value);
  }

  @Override
  public int hashCode() {
    return name.hashCode() * 31 + Arrays.hashCode(value);
  }

  @Override
  public String toString() {
    return "MessageHeader[" + name + ", " + (value == null ? "null" : value.length + " bytes") + "]";
  }
}
