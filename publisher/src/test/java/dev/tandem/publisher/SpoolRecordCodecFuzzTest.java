package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Coverage-guided fuzzing of the spool record decoder (Jazzer): a spool file damaged on disk must
 * never replay a wrong copy. Regression mode (plain {@code mvn test}) replays the seeds under {@code
 * src/test/resources/dev/tandem/publisher/SpoolRecordCodecFuzzTestInputs/}; a bounded run is {@code
 * JAZZER_FUZZ=1 mvn -pl publisher test -Djazzer.hooks=true -Dtest=SpoolRecordCodecFuzzTest}.
 *
 * <p>Oracle: any bytes give a message or an {@link IllegalArgumentException} (the spool counts, logs
 * and removes such a record), nothing else; an accepted message's envelope matches its value (the
 * digest is re-checked), and it re-encodes to bytes that decode equal.
 */
class SpoolRecordCodecFuzzTest {

  @FuzzTest(maxDuration = "10s")
  void anyBytesDecodeToAVerifiedCopyOrAreRefused(byte[] input) {
    OutboundMessage m;
    try {
      m = SpoolRecordCodec.decode(input);
    } catch (IllegalArgumentException refused) {
      assertNotNull(refused.getMessage());
      return;
    }
    assertTrue(m.envelope().digest().matches(m.valueUnsafe()), "a replayed copy matches its digest");
    assertEquals(m.shard(), m.envelope().shard());
    assertEquals(m, SpoolRecordCodec.decode(SpoolRecordCodec.encode(m)), "stable round trip");
  }
}
