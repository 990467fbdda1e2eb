package dev.tandem.core;

/**
 * Names of the Tandem envelope fields as carried in Kafka record headers and Service Bus application
 * properties. The names are lower-case ASCII so that both transports carry them unchanged.
 */
public final class TandemHeaders {

  /** The idempotency key: the same value in every region; at most {@link #MAX_ID_LENGTH} chars. */
  public static final String ID = "tandem-id";
  /** SHA-256 of the payload, lower-case hex (64 characters). */
  public static final String DIGEST = "tandem-digest";
  /** The shard number the publisher computed once for every region, decimal. */
  public static final String SHARD = "tandem-shard";
  /** Publisher wall clock at publish, epoch milliseconds, decimal. */
  public static final String PUBLISHED_AT = "tandem-published-at";
  /** Optional HMAC-SHA256 signature, base64url without padding. */
  public static final String SIG = "tandem-sig";
  /** Id of the key that made {@link #SIG}; present exactly when the signature is. */
  public static final String KEY_ID = "tandem-key-id";

  /** The Service Bus {@code MessageId} / {@code SessionId} limit, which the id must also fit. */
  public static final int MAX_ID_LENGTH = 128;
  /** Longest accepted key id. */
  public static final int MAX_KEY_ID_LENGTH = 64;
  /** Longest accepted encoded header value; anything longer is malformed, not truncated. */
  public static final int MAX_HEADER_VALUE_LENGTH = 256;

  private TandemHeaders() {}
}
