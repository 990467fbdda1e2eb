package dev.tandem.core;

import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;
import java.util.Optional;

/**
 * What Tandem stamps on every copy of a message, the same in every region: the idempotency id, the
 * payload's SHA-256, the shard, the publish time and, optionally, an HMAC signature with its key id.
 * Immutable; {@link EnvelopeCodec} reads and writes it to transport headers.
 *
 * <p>Invariants: the id passes {@link TandemIds#validate}; the shard is non-negative; the signature
 * and key id are both present or both absent.
 */
public final class Envelope {

  private final String id;
  private final PayloadDigest digest;
  private final int shard;
  private final long publishedAt;
  private final String keyId;
  private final byte[] signature;

  private Envelope(
      String id, PayloadDigest digest, int shard, long publishedAt, String keyId, byte[] signature) {
    this.id = TandemIds.validate(id);
    this.digest = Objects.requireNonNull(digest, "digest");
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    this.shard = shard;
    this.publishedAt = publishedAt;
    if ((keyId == null) != (signature == null)) {
      throw new IllegalArgumentException("a signature and its key id come together");
    }
    if (keyId != null) {
      SigningKey.validateKeyId(keyId);
    }
    this.keyId = keyId;
    this.signature = signature;
  }

  /** An unsigned envelope. */
  public static Envelope of(String id, PayloadDigest digest, int shard, long publishedAt) {
    return new Envelope(id, digest, shard, publishedAt, null, null);
  }

  /** An envelope for {@code payload}: its digest is computed here. */
  public static Envelope forPayload(String id, byte[] payload, int shard, long publishedAt) {
    return of(id, PayloadDigest.of(payload), shard, publishedAt);
  }

  /** This envelope carrying {@code signature} made with key {@code keyId}. */
  public Envelope withSignature(String keyId, byte[] signature) {
    Objects.requireNonNull(keyId, "keyId");
    Objects.requireNonNull(signature, "signature");
    return new Envelope(id, digest, shard, publishedAt, keyId, signature.clone());
  }

  /** This envelope without a signature. */
  public Envelope unsigned() {
    return signature == null ? this : new Envelope(id, digest, shard, publishedAt, null, null);
  }

  /** This envelope moved to another shard (the publisher assigns the shard once, for every region). */
  public Envelope withShard(int newShard) {
    return new Envelope(id, digest, newShard, publishedAt, keyId, signature);
  }

  public String id() {
    return id;
  }

  public PayloadDigest digest() {
    return digest;
  }

  public int shard() {
    return shard;
  }

  /** Publisher wall clock, epoch millis; used only for staleness, never for ordering. */
  public long publishedAt() {
    return publishedAt;
  }

  public boolean isSigned() {
    return signature != null;
  }

  public Optional<String> keyId() {
    return Optional.ofNullable(keyId);
  }

  /** A copy of the signature bytes, if signed. */
  public Optional<byte[]> signature() {
    return Optional.ofNullable(signature).map(byte[]::clone);
  }

  /** Throws {@link EnvelopeException} with {@code DIGEST_MISMATCH} unless {@code payload} matches. */
  public void verifyPayload(byte[] payload) {
    if (!digest.matches(payload)) {
      throw new EnvelopeException(
          EnvelopeException.Reason.DIGEST_MISMATCH,
          TandemHeaders.DIGEST,
          "payload of " + id + " does not match its " + TandemHeaders.DIGEST);
    }
  }

  byte[] signatureUnsafe() {
    return signature;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Envelope e
        && id.equals(e.id)
        && digest.equals(e.digest)
        && shard == e.shard
        && publishedAt == e.publishedAt
        && Objects.equals(keyId, e.keyId)
        && Arrays.equals(signature, e.signature);
  }

  @Override
  public int hashCode() {
    return Objects.hash(id, digest, shard, publishedAt, keyId) * 31 + Arrays.hashCode(signature);
  }

  @Override
  public String toString() {
    return "Envelope[id=" + id + ", digest=" + digest + ", shard=" + shard + ", publishedAt="
        + publishedAt
        + (signature == null
            ? ""
            : ", keyId=" + keyId + ", sig="
                + Base64.getUrlEncoder().withoutPadding().encodeToString(signature))
        + "]";
  }
}
