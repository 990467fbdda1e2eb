package dev.tandem.benchmarks;

/** Fixed-width ids for the store benchmarks: 16 characters (a short business key) or 36 (a UUID). */
final class Ids {

  private Ids() {}

  /** A distinct id of exactly {@code length} characters (16 or 36) for (thread, counter). */
  static String id(int length, int thread, long counter) {
    // hex digits by hand: String.format was 24 % of the claim+complete samples (it runs inside the
    // measured operation of both tandemClaimComplete and rocksPut and so flattened their ratio;
    // benchmarks/profiles/store-claimcomplete-*.txt). Same ids as the former "%02x%014x" format.
    long v = ((long) (thread & 0xff) << 56) | (counter & 0x00ff_ffff_ffff_ffffL);
    if (length == 16) {
      char[] c = new char[16];
      hex(v, c, 0, 16);
      return new String(c);
    }
    if (length == 36) {
      // UUID layout 8-4-4-4-12 over a 32-hex-digit value (the high 16 digits are zeros)
      char[] c = "00000000-0000-0000-0000-000000000000".toCharArray();
      hex(v >>> 48, c, 19, 4);
      hex(v, c, 24, 12);
      return new String(c);
    }
    throw new IllegalArgumentException("id length 16 or 36, got " + length);
  }

  private static final char[] DIGITS = "0123456789abcdef".toCharArray();

  /** The low {@code n} hex digits of {@code v} into {@code c[at..at+n)}. */
  private static void hex(long v, char[] c, int at, int n) {
    for (int i = at + n - 1; i >= at; i--) {
      c[i] = DIGITS[(int) (v & 0xf)];
      v >>>= 4;
    }
  }
}
