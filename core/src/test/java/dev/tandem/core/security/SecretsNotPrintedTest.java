package dev.tandem.core.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemIds;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A signing secret never appears in toString() or in an exception message, in any encoding. */
class SecretsNotPrintedTest {

  static final String SECRET_TEXT = "Zm9yLXRlc3Qtb25seS1ub3QtYS1yZWFsLWtleQ";
  static final byte[] SECRET = SECRET_TEXT.getBytes(StandardCharsets.US_ASCII);

  static void assertNoSecret(String text) {
    for (String form : List.of(
        SECRET_TEXT,
        SECRET_TEXT.substring(0, 16),
        HexFormat.of().formatHex(SECRET),
        HexFormat.of().withUpperCase().formatHex(SECRET),
        Base64.getEncoder().encodeToString(SECRET),
        Base64.getUrlEncoder().withoutPadding().encodeToString(SECRET),
        java.util.Arrays.toString(SECRET))) {
      assertFalse(text.contains(form), "secret printed as " + form + " in: " + text);
    }
  }

  @Test
  void keysAndSignersPrintKeyIdsOnly() {
    SigningKey key = SigningKey.of("orders-2026-11", SECRET);
    assertNoSecret(key.toString());
    assertTrue(key.toString().contains("orders-2026-11"), key.toString());
    EnvelopeSigner signer = EnvelopeSigner.signingWith(key);
    assertNoSecret(signer.toString());
    assertNoSecret(EnvelopeSigner.verifyingWith(List.of(key)).toString());
    // a signed envelope shows its signature (public) but nothing of the key
    Envelope signed = signer.sign(Envelope.forPayload(TandemIds.newId(), SECRET, 0, 1L));
    assertNoSecret(signed.toString());
  }

  @Test
  void rejectedKeysDoNotEchoTheirSecret() {
    byte[] shortSecret = SECRET_TEXT.substring(0, 20).getBytes(StandardCharsets.US_ASCII);
    IllegalArgumentException tooShort =
        assertThrows(IllegalArgumentException.class, () -> SigningKey.of("k1", shortSecret));
    assertFalse(tooShort.getMessage().contains(SECRET_TEXT.substring(0, 16)), tooShort.getMessage());
    assertTrue(tooShort.getMessage().contains("k1"), "names the key id: " + tooShort.getMessage());

    SigningKey one = SigningKey.of("k1", SECRET);
    byte[] other = SECRET.clone();
    other[0] ^= 1;
    IllegalArgumentException clash = assertThrows(IllegalArgumentException.class,
        () -> EnvelopeSigner.signingWith(one, SigningKey.of("k1", other)));
    assertNoSecret(clash.getMessage());
    assertEquals("two different secrets for key id k1", clash.getMessage());
  }

  @Test
  void aVerifierWithoutSigningKeySaysSoWithoutKeyMaterial() {
    EnvelopeSigner verifier = EnvelopeSigner.verifyingWith(List.of(SigningKey.of("k1", SECRET)));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> verifier.sign(Envelope.forPayload(TandemIds.newId(), new byte[0], 0, 1L)));
    assertNoSecret(e.getMessage());
  }
}
