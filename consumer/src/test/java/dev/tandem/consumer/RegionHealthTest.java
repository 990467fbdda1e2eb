package dev.tandem.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.RegionHealth.Status;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The status rules of {@link RegionHealth}, from facts alone (no cluster). */
class RegionHealthTest {

  /** A healthy region: restored, own broker answers, peer heartbeats fresh, nothing spooled. */
  static RegionHealth.Facts healthy() {
    RegionHealth.Facts f = new RegionHealth.Facts();
    f.region = "region-a";
    f.instance = "host-1";
    f.at = Instant.parse("2026-12-05T03:00:00Z");
    f.policy = "automatic";
    f.ownBrokerReachable = true;
    f.ownBrokerEvidence = "a poll loop's fetch or probe answered recently";
    f.lagLimit = Duration.ofSeconds(6);
    f.peers.add(new RegionHealth.PeerLag("region-b", Duration.ofMillis(40), 0, Duration.ofMillis(300)));
    f.peerReachable.put("region-b", true);
    f.spoolDepth.put("region-a", 0L);
    f.spoolDepth.put("region-b", 0L);
    f.shards.add(new RegionHealth.ShardState(0, "region-a", 1, true, true));
    f.shards.add(new RegionHealth.ShardState(1, "region-b", 3, false, true));
    f.consumersRunning = 1;
    return f;
  }

  @Test
  void healthyIsUpWithNoReason() {
    RegionHealth h = healthy().build();
    assertEquals(Status.UP, h.status());
    assertEquals(List.of(), h.reasons());
    assertEquals(1, h.shardsOwned());
  }

  @Test
  void ownBrokerNotAnsweringIsDown() {
    RegionHealth.Facts f = healthy();
    f.ownBrokerReachable = false;
    f.ownBrokerEvidence = "a poll loop's end-offset probe failed after its last answer";
    RegionHealth h = f.build();
    assertEquals(Status.DOWN, h.status());
    assertTrue(h.reasons().get(0).contains("own Kafka broker does not answer"), h.reasons().toString());
  }

  @Test
  void noEvidenceAboutTheOwnBrokerIsNoReason() {
    RegionHealth.Facts f = healthy();
    f.ownBrokerReachable = null;
    RegionHealth h = f.build();
    assertEquals(Status.UP, h.status());
    assertEquals("unknown", h.details().get("ownBrokerReachable"));
  }

  @Test
  void closedRegionIsDown() {
    RegionHealth.Facts f = healthy();
    f.storeOpen = false;
    assertEquals(Status.DOWN, f.build().status());
  }

  @Test
  void aDeadOwnershipRequestReaderIsDegraded() {
    RegionHealth.Facts f = healthy();
    f.ownershipRequestsFailure = "the ownership request topic is not read: "
        + "org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized";
    RegionHealth h = f.build();
    assertEquals(Status.DEGRADED, h.status(), "it processes; evacuations report NOT_ANSWERED");
    assertTrue(h.reasons().get(0).contains("remote ownership requests")
        && h.reasons().get(0).contains("TopicAuthorizationException"), h.reasons().toString());
  }

  @Test
  void deadPollLoopIsDown() {
    RegionHealth.Facts f = healthy();
    f.consumerFailures.add("topic orders: java.lang.IllegalStateException: boom");
    RegionHealth h = f.build();
    assertEquals(Status.DOWN, h.status());
    assertTrue(h.reasons().get(0).contains("topic orders"));
  }

  @Test
  void restoringIsDegraded() {
    RegionHealth.Facts f = healthy();
    f.storeRestored = false;
    RegionHealth h = f.build();
    assertEquals(Status.DEGRADED, h.status());
    assertTrue(h.reasons().get(0).contains("restoring"));
  }

  @Test
  void peerUnreachableIsDegraded() {
    RegionHealth.Facts f = healthy();
    f.peerReachable.put("region-b", false);
    assertEquals(Status.DEGRADED, f.build().status());
  }

  @Test
  void peerSilentLongerThanLIsDegradedAndWithinLIsNot() {
    RegionHealth.Facts f = healthy();
    f.peers.set(0, new RegionHealth.PeerLag("region-b", Duration.ofMillis(40), 0, Duration.ofSeconds(6)));
    assertEquals(Status.UP, f.build().status(), "exactly L is not over L");
    f.peers.set(0, new RegionHealth.PeerLag("region-b", Duration.ofMillis(40), 0, Duration.ofMillis(6001)));
    RegionHealth h = f.build();
    assertEquals(Status.DEGRADED, h.status());
    assertTrue(h.reasons().get(0).contains("6001 ms"), h.reasons().toString());
  }

  @Test
  void noPeerHeartbeatYetIsDegraded() {
    RegionHealth.Facts f = healthy();
    f.peers.set(0, new RegionHealth.PeerLag("region-b", null, 12, null));
    assertEquals(Status.DEGRADED, f.build().status());
  }

  @Test
  void spooledChangelogCopiesAreDegraded() {
    RegionHealth.Facts f = healthy();
    f.spoolDepth.put("region-b", 17L);
    RegionHealth h = f.build();
    assertEquals(Status.DEGRADED, h.status());
    assertTrue(h.reasons().get(0).contains("17"));
  }

  @Test
  void downOutranksDegradedAndBothReasonsAreListed() {
    RegionHealth.Facts f = healthy();
    f.storeRestored = false;
    f.ownBrokerReachable = false;
    RegionHealth h = f.build();
    assertEquals(Status.DOWN, h.status());
    assertEquals(2, h.reasons().size());
    assertTrue(h.reasons().get(0).contains("broker"), "the DOWN reason first");
  }

  @Test
  void historyIsReportedButIsNoStatus() {
    RegionHealth.Facts f = healthy();
    f.detectedDuplicates = 3;
    f.takeovers = 2;
    f.lastTakeover = new RegionHealth.Takeover(1, "region-b", "region-a", 4, "UNKNOWN", null,
        "lease expired");
    f.heldRecords = 250;
    RegionHealth h = f.build();
    assertEquals(Status.UP, h.status());
    assertEquals(3, h.detectedDuplicates());
    assertTrue(h.lastBound().isEmpty());
    Map<String, Object> d = h.details();
    assertEquals(3L, d.get("detectedDuplicates"));
    assertEquals(250L, d.get("heldRecords"));
    @SuppressWarnings("unchecked")
    Map<String, Object> last = (Map<String, Object>) d.get("lastTakeover");
    assertEquals("UNKNOWN", last.get("boundKind"));
    assertEquals(List.of("status", "reasons", "region", "instance", "at", "policy", "storeOpen",
        "storeRestored", "ownBrokerReachable", "ownBrokerEvidence", "peers", "heldRecords",
        "shardsOwned", "shards", "takeovers", "lastTakeover", "detectedDuplicates", "spoolDepth",
        "consumersRunning"), List.copyOf(d.keySet()));
  }

  @Test
  void snapshotIsImmutable() {
    RegionHealth.Facts f = healthy();
    RegionHealth h = f.build();
    f.shards.clear();
    f.spoolDepth.put("region-b", 9L);
    assertEquals(2, h.shards().size(), "later changes to the facts do not reach the snapshot");
    assertEquals(0L, h.spoolDepth().get("region-b"));
    assertThrows(UnsupportedOperationException.class, () -> h.details().put("x", 1));
    assertThrows(UnsupportedOperationException.class, () -> h.shards().clear());
  }
}
