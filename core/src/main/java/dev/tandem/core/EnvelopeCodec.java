package dev.tandem.core;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * The one codec between an {@link Envelope} and transport headers. Every field travels as a short
 * ASCII string, so the same code serves Kafka headers (UTF-8 bytes) and Service Bus application
 * properties (strings); each transport supplies only a getter and a setter.
 *
 * <p>Reading is strict: a missing, malformed or oversized header throws {@link EnvelopeException} with
 * a reason, never a half-filled envelope.
 */
public final class EnvelopeCodec {

  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64D = Base64.getUrlDecoder();

  private EnvelopeCodec() {}

  /** Writes every field of {@code envelope} through {@code put(headerName, value)}. */
  public static void write(Envelope envelope, BiConsumer<String, String> put) {
    put.accept(TandemHeaders.ID, envelope.id());
    put.accept(TandemHeaders.DIGEST, envelope.digest().toHex());
    put.accept(TandemHeaders.SHARD, Integer.toString(envelope.shard()));
    put.accept(TandemHeaders.PUBLISHED_AT, Long.toString(envelope.publishedAt()));
    if (envelope.isSigned()) {
      put.accept(TandemHeaders.KEY_ID, envelope.keyId().orElseThrow());
      put.accept(TandemHeaders.SIG, B64.encodeToString(envelope.signatureUnsafe()));
    }
  }

  /**
   * Writes every field of {@code envelope} as its header value's UTF-8 bytes — exactly the bytes of
   * {@link #write}'s strings encoded as UTF-8, in the same order (the wire format is unchanged; any
   * reader of {@link #read} decodes it) — without building the digest's 64-character string and
   * re-encoding it: the form Kafka headers take.
   */
  public static void writeUtf8(Envelope envelope, BiConsumer<String, byte[]> put) {
    put.accept(TandemHeaders.ID, envelope.id().getBytes(StandardCharsets.UTF_8));
    put.accept(TandemHeaders.DIGEST, envelope.digest().toHexAscii());
    put.accept(TandemHeaders.SHARD, decimalAscii(envelope.shard()));
    put.accept(TandemHeaders.PUBLISHED_AT, decimalAscii(envelope.publishedAt()));
    if (envelope.isSigned()) {
      put.accept(TandemHeaders.KEY_ID, envelope.keyId().orElseThrow().getBytes(StandardCharsets.UTF_8));
      put.accept(TandemHeaders.SIG, B64.encode(envelope.signatureUnsafe()));
    }
  }

  /**
   * The decimal ASCII digits of {@code n} — exactly the bytes of {@code Long.toString(n)}, sign
   * included — written straight into one array: the {@code String} and its re-encoding cost two more
   * arrays and a String per header per record. The sign matters: Envelope checks only the shard, so a
   * negative publish time is a valid envelope that {@link #write} renders as {@code "-1"}; this method
   * must give the same bytes, or the Kafka path would refuse an envelope the other paths send.
   * Digits are taken from the non-positive value so that {@code Long.MIN_VALUE} needs no special case.
   */
  static byte[] decimalAscii(long n) {
    boolean negative = n < 0;
    long neg = negative ? n : -n; // <= 0: |Long.MIN_VALUE| does not fit a long, its negation does
    int digits = 1;
    for (long rest = neg / 10; rest != 0; rest /= 10) {
      digits++;
    }
    int length = negative ? digits + 1 : digits;
    byte[] out = new byte[length];
    for (int i = length - 1; i >= length - digits; i--) {
      out[i] = (byte) ('0' - (int) (neg % 10));
      neg /= 10;
    }
    if (negative) {
      out[0] = '-';
    }
    return out;
  }

  /** Whether the headers carry a {@code tandem-id} at all (to tell "no envelope" from "bad one"). */
  public static boolean hasId(Function<String, String> get) {
    return get.apply(TandemHeaders.ID) != null;
  }

  /**
   * Reads an envelope through {@code get(headerName)} (null when absent).
   *
   * @throws EnvelopeException when a required header is missing or any header is malformed
   */
  public static Envelope read(Function<String, String> get) {
    String id = get.apply(TandemHeaders.ID);
    if (id == null) {
      throw new EnvelopeException(
          EnvelopeException.Reason.MISSING_ID, TandemHeaders.ID, "message has no tandem-id header");
    }
    if (id.length() > TandemHeaders.MAX_ID_LENGTH) {
      throw new EnvelopeException(
          EnvelopeException.Reason.OVERSIZED,
          TandemHeaders.ID,
          "tandem-id is " + id.length() + " characters, the limit is " + TandemHeaders.MAX_ID_LENGTH);
    }
    try {
      TandemIds.validate(id);
    } catch (IllegalArgumentException e) {
      throw new EnvelopeException(EnvelopeException.Reason.MALFORMED_HEADER, TandemHeaders.ID, e.getMessage());
    }
    PayloadDigest digest;
    try {
      digest = PayloadDigest.fromHex(required(get, TandemHeaders.DIGEST));
    } catch (IllegalArgumentException e) {
      throw malformed(TandemHeaders.DIGEST, e.getMessage());
    }
    int shard = (int) parseLong(get, TandemHeaders.SHARD, Integer.MAX_VALUE);
    long publishedAt = parseLong(get, TandemHeaders.PUBLISHED_AT, Long.MAX_VALUE);
    Envelope env = Envelope.of(id, digest, shard, publishedAt);
    String keyId = bounded(get, TandemHeaders.KEY_ID);
    String sig = bounded(get, TandemHeaders.SIG);
    if (keyId == null && sig == null) {
      return env;
    }
    if (keyId == null || sig == null) {
      throw malformed(
          keyId == null ? TandemHeaders.KEY_ID : TandemHeaders.SIG,
          "tandem-sig and tandem-key-id come together; only one is present");
    }
    byte[] sigBytes;
    try {
      sigBytes = B64D.decode(sig);
    } catch (IllegalArgumentException e) {
      throw malformed(TandemHeaders.SIG, "tandem-sig is not base64url: " + e.getMessage());
    }
    if (sigBytes.length != EnvelopeSigner.SIGNATURE_LENGTH) {
      throw malformed(TandemHeaders.SIG, "tandem-sig must be " + EnvelopeSigner.SIGNATURE_LENGTH + " bytes");
    }
    try {
      return env.withSignature(keyId, sigBytes);
    } catch (IllegalArgumentException e) {
      throw malformed(TandemHeaders.KEY_ID, e.getMessage());
    }
  }

  private static String required(Function<String, String> get, String header) {
    String v = bounded(get, header);
    if (v == null) {
      throw new EnvelopeException(
          EnvelopeException.Reason.MISSING_HEADER, header, "message has no " + header + " header");
    }
    return v;
  }

  private static String bounded(Function<String, String> get, String header) {
    String v = get.apply(header);
    if (v != null && v.length() > TandemHeaders.MAX_HEADER_VALUE_LENGTH) {
      throw new EnvelopeException(
          EnvelopeException.Reason.OVERSIZED,
          header,
          header + " is " + v.length() + " characters, the limit is "
              + TandemHeaders.MAX_HEADER_VALUE_LENGTH);
    }
    return v;
  }

  private static long parseLong(Function<String, String> get, String header, long max) {
    String v = required(get, header);
    long n;
    try {
      n = Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw malformed(header, header + " is not a decimal number");
    }
    if (n < 0 || n > max) {
      throw malformed(header, header + " is out of range: " + n);
    }
    return n;
  }

  private static EnvelopeException malformed(String header, String message) {
    return new EnvelopeException(EnvelopeException.Reason.MALFORMED_HEADER, header, message);
  }
}
