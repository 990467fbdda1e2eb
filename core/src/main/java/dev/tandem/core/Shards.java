package dev.tandem.core;

import java.nio.charset.StandardCharsets;

/**
 * Shards for transports without partitions (Service Bus): a key (the session id, or the message id)
 * hashed into one of {@code n} buckets. The function is fixed by this spec — the first four bytes of
 * SHA-256(UTF-8 key), big-endian, unsigned, modulo n — so any publisher in any language agrees.
 */
public final class Shards {

  private Shards() {}

  /** The bucket of {@code key} among {@code shardCount}. */
  public static int forKey(String key, int shardCount) {
    if (shardCount <= 0) {
      throw new IllegalArgumentException("shard count must be > 0, got " + shardCount);
    }
    byte[] d = PayloadDigest.of(key.getBytes(StandardCharsets.UTF_8)).toBytes();
    long h = ((d[0] & 0xFFL) << 24) | ((d[1] & 0xFFL) << 16) | ((d[2] & 0xFFL) << 8) | (d[3] & 0xFFL);
    return (int) (h % shardCount);
  }
}
