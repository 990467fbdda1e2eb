package dev.tandem.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class HlcAndIdsTest {

  @Test
  void hlcIncreasesWhenTheWallClockStandsStillOrStepsBack() {
    ManualClock clock = new ManualClock(1_000_000L);
    Hlc hlc = new Hlc(clock);
    long a = hlc.tick();
    long b = hlc.tick();
    clock.setWallMillis(10L);
    long c = hlc.tick();
    assertTrue(a < b && b < c);
    assertEquals(1_000_000L, Hlc.physicalMillis(c));
    clock.advance(Duration.ofSeconds(1));
    assertEquals(0, Hlc.logical(hlc.tick()) & 0, "logical part readable");
  }

  @Test
  void hlcObservingARemoteStampOrdersLaterLocalStampsAfterIt() {
    ManualClock slow = new ManualClock(1_000L);
    Hlc local = new Hlc(slow);
    long remote = new Hlc(new ManualClock(9_000_000L)).tick();
    local.observe(remote);
    assertTrue(local.tick() > remote);
  }

  @Test
  void uuidV7IsVersion7AndTimeOrderedWithinOneMillisecond() {
    UUID prev = TandemIds.uuidV7(1_700_000_000_000L);
    for (int i = 0; i < 5000; i++) {
      UUID next = TandemIds.uuidV7(1_700_000_000_000L);
      assertEquals(7, next.version());
      assertEquals(2, next.variant());
      assertTrue(Long.compareUnsigned(next.getMostSignificantBits(), prev.getMostSignificantBits()) > 0);
      prev = next;
    }
    assertEquals(36, TandemIds.newId().length());
  }

  @Test
  void shardForKeyIsStableAndInRange() {
    for (int n = 1; n < 50; n++) {
      int s = Shards.forKey("session-" + n, n);
      assertTrue(s >= 0 && s < n);
      assertEquals(s, Shards.forKey("session-" + n, n));
    }
  }

  @Test
  void secretsAreNeverPrinted() {
    byte[] secret = "super-secret-value-0123456789abcdef".getBytes();
    SigningKey k = SigningKey.of("k", secret);
    assertTrue(!k.toString().contains("super-secret") && k.toString().contains("k"));
    assertTrue(!EnvelopeSigner.signingWith(k).toString().contains("super-secret"));
  }
}
