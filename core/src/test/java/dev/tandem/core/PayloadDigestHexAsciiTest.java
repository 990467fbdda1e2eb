package dev.tandem.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
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

  @Test
  void everyByteValueIsReadAsCharacterDigitReadsIt() {
    // the parse is a table lookup (issue 20): for each of the 256 byte values, in the high and the
    // low nibble of a byte, it accepts and reads exactly what Character.digit(b, 16) does
    for (int b = 0; b < 256; b++) {
      int digit = Character.digit((byte) b, 16);
      for (int at : new int[] {0, 1, 62, 63}) {
        byte[] hex = d.toHexAscii();
        hex[at] = (byte) b;
        if (digit < 0) {
          final byte[] h = hex;
          assertThrows(IllegalArgumentException.class, () -> PayloadDigest.fromHexAscii(h),
              "byte 0x" + Integer.toHexString(b) + " at " + at);
        } else {
          byte[] raw = d.toBytes();
          int i = at / 2;
          raw[i] = (byte) (at % 2 == 0 ? (digit << 4) | (raw[i] & 0x0F) : (raw[i] & 0xF0) | digit);
          assertEquals(PayloadDigest.fromHex(HexFormat.of().formatHex(raw)),
              PayloadDigest.fromHexAscii(hex), "byte 0x" + Integer.toHexString(b) + " at " + at);
        }
      }
    }
  }
}
