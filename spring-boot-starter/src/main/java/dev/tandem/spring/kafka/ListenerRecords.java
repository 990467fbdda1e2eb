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
   * transient raw-bytes headers are removed from {@code record} here, before the listener sees it.
   */
  static IncomingMessage toMessage(ConsumerRecord<?, ?> record) {
    Headers hs = record.headers();
    byte[] value = take(hs, TandemCapturingDeserializer.RAW_VALUE_HEADER, record.value());
    byte[] key = take(hs, TandemCapturingDeserializer.RAW_KEY_HEADER, record.key());
    RecordHeaders copy = new RecordHeaders();
    for (Header h : hs) {
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

  /** The capturing deserializer's failure note, removed from the record; null when none. */
  static String deserializationFailure(ConsumerRecord<?, ?> record) {
    String failed = null;
    for (Header h : record.headers().headers(TandemCapturingDeserializer.FAILED_HEADER)) {
      String what = new String(h.value(), StandardCharsets.UTF_8);
      failed = failed == null ? what : failed + "; " + what;
    }
    if (failed != null) {
      record.headers().remove(TandemCapturingDeserializer.FAILED_HEADER);
    }
    return failed;
  }

  private static byte[] take(Headers hs, String name, Object deserialized) {
    Header h = hs.lastHeader(name);
    if (h != null) {
      hs.remove(name);
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
