package dev.tandem.store.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.tandem.store.CorruptRecordException;
import dev.tandem.store.IdRecord;
import dev.tandem.store.RecordCodec;
import dev.tandem.store.ShardLease;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Coverage-guided fuzzing of the store's record decoder (Jazzer). Regression mode (plain {@code mvn
 * test}) replays the seeds under {@code src/test/resources/dev/tandem/store/security/
 * RecordCodecFuzzTestInputs/}; a bounded fuzzing run is {@code JAZZER_FUZZ=1 mvn -pl dedup-store test -Djazzer.hooks=true
 * -Dtest='RecordCodecFuzzTest#<method>'}.
 *
 * <p>Oracle: any bytes give a record/lease or a {@link CorruptRecordException} (no other exception,
 * no hang, no allocation beyond the input's size); an accepted value re-encodes to bytes that decode
 * to the same value.
 */
class RecordCodecFuzzTest {

  /** Raw bytes, as read from a damaged RocksDB value: mostly stopped by the version or checksum. */
  @FuzzTest(maxDuration = "10s")
  void anyBytesDecodeOrAreCorrupt(byte[] input) {
    check(input);
  }

  /**
   * The bytes after version and kind with a valid checksum appended: the fuzzer gets past the CRC
   * and into the field parser (a writer bug or a forged value with a recomputed checksum).
   */
  @FuzzTest(maxDuration = "10s")
  void bodiesWithAValidChecksumDecodeOrAreCorrupt(byte[] input) {
    if (input.length == 0) {
      return;
    }
    byte kind = (byte) ((input[0] & 1) + 1);
    check(withChecksum(RecordCodec.VERSION, kind, input, 1));
  }

  static void check(byte[] bytes) {
    try {
      IdRecord r = RecordCodec.decodeRecord(bytes);
      assertEquals(r, RecordCodec.decodeRecord(RecordCodec.encode(r)), "stable round trip");
    } catch (CorruptRecordException e) {
      assertNotNull(e.getMessage());
    }
    try {
      ShardLease l = RecordCodec.decodeLease(bytes);
      assertEquals(l, RecordCodec.decodeLease(RecordCodec.encode(l)), "stable round trip");
    } catch (CorruptRecordException e) {
      assertNotNull(e.getMessage());
    }
  }

  /** {@code version, kind, body[from..]} followed by the CRC32C of everything before it. */
  static byte[] withChecksum(byte version, byte kind, byte[] body, int from) {
    int n = body.length - from;
    ByteBuffer b = ByteBuffer.allocate(2 + n + 4);
    b.put(version).put(kind).put(body, from, n);
    CRC32C crc = new CRC32C();
    crc.update(b.array(), 0, 2 + n);
    b.putInt((int) crc.getValue());
    return b.array();
  }
}
