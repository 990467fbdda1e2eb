package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.SigningKey;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The spool's record format: exact round trip (signature included) and detection of damage. */
class SpoolRecordCodecTest {

  private static final EnvelopeSigner SIGNER =
      EnvelopeSigner.signingWith(SigningKey.of("k1", "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII)));

  private static OutboundMessage sample() {
    OutboundMessage m = OutboundMessage.builder("orders", 3)
        .id("order-17")
        .key("customer-9".getBytes(StandardCharsets.UTF_8))
        .value("{\"total\":12}".getBytes(StandardCharsets.UTF_8))
        .timestamp(1_700_000_000_123L)
        .header("trace", "abc".getBytes(StandardCharsets.UTF_8))
        .header("empty", null)
        .attribute("sb.session-id", "s-1")
        .build();
    return m.withEnvelope(SIGNER.sign(m.envelope()));
  }

  @Test
  void roundTripKeepsEveryFieldAndTheSignature() {
    OutboundMessage m = sample();
    OutboundMessage back = SpoolRecordCodec.decode(SpoolRecordCodec.encode(m));
    assertEquals(m, back);
    assertEquals(EnvelopeSigner.Verification.VALID, SIGNER.verify(back.envelope()));
    assertArrayEquals(m.key(), back.key());
    assertEquals("s-1", back.attributes().get("sb.session-id"));
    assertEquals(null, back.headers().get(1).value());
  }

  @Test
  void tombstoneAndNullKeyRoundTrip() {
    OutboundMessage m = OutboundMessage.builder("t", 0).build();
    OutboundMessage back = SpoolRecordCodec.decode(SpoolRecordCodec.encode(m));
    assertEquals(m, back);
    assertEquals(null, back.value());
    assertEquals(null, back.key());
  }

  @Test
  void aFlippedValueByteIsDetectedByTheDigest() {
    byte[] bytes = SpoolRecordCodec.encode(sample());
    String text = new String(bytes, StandardCharsets.ISO_8859_1);
    int at = text.indexOf("{\"total\":12}") + 9;
    bytes[at] ^= 1;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SpoolRecordCodec.decode(bytes));
    assertTrue(e.getMessage().contains("corrupt"), e.getMessage());
  }

  @Test
  void truncatedAndUnknownVersionRecordsAreRefused() {
    byte[] bytes = SpoolRecordCodec.encode(sample());
    assertThrows(IllegalArgumentException.class,
        () -> SpoolRecordCodec.decode(Arrays.copyOf(bytes, bytes.length - 5)));
    byte[] other = bytes.clone();
    other[0] = 9;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SpoolRecordCodec.decode(other));
    assertTrue(e.getMessage().contains("version"), e.getMessage());
  }

  @Test
  void envelopeHeadersAreReservedAndTheEnvelopeMustMatchTheMessage() {
    assertThrows(IllegalArgumentException.class,
        () -> OutboundMessage.builder("t", 0).header("tandem-id", new byte[1]));
    OutboundMessage m = sample();
    assertThrows(IllegalArgumentException.class,
        () -> OutboundMessage.builder("t", 1).value(m.value()).envelope(m.envelope()).build());
    assertThrows(dev.tandem.core.EnvelopeException.class,
        () -> OutboundMessage.builder("t", 3).value(new byte[] {1}).envelope(m.envelope()).build());
    assertThrows(IllegalArgumentException.class,
        () -> OutboundMessage.builder("t", 0).id("x".repeat(129)));
  }
}
