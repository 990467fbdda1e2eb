package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.store.Completer;
import dev.tandem.store.CorruptRecordException;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import dev.tandem.store.ShardLease;
import dev.tandem.testkit.TestRegions;
import java.nio.charset.StandardCharsets;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class ChangelogCodecTest {

  private static final RegionId A = TestRegions.A;

  static IdRecord record(String id, int shard, Phase phase, int attempt) {
    TreeSet<PayloadDigest> digests = new TreeSet<>();
    digests.add(PayloadDigest.of(id.getBytes(StandardCharsets.UTF_8)));
    TreeSet<Completer> completers = new TreeSet<>();
    if (phase == Phase.COMPLETED) {
      completers.add(new Completer(A, "i1", attempt));
    }
    return new IdRecord(id, shard, 0, phase, attempt, 0, Owner.of("region-a", "i1"), 30_000,
        1234L << 16, 1_700_000_000_000L, digests, completers, null, null);
  }

  @Test
  void recordLeaseAndHeartbeatRoundTrip() {
    IdRecord r = record("order|42", 3, Phase.COMPLETED, 2);
    assertEquals(r, ((ChangelogEntry.RecordEntry) ChangelogCodec.decode(ChangelogCodec.encode(r)))
        .record());
    ShardLease l = ShardLease.of(3, 7, A, 99L);
    assertEquals(l, ((ChangelogEntry.LeaseEntry) ChangelogCodec.decode(ChangelogCodec.encode(l)))
        .lease());
    var hb = new ChangelogEntry.Heartbeat(A, "inc-1", 3, 1_700_000_000_123L, 77L);
    assertEquals(hb, ChangelogCodec.decode(ChangelogCodec.encode(hb)));
  }

  @Test
  void handoffMarkerRoundTripsAndATruncatedOneIsCorrupt() {
    var m = new ChangelogEntry.HandoffMarker(A, "inc-1", 3, 1234L << 16);
    byte[] bytes = ChangelogCodec.encode(m);
    assertEquals(m, ChangelogCodec.decode(bytes));
    assertTrue(ChangelogCodec.handoffKey(A, "inc-1", 3).startsWith("f|region-a|inc-1|"));
    byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 1);
    assertThrows(CorruptRecordException.class, () -> ChangelogCodec.decode(cut));
  }

  @Test
  void handoffTokenRoundTripsThroughOffsetMetadataAndIgnoresOtherMetadata() {
    Handoff h = new Handoff(A, "01a24315-973e-7000-b7c7-9862814afb62", 2, 117730301496393728L);
    assertEquals(java.util.Optional.of(h), Handoff.decode(h.encode()));
    assertEquals(java.util.Optional.empty(), Handoff.decode(""));
    assertEquals(java.util.Optional.empty(), Handoff.decode(null));
    assertEquals(java.util.Optional.empty(), Handoff.decode("app metadata"));
    assertEquals(java.util.Optional.empty(), Handoff.decode("tandem-handoff/1|region-a|x|notanumber|1"));
  }

  @Test
  void keysSeparateWritersAndKeepIdsWithSeparatorsApart() {
    assertNotEquals(ChangelogCodec.recordKey(A, "inc-1", "x"),
        ChangelogCodec.recordKey(A, "inc-2", "x"));
    assertNotEquals(ChangelogCodec.recordKey(A, "inc-1", "x"),
        ChangelogCodec.recordKey(TestRegions.B, "inc-1", "x"));
    assertEquals("r|region-a|inc-1|a|b", ChangelogCodec.recordKey(A, "inc-1", "a|b"));
    assertTrue(ChangelogCodec.leaseKey(A, "inc-1", 3).startsWith("l|"));
    assertTrue(ChangelogCodec.heartbeatKey(A, "inc-1").startsWith("h|"));
  }

  @Test
  void garbageUnknownFormatUnknownTypeAndTruncationAreCorrupt() {
    assertThrows(CorruptRecordException.class, () -> ChangelogCodec.decode(null));
    assertThrows(CorruptRecordException.class, () -> ChangelogCodec.decode(new byte[] {1}));
    assertThrows(CorruptRecordException.class,
        () -> ChangelogCodec.decode("garbage bytes".getBytes(StandardCharsets.UTF_8)));
    byte[] good = ChangelogCodec.encode(record("x", 0, Phase.CLAIMED, 1));
    byte[] unknownFormat = good.clone();
    unknownFormat[0] = 9;
    CorruptRecordException e =
        assertThrows(CorruptRecordException.class, () -> ChangelogCodec.decode(unknownFormat));
    assertTrue(e.getMessage().contains("unknown changelog format 9"), e.getMessage());
    byte[] unknownType = good.clone();
    unknownType[1] = 42;
    assertThrows(CorruptRecordException.class, () -> ChangelogCodec.decode(unknownType));
    byte[] truncated = java.util.Arrays.copyOf(good, good.length - 3);
    assertThrows(CorruptRecordException.class, () -> ChangelogCodec.decode(truncated));
    byte[] flipped = good.clone();
    flipped[10] ^= 0x55;
    assertThrows(CorruptRecordException.class, () -> ChangelogCodec.decode(flipped));
    var hb = ChangelogCodec.encode(new ChangelogEntry.Heartbeat(A, "i", 0, 1, 2));
    assertThrows(CorruptRecordException.class,
        () -> ChangelogCodec.decode(java.util.Arrays.copyOf(hb, hb.length - 1)));
    // a valid value still decodes after all that (no shared state)
    assertInstanceOf(ChangelogEntry.RecordEntry.class, ChangelogCodec.decode(good));
    assertArrayEquals(good, ChangelogCodec.encode(record("x", 0, Phase.CLAIMED, 1)));
  }
}
