package dev.tandem.spring.kafka;

import dev.tandem.consumer.IncomingMessage;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * A listener container's record as {@link TandemListenerSupport} hands it to the processor: the
 * serialized bytes {@link TandemCapturingDeserializer} kept (the message digest is over them), the
 * headers, and the capturing deserializer's failure note. Moved out of {@code TandemListenerSupport}
 * unchanged (one concept per class).
 */
final class ListenerRecords {

  private ListenerRecords() {}


  /**
   * The copy as the processor sees it: headers as strings, the serialized value (kept by {@link
   * TandemCapturingDeserializer}), and a bytes copy of the record for the dead-letter sink. The
   * transient headers stay on {@code record} (a held record is delivered again from the
   * container's memory, not fetched again): {@link #strip} removes them right before the listener
   * runs, {@link #restore} puts the raw bytes back when the record is to be delivered again.
   */
  static IncomingMessage toMessage(ConsumerRecord<?, ?> record) {
    Headers hs = record.headers();
    byte[] value = take(hs, TandemCapturingDeserializer.RAW_VALUE_HEADER, record.value());
    byte[] key = take(hs, TandemCapturingDeserializer.RAW_KEY_HEADER, record.key());
    RecordHeaders copy = new RecordHeaders();
    for (Header h : hs) {
      if (transientHeader(h.key())) {
        continue; // not part of the copy as published
      }
      copy.add(h.key(), h.value());
    }
    ConsumerRecord<byte[], byte[]> raw = new ConsumerRecord<>(record.topic(), record.partition(),
        record.offset(), record.timestamp(), record.timestampType(), record.serializedKeySize(),
        record.serializedValueSize(), key, value, copy, record.leaderEpoch());
    return IncomingMessage.of(name -> {
      Header h = raw.headers().lastHeader(name);
      return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }, value, record.partition(), 1, raw);
  }

  private static boolean transientHeader(String key) {
    return key.equals(TandemCapturingDeserializer.RAW_VALUE_HEADER)
        || key.equals(TandemCapturingDeserializer.RAW_KEY_HEADER)
        || key.equals(TandemCapturingDeserializer.FAILED_HEADER);
  }

  /** Removes the transient headers from {@code record}, right before the listener sees it. */
  static void strip(ConsumerRecord<?, ?> record) {
    record.headers().remove(TandemCapturingDeserializer.RAW_VALUE_HEADER);
    record.headers().remove(TandemCapturingDeserializer.RAW_KEY_HEADER);
    record.headers().remove(TandemCapturingDeserializer.FAILED_HEADER);
  }

  /**
   * Puts the raw bytes of {@code m} back on {@code record} when the listener ran ({@link #strip})
   * and the record is to be delivered again: the container re-delivers it from memory (the error
   * handler does not seek), and the digest is over those bytes.
   */
  static void restore(ConsumerRecord<?, ?> record, IncomingMessage m) {
    if (!(m.transportMessage() instanceof ConsumerRecord<?, ?> raw)) {
      return;
    }
    Headers hs = record.headers();
    if (raw.value() instanceof byte[] v
        && hs.lastHeader(TandemCapturingDeserializer.RAW_VALUE_HEADER) == null) {
      hs.add(TandemCapturingDeserializer.RAW_VALUE_HEADER, v);
    }
    if (raw.key() instanceof byte[] k
        && hs.lastHeader(TandemCapturingDeserializer.RAW_KEY_HEADER) == null) {
      hs.add(TandemCapturingDeserializer.RAW_KEY_HEADER, k);
    }
  }

  /**
   * The capturing deserializer's failure note; null when none. It stays on the record (a record
   * delivered again is judged again): the listener never sees such a record.
   */
  static String deserializationFailure(ConsumerRecord<?, ?> record) {
    String failed = null;
    for (Header h : record.headers().headers(TandemCapturingDeserializer.FAILED_HEADER)) {
      String what = new String(h.value(), StandardCharsets.UTF_8);
      failed = failed == null ? what : failed + "; " + what;
    }
    return failed;
  }

  private static byte[] take(Headers hs, String name, Object deserialized) {
    Header h = hs.lastHeader(name);
    if (h != null) {
      return h.value();
    }
    if (deserialized == null || deserialized instanceof byte[]) {
      return (byte[]) deserialized; // a bytes listener, or a tombstone
    }
    throw new IllegalStateException("the serialized bytes of " + deserialized.getClass().getName()
        + " were not kept: the consumer factory's deserializers must be wrapped by "
        + "TandemListenerContainers.apply (a DefaultKafkaConsumerFactory)");
  }
}
