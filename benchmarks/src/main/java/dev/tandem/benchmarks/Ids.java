package dev.tandem.benchmarks;

/** Fixed-width ids for the store benchmarks: 16 characters (a short business key) or 36 (a UUID). */
final class Ids {

  private Ids() {}

  /** A distinct id of exactly {@code length} characters (16 or 36) for (thread, counter). */
  static String id(int length, int thread, long counter) {
    String core = String.format("%02x%014x", thread & 0xff, counter);
    if (length == 16) {
      return core;
    }
    if (length == 36) {
      // UUID layout 8-4-4-4-12 over a 32-hex-digit value
      String hex = "0000000000000000" + core;
      return hex.substring(0, 8) + "-" + hex.substring(8, 12) + "-" + hex.substring(12, 16) + "-"
          + hex.substring(16, 20) + "-" + hex.substring(20, 32);
    }
    throw new IllegalArgumentException("id length 16 or 36, got " + length);
  }
}
