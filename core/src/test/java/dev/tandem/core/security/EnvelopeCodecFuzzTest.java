package dev.tandem.core.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.EnvelopeException;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Coverage-guided fuzzing of {@link EnvelopeCodec#read} over arbitrary header maps (Jazzer).
 *
 * <p>In a plain {@code mvn test} this runs in regression mode: only the seeds under {@code
 * src/test/resources/dev/tandem/core/security/EnvelopeCodecFuzzTestInputs/} (plus the empty input),
 * in milliseconds. A bounded fuzzing run: {@code JAZZER_FUZZ=1 mvn -pl core test -Djazzer.hooks=true
 * -Dtest=EnvelopeCodecFuzzTest} (stops at {@code maxDuration}; findings are written next to the seeds
 * and then replay in every regression run).
 *
 * <p>Input layout (so that seeds are readable and mutations stay structural): a sequence of {@code
 * u8 selector, u8 or u16 length, bytes}: the low 3 bits of the selector pick the header name (six
 * Tandem headers and one foreign name), bit 7 selects a 16-bit length (oversized values), the bytes
 * are decoded as UTF-8 (malformed sequences become U+FFFD, as a transport would hand them over).
 *
 * <p>Oracle: {@code read} returns an envelope or throws {@link EnvelopeException}, nothing else; an
 * accepted envelope respects the limits, re-encodes to headers that decode to the same envelope
 * (stable), and never verifies under a key the input could not know (no wrong accept).
 */
class EnvelopeCodecFuzzTest {

  static final String[] NAMES = {
    TandemHeaders.ID, TandemHeaders.DIGEST, TandemHeaders.SHARD, TandemHeaders.PUBLISHED_AT,
    TandemHeaders.KEY_ID, TandemHeaders.SIG, "x-foreign", TandemHeaders.ID
  };

  /** A key no fuzz input contains: nothing the fuzzer builds may verify under it. */
  static final EnvelopeSigner SECRET_VERIFIER =
      EnvelopeSigner.verifyingWith(List.of(SigningKey.of("k1", secret())));

  @FuzzTest(maxDuration = "10s")
  void readAcceptsOnlyWellFormedEnvelopesAndIsStable(byte[] input) {
    Map<String, String> headers = headers(input);
    Envelope e;
    try {
      e = EnvelopeCodec.read(headers::get);
    } catch (EnvelopeException expected) {
      assertNotNull(expected.reason());
      assertNotNull(expected.getMessage());
      return;
    }
    assertTrue(e.id().length() <= TandemHeaders.MAX_ID_LENGTH, "id within its limit");
    assertTrue(e.shard() >= 0 && e.publishedAt() >= 0);
    Map<String, String> again = new HashMap<>();
    EnvelopeCodec.write(e, again::put);
    for (String v : again.values()) {
      assertTrue(v.length() <= TandemHeaders.MAX_HEADER_VALUE_LENGTH, "written headers fit");
    }
    assertEquals(e, EnvelopeCodec.read(again::get), "decode -> encode -> decode is stable");
    assertEquals(e.isSigned(), headers.containsKey(TandemHeaders.SIG));
    if (e.isSigned()) {
      assertNotEquals(EnvelopeSigner.Verification.VALID, SECRET_VERIFIER.verify(e),
          "a signature made without the secret verified");
    }
  }

  static Map<String, String> headers(byte[] input) {
    Map<String, String> headers = new HashMap<>();
    ByteBuffer in = ByteBuffer.wrap(input);
    while (in.remaining() >= 2) {
      int sel = in.get() & 0xFF;
      int len = (sel & 0x80) != 0 && in.remaining() >= 2 ? in.getShort() & 0xFFFF : in.get() & 0xFF;
      byte[] value = new byte[Math.min(len, in.remaining())];
      in.get(value);
      headers.put(NAMES[sel & 0x07], new String(value, StandardCharsets.UTF_8));
    }
    return headers;
  }

  static byte[] secret() {
    byte[] b = new byte[32];
    Arrays.fill(b, (byte) 0x5a);
    return b;
  }
}
