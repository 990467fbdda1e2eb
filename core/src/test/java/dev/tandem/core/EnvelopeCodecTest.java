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

  /**
   * The byte form the Kafka publisher writes (issue 20: no digest string, no re-encoding) is the
   * string form's UTF-8, header for header and in order: the wire format did not change, and the
   * string reader decodes it.
   */
  @Test
  void utf8FormIsTheStringFormsBytesSoOlderReadersDecodeIt() {
    java.util.SplittableRandom random = new java.util.SplittableRandom(20);
    for (int i = 0; i < 200; i++) {
      byte[] payload = new byte[random.nextInt(0, 300)];
      random.nextBytes(payload);
      String id = i % 3 == 0 ? TandemIds.newId() : "bestellung-ä€-" + i; // non-ASCII ids too
      Envelope plain = Envelope.forPayload(id, payload, random.nextInt(0, 1 << 20),
          random.nextLong(0, Long.MAX_VALUE));
      Envelope e = i % 2 == 0 ? plain : EnvelopeSigner.signingWith(KEY).sign(plain);
      java.util.List<String> names = new java.util.ArrayList<>();
      java.util.List<String> values = new java.util.ArrayList<>();
      EnvelopeCodec.write(e, (n, v) -> {
        names.add(n);
        values.add(v);
      });
      java.util.List<String> bytesNames = new java.util.ArrayList<>();
      Map<String, String> decoded = new HashMap<>();
      int[] at = {0};
      EnvelopeCodec.writeUtf8(e, (n, v) -> {
        bytesNames.add(n);
        assertEquals(java.util.HexFormat.of().formatHex(values.get(at[0]).getBytes(StandardCharsets.UTF_8)),
            java.util.HexFormat.of().formatHex(v), n);
        at[0]++;
        decoded.put(n, new String(v, StandardCharsets.UTF_8));
      });
      assertEquals(names, bytesNames);
      assertEquals(e, EnvelopeCodec.read(decoded::get));
      assertEquals(java.util.HexFormat.of().formatHex(e.digest().toBytes()), e.digest().toHex());
    }
  }

  /** The digits written straight into bytes are Long.toString's, at every length and edge, sign included. */
  @Test
  void decimalDigitsAreLongToStringsAscii() {
    long[] edges = {0, 1, 9, 10, 99, 100, Integer.MAX_VALUE, 1_700_000_000_000L, Long.MAX_VALUE - 1, Long.MAX_VALUE,
        -1, -9, -10, Integer.MIN_VALUE, Long.MIN_VALUE + 1, Long.MIN_VALUE};
    for (long n : edges) {
      assertEquals(Long.toString(n), new String(EnvelopeCodec.decimalAscii(n), StandardCharsets.US_ASCII));
    }
    for (long p = 1; p > 0 && p <= Long.MAX_VALUE / 10; p *= 10) {
      for (long n : new long[] {p - 1, p, p + 1, 10 * p - 1}) {
        assertEquals(Long.toString(n), new String(EnvelopeCodec.decimalAscii(n), StandardCharsets.US_ASCII));
        assertEquals(Long.toString(-n), new String(EnvelopeCodec.decimalAscii(-n), StandardCharsets.US_ASCII));
      }
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
