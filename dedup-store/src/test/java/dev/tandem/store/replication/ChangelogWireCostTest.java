package dev.tandem.store.replication;

import static dev.tandem.testkit.AllocationMeter.allocated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.Envelope;
import dev.tandem.core.TandemIds;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.MemoryRecords;
import org.apache.kafka.common.record.MemoryRecordsBuilder;
import org.apache.kafka.common.record.Record;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

/**
 * What the envelope headers of a changelog copy cost on the wire and in every reader (issue 20):
 * the bytes of a produce batch of changelog-shaped records (key ~24 B, value ~129 B) with the four
 * envelope headers and without, and the bytes Kafka's record parser allocates per record when a
 * reader iterates the batch (what {@code CompletedFetch} does for each fetched record). Kafka's own
 * code, no broker; counts and bytes, not time.
 */
class ChangelogWireCostTest {

  private static final int RECORDS = 200;

  private static MemoryRecords batch(boolean envelope) {
    MemoryRecordsBuilder b = MemoryRecords.builder(ByteBuffer.allocate(1 << 16), RecordBatch.CURRENT_MAGIC_VALUE,
        Compression.NONE, TimestampType.CREATE_TIME, 0L);
    byte[] value = new byte[129];
    for (int i = 0; i < RECORDS; i++) {
      byte[] key = ("r|region-a|" + TandemIds.newId() + "|id-" + i).getBytes(StandardCharsets.UTF_8);
      List<Header> headers = new ArrayList<>();
      if (envelope) {
        EnvelopeCodec.writeUtf8(Envelope.forPayload(TandemIds.newId(), value, 3,
            System.currentTimeMillis()), (n, v) -> headers.add(new RecordHeader(n, v)));
      }
      b.append(System.currentTimeMillis(), key, value, headers.toArray(Header[]::new));
    }
    return b.build();
  }

  /** Bytes allocated per record by iterating the batch's records and reading their headers. */
  private static long parse(MemoryRecords records) {
    long best = Long.MAX_VALUE;
    int seen = 0;
    for (int round = 0; round < 200; round++) {
      long before = allocated();
      for (RecordBatch batch : records.batches()) {
        for (Record r : batch) {
          seen += r.headers().length;
        }
      }
      if (round >= 100) {
        best = Math.min(best, (allocated() - before) / RECORDS);
      }
    }
    assertTrue(seen >= 0);
    return best;
  }

  @Test
  void envelopeHeadersAgainstNone() {
    MemoryRecords with = batch(true);
    MemoryRecords without = batch(false);
    long parseWith = parse(with);
    long parseWithout = parse(without);
    System.out.printf("changelog wire cost: %d B per record on the wire with the envelope headers, %d B "
            + "without; the parser allocates %d B per record with them, %d B without%n",
        with.sizeInBytes() / RECORDS, without.sizeInBytes() / RECORDS, parseWith, parseWithout);
    assertEquals(4, with.batches().iterator().next().iterator().next().headers().length);
    assertTrue(with.sizeInBytes() > without.sizeInBytes());
    assertTrue(parseWith > parseWithout, parseWith + " vs " + parseWithout);
  }
}
