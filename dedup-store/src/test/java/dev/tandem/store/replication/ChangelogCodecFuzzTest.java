package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.tandem.store.CorruptRecordException;
import dev.tandem.store.RecordCodec;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Coverage-guided fuzzing of the changelog value decoder (Jazzer): what any writer to a changelog
 * topic can make a replica read. Regression mode replays the seeds under {@code
 * src/test/resources/dev/tandem/store/replication/ChangelogCodecFuzzTestInputs/}; a bounded run is
 * {@code JAZZER_FUZZ=1 mvn -pl dedup-store test -Djazzer.hooks=true -Dtest='ChangelogCodecFuzzTest#<method>'}.
 *
 * <p>Oracle: a value decodes to an entry or throws {@link CorruptRecordException} (counted and
 * skipped by the reader), nothing else; an accepted entry re-encodes to a value that decodes equal.
 */
class ChangelogCodecFuzzTest {

  @FuzzTest(maxDuration = "10s")
  void anyValueDecodesOrIsCorrupt(byte[] value) {
    check(value);
  }

  /** Record and lease payloads with a valid inner checksum, so the fuzzer reaches the field parser. */
  @FuzzTest(maxDuration = "10s")
  void payloadsWithAValidChecksumDecodeOrAreCorrupt(byte[] input) {
    if (input.length == 0) {
      return;
    }
    byte type = (byte) ((input[0] & 1) + 1); // record or lease; heartbeats carry no checksum
    int n = input.length - 1;
    ByteBuffer b = ByteBuffer.allocate(2 + 2 + n + 4);
    b.put(ChangelogCodec.FORMAT).put(type).put(RecordCodec.VERSION).put(type).put(input, 1, n);
    CRC32C crc = new CRC32C();
    crc.update(b.array(), 2, 2 + n);
    b.putInt((int) crc.getValue());
    check(b.array());
  }

  static void check(byte[] value) {
    ChangelogEntry e;
    try {
      e = ChangelogCodec.decode(value);
    } catch (CorruptRecordException expected) {
      assertNotNull(expected.getMessage());
      return;
    }
    byte[] again;
    if (e instanceof ChangelogEntry.RecordEntry r) {
      again = ChangelogCodec.encode(r.record());
    } else if (e instanceof ChangelogEntry.LeaseEntry l) {
      again = ChangelogCodec.encode(l.lease());
    } else if (e instanceof ChangelogEntry.HandoffMarker m) {
      again = ChangelogCodec.encode(m);
    } else {
      again = ChangelogCodec.encode((ChangelogEntry.Heartbeat) e);
    }
    assertEquals(e, ChangelogCodec.decode(again), "decode -> encode -> decode is stable");
  }
}
