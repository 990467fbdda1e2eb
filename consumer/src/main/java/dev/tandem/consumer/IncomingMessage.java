package dev.tandem.consumer;

import java.util.Objects;
import java.util.function.Function;

/**
 * One received copy of a message, as any transport hands it to {@link OnceProcessor}: a header
 * getter (Kafka headers or Service Bus application properties, decoded to strings), the payload, the
 * shard it arrived on, the transport's delivery count, and the transport message itself (so a
 * transport's {@link DeadLetterSink} can copy it whole).
 */
public final class IncomingMessage {

  private final Function<String, String> headers;
  private final byte[] payload;
  private final int shard;
  private final int deliveryAttempt;
  private final Object transportMessage;

  private IncomingMessage(
      Function<String, String> headers, byte[] payload, int shard, int deliveryAttempt,
      Object transportMessage) {
    this.headers = Objects.requireNonNull(headers, "headers");
    this.payload = payload;
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    this.shard = shard;
    if (deliveryAttempt < 1) {
      throw new IllegalArgumentException("deliveryAttempt must be >= 1, got " + deliveryAttempt);
    }
    this.deliveryAttempt = deliveryAttempt;
    this.transportMessage = transportMessage;
  }

  /**
   * A received copy.
   *
   * @param headers header name to its value, null when absent
   * @param payload the payload bytes, not copied (null for a Kafka tombstone)
   * @param shard the shard (Kafka partition) it arrived on
   * @param deliveryAttempt the transport's delivery count, 1 when it keeps none
   * @param transportMessage the transport's message object, or null
   */
  public static IncomingMessage of(
      Function<String, String> headers, byte[] payload, int shard, int deliveryAttempt,
      Object transportMessage) {
    return new IncomingMessage(headers, payload, shard, deliveryAttempt, transportMessage);
  }

  /** The value of header {@code name}, or null. */
  public String header(String name) {
    return headers.apply(name);
  }

  Function<String, String> headers() {
    return headers;
  }

  /** The payload bytes (not copied). */
  public byte[] payload() {
    return payload;
  }

  public int shard() {
    return shard;
  }

  public int deliveryAttempt() {
    return deliveryAttempt;
  }

  /** The transport's message object (e.g. a Kafka {@code ConsumerRecord}), or null. */
  public Object transportMessage() {
    return transportMessage;
  }

  @Override
  public String toString() {
    return "IncomingMessage[shard=" + shard + ", id=" + headers.apply("tandem-id") + ", "
        + (payload == null ? "null" : payload.length + " bytes") + "]";
  }
}
