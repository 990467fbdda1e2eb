package dev.tandem.store;

import dev.tandem.core.TandemHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The key of one record: (shard, id), as {@link IdempotencyStore#terminalRecords} takes it. In RocksDB
 * it is {@code [shard: 4 bytes big-endian][id: UTF-8]}, so all records of a shard are one contiguous
 * key range ({@link #shardStart}, {@link #shardEnd}) that a revoke drops with one range delete.
 *
 * <p>The constructor makes only the cheap checks every read needs (a shard {@code >= 0}, an id that is
 * not null, not empty and at most {@value TandemHeaders#MAX_ID_LENGTH} characters). The full id check
 * ({@code TandemIds.validate}, no control characters) is made where an id enters a write (claim,
 * complete, release, dead letter, ...; {@link IdRecord} on every decode and merge): an id that fails
 * it can never be stored, so a read of one simply finds nothing.
 *
 * @param shard the shard, {@code >= 0}
 * @param id the idempotency id
 */
public record RecordKey(int shard, String id) {

  /**
   * Checks the shard and the id's presence and length.
   *
   * @throws IllegalArgumentException if the shard is negative or the id is null, empty or longer than
   *     {@value TandemHeaders#MAX_ID_LENGTH} characters
   */
  public RecordKey {
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    checkReadable(id);
  }

  /**
   * The read-side id check: null, empty and oversized ids get a clear exception on every public
   * method; control characters are refused only by writes (see the class comment).
   */
  static String checkReadable(String id) {
    if (id == null || id.isEmpty()) {
      throw new IllegalArgumentException("a Tandem id must not be null or empty");
    }
    if (id.length() > TandemHeaders.MAX_ID_LENGTH) {
      throw new IllegalArgumentException(
          "a Tandem id is at most " + TandemHeaders.MAX_ID_LENGTH
              + " characters (the Service Bus MessageId limit); got " + id.length() + " characters");
    }
    return id;
  }

  byte[] bytes() {
    int n = id.length();
    int i = 0;
    while (i < n && id.charAt(i) < 0x80) {
      i++;
    }
    if (i == n) {
      // ASCII (nearly every id): its UTF-8 bytes are its chars, written straight into the key
      byte[] k = new byte[4 + n];
      k[0] = (byte) (shard >>> 24);
      k[1] = (byte) (shard >>> 16);
      k[2] = (byte) (shard >>> 8);
      k[3] = (byte) shard;
      for (int j = 0; j < n; j++) {
        k[4 + j] = (byte) id.charAt(j);
      }
      return k;
    }
    byte[] idBytes = id.getBytes(StandardCharsets.UTF_8);
    byte[] k = new byte[4 + idBytes.length];
    k[0] = (byte) (shard >>> 24);
    k[1] = (byte) (shard >>> 16);
    k[2] = (byte) (shard >>> 8);
    k[3] = (byte) shard;
    System.arraycopy(idBytes, 0, k, 4, idBytes.length);
    return k;
  }

  /** First key of {@code shard}'s range (inclusive). */
  static byte[] shardStart(int shard) {
    return ByteBuffer.allocate(4).putInt(shard).array();
  }

  /**
   * End of {@code shard}'s range (exclusive). RocksDB's default comparator is unsigned bytewise, so
   * {@code shard + 1} as 4 big-endian bytes works for every shard up to {@code Integer.MAX_VALUE}
   * (whose successor 0x80000000 is still greater unsigned).
   */
  static byte[] shardEnd(int shard) {
    return ByteBuffer.allocate(4).putInt(shard + 1).array();
  }

  // equals and hashCode by hand: a record's generated ones go through an invokedynamic bootstrap
  // (ObjectMethods) whose method-handle frames showed in the cache-hit profile
  // (benchmarks/profiles/store-checkhit-*.txt); these compute the same values, without them.

  @Override
  public boolean equals(Object o) {
    return this == o || (o instanceof RecordKey k && k.shard == shard && k.id.equals(id));
  }

  @Override
  public int hashCode() {
    return 31 * shard + id.hashCode(); // String caches its hash
  }

  /** The shard of a stored key. */
  static int shardOf(byte[] key) {
    return ByteBuffer.wrap(key, 0, 4).getInt();
  }
}
