package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.IncomingMessage;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/** A Kafka record seen as the processor's {@link IncomingMessage} (headers as UTF-8 strings). */
public final class RecordMessages {

  private RecordMessages() {}

  /** {@code r} as a message of shard {@code r.partition()}, delivery 1, transport message {@code r}. */
  public static IncomingMessage of(ConsumerRecord<byte[], byte[]> r) {
    return IncomingMessage.of(name -> {
      Header h = r.headers().lastHeader(name);
      return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }, r.value(), r.partition(), 1, r);
  }
}
