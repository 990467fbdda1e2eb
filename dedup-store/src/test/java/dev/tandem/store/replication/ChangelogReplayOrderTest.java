package dev.tandem.store.replication;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, defect 1, deterministic: the own region's broker stalls past the publish timeout while
 * an id is claimed (v1) and completed (v2). v1 times out and is spooled, v2 (sent directly before the
 * timeout) is acknowledged when the broker recovers, and the replayer then sends v1 again: the log
 * holds [v1, v2, v1] under one key. Compaction keeps a key's last copy, so that copy must be the
 * newest state (COMPLETED), or a restore after compaction sees the id CLAIMED and runs it again.
 */
class ChangelogReplayOrderTest {

  private static final RegionId A = TestRegions.A;
  private static final String INCARNATION = "inc-1";

  @Test
  void aReplayedOlderCopyIsNeverTheLastCopyOfItsKey(@TempDir Path dir) throws Exception {
    FakeLogSink sink = new FakeLogSink(A);
    Duration timeout = Duration.ofSeconds(2);
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    try (IdempotencyStore store = IdempotencyStore.builder().region(A).instance("i-a")
            .directory(dir.resolve("store")).build();
        DualPublisher publisher = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ANY)
            .timeout(timeout).spoolDirectory(dir.resolve("spool")).build()) {
      ChangelogWriter writer = new ChangelogWriter(store, publisher, INCARNATION, "t.changelog",
          TandemClock.system(), scheduler, Duration.ofMillis(50), new SimpleMeterRegistry(), false);
      store.addListener(writer);
      String id = "order-1";
      int shard = 0;
      String key = ChangelogCodec.recordKey(A, INCARNATION, id);

      sink.stall();
      assertInstanceOf(ClaimResult.Acquired.class, store.claim(id, shard,
          PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(1))); // v1: CLAIMED, held
      long sentAt = System.nanoTime();
      // halfway through v1's timeout the handler completes: v2 goes out directly (no copy failed yet)
      await().atMost(Duration.ofSeconds(10))
          .until(() -> System.nanoTime() - sentAt >= timeout.toNanos() / 2);
      store.complete(id, shard, null); // v2: COMPLETED, held
      await().atMost(Duration.ofSeconds(20)).until(() -> publisher.status(A).spooling()); // v1 timed out
      sink.release(); // the broker recovers: v2 is acknowledged in time, v1's ack came too late

      await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
        List<Phase> phases = phasesOf(sink.log(), key);
        // the hazard happened: a CLAIMED copy landed after the COMPLETED one (the spool replay)
        assertTrue(phases.lastIndexOf(Phase.CLAIMED) > phases.indexOf(Phase.COMPLETED),
            "the replay of v1 after v2: " + phases);
        assertEquals(Phase.COMPLETED, phaseOf(sink.compacted().get(key)),
            "the copy of " + key + " that compaction keeps; copies in log order: " + phases);
      });
      writer.stop();
    } finally {
      scheduler.shutdownNow();
    }
  }

  static Phase phaseOf(byte[] value) {
    return ((ChangelogEntry.RecordEntry) ChangelogCodec.decode(value)).record().phase();
  }

  static List<Phase> phasesOf(List<OutboundMessage> log, String key) {
    List<Phase> out = new ArrayList<>();
    byte[] k = key.getBytes(UTF_8);
    for (OutboundMessage m : log) {
      if (Arrays.equals(k, m.key())) {
        out.add(phaseOf(m.value()));
      }
    }
    return out;
  }

  /**
   * The same hazard when the log closes before the replay: v1 is still in the spool (the region went
   * down again), v2 was acknowledged directly. The next publisher on the spool replays v1 after v2, so
   * the closing writer must leave the newest copy queued behind it.
   */
  @Test
  void aStaleCopyStillSpooledAtCloseIsFollowedByTheNewest(@TempDir Path dir) throws Exception {
    FakeLogSink sink = new FakeLogSink(A);
    Duration timeout = Duration.ofSeconds(2);
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    String id = "order-2";
    String key = ChangelogCodec.recordKey(A, INCARNATION, id);
    try (IdempotencyStore store = IdempotencyStore.builder().region(A).instance("i-a")
        .directory(dir.resolve("store")).build()) {
      DualPublisher publisher = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ANY)
          .timeout(timeout).spoolDirectory(dir.resolve("spool")).build();
      ChangelogWriter writer = new ChangelogWriter(store, publisher, INCARNATION, "t.changelog",
          TandemClock.system(), scheduler, Duration.ofMillis(50), new SimpleMeterRegistry(), false);
      store.addListener(writer);
      sink.stall();
      store.claim(id, 0, PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(1)); // v1
      long sentAt = System.nanoTime();
      await().atMost(Duration.ofSeconds(10))
          .until(() -> System.nanoTime() - sentAt >= timeout.toNanos() / 2);
      store.complete(id, 0, null); // v2, sent directly
      await().atMost(Duration.ofSeconds(20)).until(() -> publisher.status(A).spooling());
      sink.down(true); // the replay of v1 fails from now on: it stays in the spool
      sink.release(); // v2 acknowledged in time
      publisher.flush(); // v1 spooled, v2 acknowledged
      assertEquals(List.of(Phase.CLAIMED, Phase.COMPLETED), phasesOf(sink.log(), key));
      writer.stop(); // the log closes ...
      publisher.close(); // ... and its publisher: v1 stays in the spool
      writer.failPending();
    } finally {
      scheduler.shutdownNow();
    }
    sink.down(false);
    try (DualPublisher next = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ANY)
        .timeout(timeout).spoolDirectory(dir.resolve("spool")).build()) {
      assertTrue(next.awaitSpoolDrained(Duration.ofSeconds(30)), "the next publisher replays the spool");
    }
    List<Phase> phases = phasesOf(sink.log(), key);
    assertTrue(phases.lastIndexOf(Phase.CLAIMED) > phases.indexOf(Phase.COMPLETED),
        "v1 was replayed after v2: " + phases);
    assertEquals(Phase.COMPLETED, phaseOf(sink.compacted().get(key)),
        "the copy of " + key + " that compaction keeps; copies in log order: " + phases);
  }

  /** While a region is down every copy is spooled in order: no key needs tracking, none is kept. */
  @Test
  void aRegionThatIsDownKeepsNoEntryPerKey(@TempDir Path dir) throws Exception {
    FakeLogSink sink = new FakeLogSink(A);
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    try (IdempotencyStore store = IdempotencyStore.builder().region(A).instance("i-a")
            .directory(dir.resolve("store")).build();
        DualPublisher publisher = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ANY)
            .timeout(Duration.ofSeconds(2)).spoolDirectory(dir.resolve("spool")).build()) {
      ChangelogWriter writer = new ChangelogWriter(store, publisher, INCARNATION, "t.changelog",
          TandemClock.system(), scheduler, Duration.ofMillis(50), new SimpleMeterRegistry(), false);
      store.addListener(writer);
      sink.down(true);
      for (int i = 0; i < 200; i++) {
        String id = "down-" + i;
        store.claim(id, 0, PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(1));
        store.complete(id, 0, null);
      }
      publisher.flush();
      await().atMost(Duration.ofSeconds(10)).until(() -> writer.keysInFlight() == 0);
      assertTrue(publisher.status(A).spoolDepth() >= 400, publisher.status(A).toString());
      writer.stop();
    } finally {
      scheduler.shutdownNow();
    }
  }
}
