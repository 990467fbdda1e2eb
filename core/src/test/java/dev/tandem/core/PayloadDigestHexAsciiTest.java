package dev.tandem.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/** {@link PayloadDigest#fromHexAscii}: the inverse of {@link PayloadDigest#toHexAscii}, as strict as fromHex. */
class PayloadDigestHexAsciiTest {

  final PayloadDigest d = PayloadDigest.of("payload".getBytes(StandardCharsets.UTF_8));

  @Test
  void readsWhatToHexAsciiWritesInEitherCase() {
    assertEquals(d, PayloadDigest.fromHexAscii(d.toHexAscii()));
    byte[] upper = d.toHex().toUpperCase(Locale.ROOT).getBytes(StandardCharsets.US_ASCII);
    assertEquals(d, PayloadDigest.fromHexAscii(upper));
    assertEquals(PayloadDigest.fromHex(d.toHex()), PayloadDigest.fromHexAscii(d.toHexAscii()));
  }

  @Test
  void refusesWhatFromHexRefuses() {
    assertThrows(IllegalArgumentException.class, () -> PayloadDigest.fromHexAscii(null));
    assertThrows(IllegalArgumentException.class, () -> PayloadDigest.fromHexAscii(new byte[63]));
    byte[] bad = d.toHexAscii();
    bad[10] = 'g';
    assertThrows(IllegalArgumentException.class, () -> PayloadDigest.fromHexAscii(bad));
    byte[] high = d.toHexAscii();
    high[63] = (byte) 0xB3; // not ASCII
    assertThrows(IllegalArgumentException.class, () -> PayloadDigest.fromHexAscii(high));
    byte[] backtick = d.toHexAscii();
    backtick[0] = (byte) 0x60; // '`', just below 'a'
    assertThrows(IllegalArgumentException.class, () -> PayloadDigest.fromHexAscii(backtick));
  }
}
