package dev.tandem.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.testkit.TestRegions;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/** The binary record form: round trips exactly; garbage and damage are refused, never half-read. */
class RecordCodecProperties {

  @Provide
  Arbitrary<IdRecord> records() {
    // printable ASCII and the BMP above the C1 controls, no surrogates: any valid id
    Arbitrary<String> ids = Arbitraries.strings().ofMinLength(1).ofMaxLength(128)
        .withCharRange(' ', '~').withCharRange('\u00a0', '\ud7ff');
    return net.jqwik.api.Combinators.combine(new IdRecordProperties().records(), ids)
        .as((r, id) -> new IdRecord(id, 7, r.generation(), r.phase(), r.attempt(), r.epoch(),
            r.owner(), r.leaseMillis(), r.hlc(), r.writtenAtMillis(), r.digests(),
            r.completers(), r.result(), r.reason()));
  }

  @Property(tries = 1000)
  void recordsRoundTrip(@ForAll("records") IdRecord r) {
    byte[] bytes = RecordCodec.encode(r);
    assertEquals(RecordCodec.VERSION, bytes[0]);
    assertEquals(r, RecordCodec.decodeRecord(bytes));
    assertArrayEquals(bytes, RecordCodec.encode(RecordCodec.decodeRecord(bytes)));
  }

  @Property(tries = 1000)
  void anyDamagedByteIsRefused(@ForAll("records") IdRecord r, @ForAll @IntRange(min = 0,
      max = 10_000) int position, @ForAll @IntRange(min = 1, max = 255) int flip) {
    byte[] bytes = RecordCodec.encode(r);
    byte[] damaged = bytes.clone();
    damaged[position % bytes.length] ^= (byte) flip;
    assertThrows(CorruptRecordException.class, () -> RecordCodec.decodeRecord(damaged));
  }

  @Property(tries = 1000)
  void truncationIsRefused(@ForAll("records") IdRecord r, @ForAll @IntRange(min = 1,
      max = 10_000) int cut) {
    byte[] bytes = RecordCodec.encode(r);
    byte[] shorter = Arrays.copyOf(bytes, bytes.length - 1 - (cut % bytes.length));
    assertThrows(CorruptRecordException.class, () -> RecordCodec.decodeRecord(shorter));
  }

  @Property(tries = 1000)
  void randomGarbageIsRefused(@ForAll byte[] garbage) {
    assertThrows(CorruptRecordException.class, () -> RecordCodec.decodeRecord(garbage));
    assertThrows(CorruptRecordException.class, () -> RecordCodec.decodeLease(garbage));
  }

  @Example
  void leasesRoundTripAndAreNotReadAsRecords() {
    ShardLease l = new ShardLease(3, 9, TestRegions.B, 123456, 77, 16, 4, false,
        new TreeMap<>(Map.of("k", "v")));
    byte[] bytes = RecordCodec.encode(l);
    assertEquals(l, RecordCodec.decodeLease(bytes));
    CorruptRecordException e =
        assertThrows(CorruptRecordException.class, () -> RecordCodec.decodeRecord(bytes));
    assertTrue(e.getMessage().contains("expected a record"), e.getMessage());
  }

  @Example
  void anUnknownVersionIsNamed() {
    byte[] bytes = RecordCodec.encode(IdRecordProperties.rec(0, Phase.CLAIMED, 1, 0,
        IdRecordProperties.A1, 1));
    bytes[0] = 9;
    CorruptRecordException e =
        assertThrows(CorruptRecordException.class, () -> RecordCodec.decodeRecord(bytes));
    assertTrue(e.getMessage().contains("version 9"), e.getMessage());
  }
}
