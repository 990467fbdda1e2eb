package dev.tandem.consumer.ownership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import java.util.Properties;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The versioned wire format of {@link OwnershipRequest} (rules in its class comment), both ways: an
 * owner of version 1 (the decoder of s6/integ 1805c0f, copied below) reads a version-2 request as
 * the wall-clock request it knows, and this version reads a version-1 request and a request of a
 * later version with keys it does not know.
 */
class OwnershipRequestWireFormatTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");

  /** A version-1 record, as written before {@code timeout.ms} and {@code version} existed. */
  static final String VERSION_1 = "kind=request\nid=r1\nfrom=region-a\nto=region-b\nshards=0,2\n"
      + "deadline.ms=1005000\nissued.by=ops-host\nevacuation=true\n";

  @Test
  void aVersion2RequestRoundTripsWithItsTimeOut() {
    OwnershipRequest q = new OwnershipRequest("r1", A, B, new TreeSet<>(Set.of(2, 0)), 1_005_000,
        "ops-host", true, 4_500);
    String text = q.encode();
    assertTrue(text.contains("version=2"), text);
    assertTrue(text.contains("timeout.ms=4500"), text);
    assertEquals(q, OwnershipRequest.decode(text));
    assertEquals(q, OwnershipRecords.decode(text));
  }

  @Test
  void anOwnerOfVersion1ReadsAVersion2RequestAsItsWallClockRequest() {
    OwnershipRequest q = new OwnershipRequest("r1", A, B, new TreeSet<>(Set.of(0, 2)), 1_005_000,
        "ops-host", true, 4_500);
    Version1 old = Version1.decode(q.encode());
    assertEquals(new Version1("r1", A, B, new TreeSet<>(Set.of(0, 2)), 1_005_000, "ops-host", true),
        old);
  }

  @Test
  void aVersion1RequestIsReadHereWithoutATimeOut() {
    OwnershipRequest q = OwnershipRequest.decode(VERSION_1);
    assertEquals(new OwnershipRequest("r1", A, B, new TreeSet<>(Set.of(0, 2)), 1_005_000,
        "ops-host", true), q);
    assertEquals(0, q.timeoutMillis(), "version 1: the wall-clock deadline alone ends it");
    // and the version-1 decoder reads what it wrote itself, as before
    assertEquals(new Version1("r1", A, B, new TreeSet<>(Set.of(0, 2)), 1_005_000, "ops-host", true),
        Version1.decode(VERSION_1));
  }

  @Test
  void aRequestOfALaterVersionIsReadWithTheKeysThisVersionKnows() {
    OwnershipRequest q = OwnershipRequest.decode("version=3\n" + VERSION_1
        + "timeout.ms=7000\npriority=high\n");
    assertEquals(7_000, q.timeoutMillis());
    assertEquals(Set.of(0, 2), q.shards());
    assertTrue(q.evacuation());
  }

  @Test
  void aBadTimeOutIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> new OwnershipRequest("r1", A, B,
        new TreeSet<>(Set.of(0)), 1, "t", false, -1));
    assertThrows(IllegalArgumentException.class,
        () -> OwnershipRequest.decode(VERSION_1 + "timeout.ms=soon\n"));
    // no time-out written for a request without one: an older owner sees what it always saw
    assertFalse(new OwnershipRequest("r1", A, B, new TreeSet<>(Set.of(0)), 1, "t").encode()
        .contains("timeout.ms"));
  }

  /**
   * The request decoder of version 1 (OwnershipRequest.decode at s6/integ 1805c0f), kept verbatim
   * apart from its result type: what an owner not yet upgraded does with a record.
   */
  record Version1(String id, RegionId from, RegionId to, SortedSet<Integer> shards,
      long deadlineMillis, String issuedBy, boolean evacuation) {

    static Version1 decode(String value) {
      Properties p = OwnershipRecords.props(value);
      if (!"request".equals(p.getProperty("kind"))) {
        throw new IllegalArgumentException("not an ownership request: kind=" + p.getProperty("kind"));
      }
      SortedSet<Integer> shards = new TreeSet<>();
      for (String s : OwnershipRecords.required(p, "shards").split(",")) {
        shards.add(Integer.parseInt(s.trim()));
      }
      return new Version1(OwnershipRecords.required(p, "id"),
          RegionId.of(OwnershipRecords.required(p, "from")),
          RegionId.of(OwnershipRecords.required(p, "to")),
          shards, Long.parseLong(OwnershipRecords.required(p, "deadline.ms")),
          p.getProperty("issued.by", "unknown"),
          Boolean.parseBoolean(p.getProperty("evacuation", "false")));
    }
  }
}
