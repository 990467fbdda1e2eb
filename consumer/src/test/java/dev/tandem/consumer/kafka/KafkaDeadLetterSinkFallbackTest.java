package dev.tandem.consumer.kafka;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.tandem.consumer.DeadLetter;
import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.core.TandemHeaders;
import dev.tandem.testkit.TestRegions;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * A dead letter that did not come from a Kafka record (a Service Bus or HTTP trigger of a function
 * app) goes to the fallback topic carrying its Tandem envelope: an operator reading the topic finds
 * it by its id (the Service Bus {@code MessageId} of a message sent by TandemServiceBusSender), and
 * the record keeps what a re-publish needs.
 */
class KafkaDeadLetterSinkFallbackTest {

  @Test
  void aNonKafkaDeadLetterKeepsItsEnvelopeHeadersAndIsKeyedByItsId() throws Exception {
    MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null,
        new ByteArraySerializer(), new ByteArraySerializer());
    KafkaDeadLetterSink sink = KafkaDeadLetterSink.create(producer, TestRegions.A,
        "orders.tandem-dlq");
    Map<String, String> envelope = Map.of(TandemHeaders.ID, "order-42",
        TandemHeaders.DIGEST, "sha256:abc", TandemHeaders.SHARD, "3",
        TandemHeaders.PUBLISHED_AT, "1764900000000", "app-header", "not copied");
    byte[] body = "{\"order\":42}".getBytes(StandardCharsets.UTF_8);
    IncomingMessage m = IncomingMessage.of(envelope::get, body, 3, 2, new Object());

    sink.send(new DeadLetter("order-42", DeadLetterReason.DIGEST_MISMATCH, "digest differs", m))
        .get();

    ProducerRecord<byte[], byte[]> r = producer.history().get(0);
    assertEquals("orders.tandem-dlq", r.topic());
    assertArrayEquals("order-42".getBytes(StandardCharsets.UTF_8), r.key(),
        "keyed by the Tandem id: print.key shows it");
    assertArrayEquals(body, r.value());
    for (String h : new String[] {TandemHeaders.ID, TandemHeaders.DIGEST, TandemHeaders.SHARD,
        TandemHeaders.PUBLISHED_AT}) {
      assertEquals(envelope.get(h), header(r, h), "envelope header " + h + " kept");
    }
    assertNull(header(r, TandemHeaders.SIG), "an absent envelope header stays absent");
    assertNull(header(r, "app-header"), "only the envelope: other properties are the app's");
    assertEquals("DIGEST_MISMATCH", header(r, KafkaDeadLetterSink.REASON_HEADER));
    assertEquals("digest differs", header(r, KafkaDeadLetterSink.DETAIL_HEADER));
    assertEquals("region-a", header(r, KafkaDeadLetterSink.REGION_HEADER));
    assertEquals("shard 3", header(r, KafkaDeadLetterSink.SOURCE_HEADER));
  }

  private static String header(ProducerRecord<byte[], byte[]> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }
}
