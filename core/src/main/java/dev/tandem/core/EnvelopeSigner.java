package dev.tandem.core;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import javax.crypto.Mac;

/**
 * HMAC-SHA256 over (id, digest, shard, published-at, key id). One key signs; any of a set of keys
 * verifies, so keys can rotate: add the new key to every verifier, then switch signers to it, then
 * retire the old one. Comparison is constant time. Thread-safe.
 */
public final class EnvelopeSigner {

  /** Length of an HMAC-SHA256 tag. */
  public static final int SIGNATURE_LENGTH = 32;

  /** Outcome of {@link #verify}; names are stable (metric tags, dead-letter reasons). */
  public enum Verification {
    VALID,
    UNSIGNED,
    UNKNOWN_KEY,
    BAD_SIGNATURE
  }

  private final SigningKey signingKey;
  private final Map<String, SigningKey> verifyKeys;

  private EnvelopeSigner(SigningKey signingKey, Collection<SigningKey> verifyKeys) {
    this.signingKey = signingKey;
    Map<String, SigningKey> m = new LinkedHashMap<>();
    if (signingKey != null) {
      m.put(signingKey.keyId(), signingKey);
    }
    for (SigningKey k : verifyKeys) {
      SigningKey prev = m.putIfAbsent(k.keyId(), k);
      if (prev != null && prev != k && !MessageDigest.isEqual(prev.secret(), k.secret())) {
        throw new IllegalArgumentException("two different secrets for key id " + k.keyId());
      }
    }
    this.verifyKeys = Map.copyOf(m);
  }

  /** Signs with {@code signingKey}; verifies with it and every key in {@code alsoAccepted}. */
  public static EnvelopeSigner signingWith(SigningKey signingKey, SigningKey... alsoAccepted) {
    return new EnvelopeSigner(Objects.requireNonNull(signingKey, "signingKey"), java.util.List.of(alsoAccepted));
  }

  /** Verifies only (a consumer), accepting any of {@code keys}. */
  public static EnvelopeSigner verifyingWith(Collection<SigningKey> keys) {
    if (keys.isEmpty()) {
      throw new IllegalArgumentException("a verifier needs at least one key");
    }
    return new EnvelopeSigner(null, keys);
  }

  /** {@code envelope} signed with the signing key. */
  public Envelope sign(Envelope envelope) {
    if (signingKey == null) {
      throw new IllegalStateException("this signer only verifies; it holds no signing key");
    }
    return envelope.withSignature(signingKey.keyId(), mac(signingKey, envelope));
  }

  /** Checks the envelope's signature against the accepted keys. */
  public Verification verify(Envelope envelope) {
    if (!envelope.isSigned()) {
      return Verification.UNSIGNED;
    }
    SigningKey key = verifyKeys.get(envelope.keyId().orElseThrow());
    if (key == null) {
      return Verification.UNKNOWN_KEY;
    }
    byte[] expected = mac(key, envelope);
    return MessageDigest.isEqual(expected, envelope.signatureUnsafe())
        ? Verification.VALID
        : Verification.BAD_SIGNATURE;
  }

  private static byte[] mac(SigningKey key, Envelope e) {
    Mac mac = key.mac();
    byte[] id = e.id().getBytes(StandardCharsets.UTF_8);
    byte[] kid = key.keyId().getBytes(StandardCharsets.UTF_8);
    // length-prefixed fields: no two different tuples share an encoding
    ByteBuffer buf = ByteBuffer.allocate(4 + id.length + PayloadDigest.LENGTH + 4 + 8 + 4 + kid.length);
    buf.putInt(id.length).put(id);
    e.digest().writeTo(buf);
    buf.putInt(e.shard()).putLong(e.publishedAt());
    buf.putInt(kid.length).put(kid);
    return mac.doFinal(buf.array());
  }

  @Override
  public String toString() {
    return "EnvelopeSigner[signing=" + (signingKey == null ? "none" : signingKey.keyId())
        + ", accepts=" + verifyKeys.keySet() + "]";
  }
}
