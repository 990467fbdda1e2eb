package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemHeaders;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.Test;

/**
 * Issue 20: a message built {@link OutboundMessage.Builder#withoutEnvelopeHeaders() without envelope
 * headers} (Tandem's changelog: its reader looks at headers only to authenticate) goes to Kafka with
 * its own headers only — unless its envelope is signed, whose signature the reader checks. The default
 * is unchanged: every other message carries the four envelope headers.
 */
class EnvelopeHeadersOptOutTest {

  private static final EnvelopeSigner SIGNER = EnvelopeSigner.signingWith(
      SigningKey.of("k1", "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII)));

  private static List<String> names(ProducerRecord<byte[], byte[]> r) {
    List<String> out = new ArrayList<>();
    for (Header h : r.headers()) {
      out.add(h.key());
    }
    return out;
  }

  private static OutboundMessage.Builder message() {
    return OutboundMessage.builder("t", 1).key(new byte[] {1}).value(new byte[] {2, 3});
  }

  @Test
  void byDefaultACopyCarriesTheFourEnvelopeHeaders() {
    OutboundMessage m = message().build();
    assertTrue(m.envelopeHeaders());
    assertEquals(List.of(TandemHeaders.ID, TandemHeaders.DIGEST, TandemHeaders.SHARD,
        TandemHeaders.PUBLISHED_AT), names(KafkaRegionalSink.recordOf(m)));
  }

  @Test
  void withoutEnvelopeHeadersACopyCarriesOnlyItsOwnHeaders() {
    OutboundMessage bare = message().withoutEnvelopeHeaders().build();
    assertFalse(bare.envelopeHeaders());
    assertEquals(List.of(), names(KafkaRegionalSink.recordOf(bare)));
    // each copy still gets its own RecordHeaders (a producer marks them read-only)
    assertTrue(KafkaRegionalSink.recordOf(bare).headers()
        != KafkaRegionalSink.recordOf(bare).headers());
    OutboundMessage own = message().header("trace", new byte[] {9}).withoutEnvelopeHeaders().build();
    assertEquals(List.of("trace"), names(KafkaRegionalSink.recordOf(own)));
    // the envelope is still there for the spool and the results
    assertEquals(bare.envelope().digest(), dev.tandem.core.PayloadDigest.of(new byte[] {2, 3}));
  }

  @Test
  void aSignedEnvelopeIsWrittenEvenWithoutEnvelopeHeaders() {
    OutboundMessage bare = message().withoutEnvelopeHeaders().build();
    OutboundMessage signed = bare.withEnvelope(SIGNER.sign(bare.envelope()));
    assertFalse(signed.envelopeHeaders());
    List<String> names = names(KafkaRegionalSink.recordOf(signed));
    assertEquals(6, names.size(), names.toString());
    assertTrue(names.contains(TandemHeaders.ID) && names.contains(TandemHeaders.DIGEST), names.toString());
  }
}
