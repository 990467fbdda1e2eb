package dev.tandem.store;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The key of one record: (shard, id). In RocksDB it is {@code [shard: 4 bytes big-endian][id: UTF-8]},
 * so all records of a shard are one contiguous key range ({@link #shardStart}, {@link #shardEnd}) that
 * a revoke drops with one range delete.
 */
record RecordKey(int shard, String id) {

  RecordKey {
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
  }

  byte[] bytes() {
    byte[] idBytes = id.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(4 + idBytes.length).putInt(shard).put(idBytes).array();
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

  /** The shard of a stored key. */
  static int shardOf(byte[] key) {
    return ByteBuffer.wrap(key, 0, 4).getInt();
  }
}
