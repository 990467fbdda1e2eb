package dev.tandem.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Review s7-r of s7/publish (f9ccd43): writeUtf8's Javadoc promises "exactly the bytes of write's
 * strings encoded as UTF-8" for an envelope. Envelope accepts any publishedAt (only the shard is
 * checked non-negative), so the promise must hold for a negative publish time too.
 */
class EnvelopeCodecUtf8ParityReviewTest {

  @Test
  void writeUtf8GivesWritesBytesForEveryEnvelopeThatEnvelopeAccepts() {
    for (long publishedAt : new long[] {0L, 1_700_000_000_000L, -1L}) {
      Envelope env = Envelope.forPayload("0193a3c4-7b2e-7a11-9c1d-5e6f7a8b9c0d", new byte[] {1}, 3, publishedAt);
      List<String> names = new ArrayList<>();
      List<byte[]> expected = new ArrayList<>();
      EnvelopeCodec.write(env, (n, v) -> {
        names.add(n);
        expected.add(v.getBytes(StandardCharsets.UTF_8));
      });
      List<String> gotNames = new ArrayList<>();
      List<byte[]> got = new ArrayList<>();
      EnvelopeCodec.writeUtf8(env, (n, v) -> {
        gotNames.add(n);
        got.add(v);
      });
      assertEquals(names, gotNames, "publishedAt=" + publishedAt);
      for (int i = 0; i < expected.size(); i++) {
        assertArrayEquals(expected.get(i), got.get(i), names.get(i) + " publishedAt=" + publishedAt);
      }
    }
  }
}
