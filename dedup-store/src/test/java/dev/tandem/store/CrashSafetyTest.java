package dev.tandem.store;

import dev.tandem.store.spi.ReplicaStore;
import dev.tandem.testkit.ChildJvm;
import dev.tandem.testkit.TestRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A writer SIGKILLed mid-stream loses no acknowledged record (WAL + sync). */
@SuppressWarnings("try")
class CrashSafetyTest {

  static final int ACKS_BEFORE_KILL = 300;

  @TempDir Path dir;

  @Test
  void everyAcknowledgedRecordSurvivesASigkill() throws Exception {
    List<String> acked;
    try (ChildJvm child = ChildJvm.start(CrashWriterMain.class, dir.toString())) {
      child.awaitLine("open"::equals, Duration.ofSeconds(60));
      for (int i = 0; i < ACKS_BEFORE_KILL; i++) {
        child.awaitLine(l -> l.startsWith("acked "), Duration.ofSeconds(60));
      }
      child.kill(); // SIGKILL while it keeps writing
      assertTrue(!child.isAlive());
      acked = child.output().stream()
          .filter(l -> l.startsWith("acked "))
          .map(l -> l.substring("acked ".length()))
          .toList();
    }
    assertTrue(acked.size() >= ACKS_BEFORE_KILL, "acks seen: " + acked.size());
    try (IdempotencyStore store = RocksIdempotencyStore.builder()
        .region(TestRegions.A).instance("reader").directory(dir).build()) {
      for (String id : acked) {
        long n = Long.parseLong(id.substring(3));
        IdRecord r = store.get(id, (int) (n % 4))
            .orElseThrow(() -> new AssertionError("acknowledged " + id + " is missing"));
        assertEquals(Phase.COMPLETED, r.phase(), id);
        assertArrayEquals(("result-" + n).getBytes(StandardCharsets.UTF_8), r.result(), id);
      }
      // the store is fully usable after the crash
      assertTrue(store.claim("after-crash", 0, Stores.digest("x"), 0, Stores.LEASE)
          instanceof ClaimResult.Acquired);
    }
  }

  @Test
  void aRemoteBatchAndItsCheckpointSurviveOrVanishTogether() throws Exception {
    long lastAcked;
    try (ChildJvm child = ChildJvm.start(CrashWriterMain.class, dir.toString(), "remote-batches")) {
      child.awaitLine("open"::equals, Duration.ofSeconds(60));
      String line = null;
      for (int i = 0; i < ACKS_BEFORE_KILL; i++) {
        line = child.awaitLine(l -> l.startsWith("acked batch "), Duration.ofSeconds(60));
      }
      child.kill();
      lastAcked = Long.parseLong(line.substring("acked batch ".length()));
    }
    try (IdempotencyStore store = RocksIdempotencyStore.builder()
        .region(TestRegions.A).instance("reader").directory(dir).build()) {
      long next = ReplicaStore.of(store).checkpoints().get("changelog/0");
      assertTrue(next >= lastAcked + 1, "checkpoint " + next + " behind ack " + lastAcked);
      for (long n = 0; n < next + 3; n++) {
        for (int i = 0; i < 10; i++) {
          boolean present = store.get("b" + n + "-" + i, 0).isPresent();
          assertEquals(n < next, present, "batch " + n + " record " + i + ", checkpoint " + next);
        }
      }
    }
  }
}
