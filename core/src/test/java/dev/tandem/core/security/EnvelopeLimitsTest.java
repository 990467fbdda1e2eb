package dev.tandem.core.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.EnvelopeException;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Every envelope limit gives a clear error naming the header and the limit: ids over 128 characters,
 * any header value over 256 characters (refused before it is parsed, never truncated), key ids over
 * 64 characters, secrets under 32 bytes.
 */
class EnvelopeLimitsTest {

  static Map<String, String> signedHeaders() {
    Envelope e = EnvelopeSigner.signingWith(SigningKey.of("k1", new byte[32]))
        .sign(Envelope.forPayload(TandemIds.newId(), new byte[] {1}, 0, 1L));
    Map<String, String> h = new HashMap<>();
    EnvelopeCodec.write(e, h::put);
    return h;
  }

  @Test
  void theIdLimitIsExactly128Characters() {
    Map<String, String> h = signedHeaders();
    h.put(TandemHeaders.ID, "i".repeat(TandemHeaders.MAX_ID_LENGTH));
    assertEquals(TandemHeaders.MAX_ID_LENGTH, EnvelopeCodec.read(h::get).id().length());
    h.put(TandemHeaders.ID, "i".repeat(TandemHeaders.MAX_ID_LENGTH + 1));
    EnvelopeException e = assertThrows(EnvelopeException.class, () -> EnvelopeCodec.read(h::get));
    assertEquals(EnvelopeException.Reason.OVERSIZED, e.reason());
    assertEquals(TandemHeaders.ID, e.header());
    assertTrue(e.getMessage().contains("129") && e.getMessage().contains("128"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {TandemHeaders.DIGEST, TandemHeaders.SHARD, TandemHeaders.PUBLISHED_AT,
      TandemHeaders.KEY_ID, TandemHeaders.SIG})
  void anOversizedHeaderIsRefusedBeforeParsing(String header) {
    Map<String, String> h = signedHeaders();
    h.put(header, "7".repeat(1_000_000)); // a megabyte: must not be parsed or copied into errors
    EnvelopeException e = assertThrows(EnvelopeException.class, () -> EnvelopeCodec.read(h::get));
    assertEquals(EnvelopeException.Reason.OVERSIZED, e.reason());
    assertEquals(header, e.header());
    assertTrue(e.getMessage().contains(String.valueOf(TandemHeaders.MAX_HEADER_VALUE_LENGTH)),
        e.getMessage());
    assertTrue(e.getMessage().length() < 200, "the value is not echoed: " + e.getMessage().length());
  }

  @Test
  void keyIdsAndSecretsHaveLimits() {
    IllegalArgumentException longId = assertThrows(IllegalArgumentException.class,
        () -> SigningKey.of("k".repeat(TandemHeaders.MAX_KEY_ID_LENGTH + 1), new byte[32]));
    assertTrue(longId.getMessage().contains(String.valueOf(TandemHeaders.MAX_KEY_ID_LENGTH)),
        longId.getMessage());
    IllegalArgumentException weak = assertThrows(IllegalArgumentException.class,
        () -> SigningKey.of("k1", new byte[SigningKey.MIN_SECRET_LENGTH - 1]));
    assertTrue(weak.getMessage().contains("at least " + SigningKey.MIN_SECRET_LENGTH), weak.getMessage());
  }
}
