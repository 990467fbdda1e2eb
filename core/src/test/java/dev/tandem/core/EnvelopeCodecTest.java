package dev.tandem.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EnvelopeCodecTest {

  private static final SigningKey KEY = SigningKey.of("k1", new byte[32]);

  @Test
  void roundTripsUnsignedAndSignedEnvelopes() {
    Envelope plain = Envelope.forPayload("order-42", "hello".getBytes(StandardCharsets.UTF_8), 3, 1_700_000_000_000L);
    Envelope signed = EnvelopeSigner.signingWith(KEY).sign(plain);
    for (Envelope e : new Envelope[] {plain, signed}) {
      Map<String, String> headers = new HashMap<>();
      EnvelopeCodec.write(e, headers::put);
      assertEquals(e, EnvelopeCodec.read(headers::get));
    }
  }

  @Test
  void missingIdIsItsOwnReason() {
    EnvelopeException ex = assertThrows(EnvelopeException.class, () -> EnvelopeCodec.read(h -> null));
    assertEquals(EnvelopeException.Reason.MISSING_ID, ex.reason());
    assertFalse(EnvelopeCodec.hasId(h -> null));
  }

  @Test
  void malformedAndOversizedHeadersAreRefusedWithTheirHeaderName() {
    Map<String, String> good = new HashMap<>();
    EnvelopeCodec.write(Envelope.forPayload("x", new byte[0], 0, 1), good::put);

    assertReason(with(good, TandemHeaders.DIGEST, "zz"), EnvelopeException.Reason.MALFORMED_HEADER, TandemHeaders.DIGEST);
    assertReason(with(good, TandemHeaders.SHARD, "-1"), EnvelopeException.Reason.MALFORMED_HEADER, TandemHeaders.SHARD);
    assertReason(with(good, TandemHeaders.SHARD, "3000000000"), EnvelopeException.Reason.MALFORMED_HEADER, TandemHeaders.SHARD);
    assertReason(with(good, TandemHeaders.PUBLISHED_AT, "soon"), EnvelopeException.Reason.MALFORMED_HEADER, TandemHeaders.PUBLISHED_AT);
    assertReason(with(good, TandemHeaders.ID, "a".repeat(129)), EnvelopeException.Reason.OVERSIZED, TandemHeaders.ID);
    assertReason(with(good, TandemHeaders.SIG, "AAAA"), EnvelopeException.Reason.MALFORMED_HEADER, TandemHeaders.KEY_ID);
    assertReason(with(good, TandemHeaders.DIGEST, null), EnvelopeException.Reason.MISSING_HEADER, TandemHeaders.DIGEST);
    Map<String, String> badSig = with(with(good, TandemHeaders.KEY_ID, "k1"), TandemHeaders.SIG, "!!");
    assertReason(badSig, EnvelopeException.Reason.MALFORMED_HEADER, TandemHeaders.SIG);
  }

  @Test
  void idLimitIsTheServiceBusMessageIdLimit() {
    assertEquals("a".repeat(128), TandemIds.validate("a".repeat(128)));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TandemIds.validate("a".repeat(129)));
    assertTrue(e.getMessage().contains("128"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> TandemIds.validate("bad\nid"));
    assertThrows(IllegalArgumentException.class, () -> TandemIds.validate(""));
  }

  @Test
  void payloadDigestDetectsAChangedBody() {
    Envelope e = Envelope.forPayload("id", "body".getBytes(StandardCharsets.UTF_8), 0, 1);
    e.verifyPayload("body".getBytes(StandardCharsets.UTF_8));
    EnvelopeException ex = assertThrows(EnvelopeException.class, () -> e.verifyPayload("bodY".getBytes(StandardCharsets.UTF_8)));
    assertEquals(EnvelopeException.Reason.DIGEST_MISMATCH, ex.reason());
  }

  private static Map<String, String> with(Map<String, String> base, String k, String v) {
    Map<String, String> m = new HashMap<>(base);
    if (v == null) {
      m.remove(k);
    } else {
      m.put(k, v);
    }
    return m;
  }

  private static void assertReason(Map<String, String> headers, EnvelopeException.Reason reason, String header) {
    EnvelopeException ex = assertThrows(EnvelopeException.class, () -> EnvelopeCodec.read(headers::get));
    assertEquals(reason, ex.reason(), ex.getMessage());
    assertEquals(header, ex.header(), ex.getMessage());
  }
}
