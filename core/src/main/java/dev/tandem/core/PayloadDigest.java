package dev.tandem.core;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * SHA-256 of a message payload: 32 bytes, immutable. Two copies of one id with different digests
 * are a conflict. A cryptographic digest is required because the signature covers the digest, not the
 * payload. The JDK's SHA-256 uses the CPU's SHA extensions where present.
 */
public final class PayloadDigest implements Comparable<PayloadDigest> {

  /** Length of a digest in bytes. */
  public static final int LENGTH = 32;

  private static final HexFormat HEX = HexFormat.of();
  private static final ThreadLocal<MessageDigest> SHA256 =
      ThreadLocal.withInitial(PayloadDigest::newSha256);

  private final byte[] bytes;

  private PayloadDigest(byte[] bytes) {
    this.bytes = bytes;
  }

  /** The SHA-256 of {@code payload}; a {@code null} payload (a Kafka tombstone) hashes as empty. */
  public static PayloadDigest of(byte[] payload) {
    MessageDigest md = SHA256.get();
    return new PayloadDigest(md.digest(payload == null ? new byte[0] : payload));
  }

  /** The SHA-256 of the remaining bytes of {@code payload}; its position is not moved. */
  public static PayloadDigest of(ByteBuffer payload) {
    MessageDigest md = SHA256.get();
    md.update(payload.duplicate());
    return new PayloadDigest(md.digest());
  }

  /** Wraps 32 raw digest bytes (copied). */
  public static PayloadDigest fromBytes(byte[] raw) {
    if (raw == null || raw.length != LENGTH) {
      throw new IllegalArgumentException(
          "a payload digest is " + LENGTH + " bytes, got " + (raw == null ? "null" : raw.length));
    }
    return new PayloadDigest(raw.clone());
  }

  /** Parses 64 hex characters (either case). */
  public static PayloadDigest fromHex(String hex) {
    if (hex == null || hex.length() != LENGTH * 2) {
      throw new IllegalArgumentException(
          "a payload digest is " + (LENGTH * 2) + " hex characters, got "
              + (hex == null ? "null" : hex.length()));
    }
    try {
      return new PayloadDigest(HEX.parseHex(hex));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("a payload digest must be hex: " + e.getMessage(), e);
    }
  }

  /**
   * Parses 64 hex characters (either case) given as ASCII bytes — a Kafka header's value, the inverse
   * of {@link #toHexAscii()} — without the {@code String} {@link #fromHex} needs (a consumer reads
   * one digest header per record).
   *
   * @throws IllegalArgumentException if {@code ascii} is null, not 64 bytes long or not hex
   */
  public static PayloadDigest fromHexAscii(byte[] ascii) {
    if (ascii == null || ascii.length != LENGTH * 2) {
      throw new IllegalArgumentException(
          "a payload digest is " + (LENGTH * 2) + " hex characters, got "
              + (ascii == null ? "null" : ascii.length));
    }
    byte[] raw = new byte[LENGTH];
    for (int i = 0; i < LENGTH; i++) {
      // a table lookup per nibble (Character.digit's range checks were most of a consumer's digest
      // parse, issue 20); the table answers as Character.digit(b, 16) for every byte value
      int hi = NIBBLE[ascii[2 * i] & 0xFF];
      int lo = NIBBLE[ascii[2 * i + 1] & 0xFF];
      if (hi < 0 || lo < 0) {
        throw new IllegalArgumentException("a payload digest must be hex: byte "
            + (hi < 0 ? 2 * i : 2 * i + 1) + " is not a hex digit");
      }
      raw[i] = (byte) ((hi << 4) | lo);
    }
    return new PayloadDigest(raw);
  }

  /** A copy of the 32 bytes. */
  public byte[] toBytes() {
    return bytes.clone();
  }

  /** Writes the 32 bytes into {@code out} without copying them first. */
  public void writeTo(ByteBuffer out) {
    out.put(bytes);
  }

  /** The value of each byte as a hex digit ('0'-'9', 'a'-'f', 'A'-'F'), -1 for every other byte. */
  private static final byte[] NIBBLE = new byte[256];

  static {
    java.util.Arrays.fill(NIBBLE, (byte) -1);
    for (int c = '0'; c <= '9'; c++) {
      NIBBLE[c] = (byte) (c - '0');
    }
    for (int c = 'a'; c <= 'f'; c++) {
      NIBBLE[c] = (byte) (c - 'a' + 10);
      NIBBLE[c - 'a' + 'A'] = (byte) (c - 'a' + 10);
    }
  }

  private static final byte[] HEX_DIGITS = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

  /** Lower-case hex, 64 characters: the header encoding. */
  public String toHex() {
    return new String(toHexAscii(), StandardCharsets.ISO_8859_1);
  }

  /**
   * The same 64 lower-case hex characters as {@link #toHex()}, as ASCII bytes (what a Kafka header
   * carries): a table lookup per nibble into one array, no {@code String} and no re-encoding. {@code
   * HexFormat} and the UTF-8 re-encoding of its string were in every publish's caller profile.
   */
  public byte[] toHexAscii() {
    byte[] out = new byte[LENGTH * 2];
    for (int i = 0; i < LENGTH; i++) {
      out[2 * i] = HEX_DIGITS[(bytes[i] >>> 4) & 0xF];
      out[2 * i + 1] = HEX_DIGITS[bytes[i] & 0xF];
    }
    return out;
  }

  /** Whether this is the digest of {@code payload}; constant time in the digest comparison. */
  public boolean matches(byte[] payload) {
    return MessageDigest.isEqual(bytes, of(payload).bytes);
  }

  @Override
  public int compareTo(PayloadDigest o) {
    return Arrays.compareUnsigned(bytes, o.bytes);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof PayloadDigest d && Arrays.equals(bytes, d.bytes);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(bytes);
  }

  @Override
  public String toString() {
    return toHex();
  }

  private static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }
}
