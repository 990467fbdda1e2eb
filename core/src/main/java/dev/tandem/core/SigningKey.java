package dev.tandem.core;

import java.util.Objects;

/**
 * An HMAC-SHA256 key and its id. The secret never leaves this object except to a {@link javax.crypto.Mac}
 * and is never printed: {@link #toString()} shows the key id only.
 */
public final class SigningKey {

  /** Shortest accepted secret: 32 bytes, the HMAC-SHA256 block-strength recommendation. */
  public static final int MIN_SECRET_LENGTH = 32;

  private final String keyId;
  private final byte[] secret;
  /** One initialised Mac per thread: {@code Mac.init} costs more than the HMAC of an envelope. */
  private final ThreadLocal<javax.crypto.Mac> macs;

  private SigningKey(String keyId, byte[] secret) {
    this.keyId = validateKeyId(keyId);
    Objects.requireNonNull(secret, "secret");
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new IllegalArgumentException(
          "signing key " + keyId + " is " + secret.length + " bytes; at least "
              + MIN_SECRET_LENGTH + " are required");
    }
    this.secret = secret.clone();
    this.macs = ThreadLocal.withInitial(this::newMac);
  }

  /** A key with id {@code keyId} (1–64 chars of {@code [A-Za-z0-9._-]}) and {@code secret} (copied). */
  public static SigningKey of(String keyId, byte[] secret) {
    return new SigningKey(keyId, secret);
  }

  public String keyId() {
    return keyId;
  }

  byte[] secret() {
    return secret;
  }

  /** This thread's HMAC-SHA256 initialised with the secret (reset after each {@code doFinal}). */
  javax.crypto.Mac mac() {
    return macs.get();
  }

  private javax.crypto.Mac newMac() {
    try {
      javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
      mac.init(new javax.crypto.spec.SecretKeySpec(secret, "HmacSHA256"));
      return mac;
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is unavailable", e);
    }
  }

  static String validateKeyId(String keyId) {
    if (keyId == null
        || keyId.isEmpty()
        || keyId.length() > TandemHeaders.MAX_KEY_ID_LENGTH
        || !keyId.chars().allMatch(c -> c < 128 && (Character.isLetterOrDigit(c) || c == '.' || c == '_' || c == '-'))) {
      throw new IllegalArgumentException(
          "a key id is 1-" + TandemHeaders.MAX_KEY_ID_LENGTH + " characters of [A-Za-z0-9._-]");
    }
    return keyId;
  }

  @Override
  public String toString() {
    return "SigningKey[" + keyId + ", secret=***]";
  }
}
