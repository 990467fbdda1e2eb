package dev.tandem.store.replication;

import static org.awaitility.Awaitility.await;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The replica's heartbeats run as one periodic task: anything escaping a round — an Error from a
 * liveness check or from publishing — would cancel every later round without a word (a periodic
 * task's throw only ends up in its never-read future), and the peer would see this region silent for
 * good. One round that throws must cost that round only. In memory (FakeLogSink), real RocksDB store.
 */
class HeartbeatErrorTest {

  private static final RegionId A = TestRegions.A;

  @Test
  void aRoundThatThrowsAnErrorDoesNotEndTheHeartbeats(@TempDir Path dir) {
    FakeLogSink sink = new FakeLogSink(A);
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    try (IdempotencyStore store = IdempotencyStore.builder().region(A).instance("i-a")
            .directory(dir.resolve("store")).build();
        DualPublisher publisher = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ANY)
            .timeout(Duration.ofSeconds(5)).spoolDirectory(dir.resolve("spool")).build()) {
      ChangelogWriter writer = new ChangelogWriter(store, publisher, "inc-1", "t.changelog",
          TandemClock.system(), scheduler, Duration.ofMillis(20), new SimpleMeterRegistry(), false);
      Heartbeats heartbeats = new Heartbeats(writer, 1);
      AtomicInteger checks = new AtomicInteger();
      heartbeats.addLivenessCheck(() -> {
        if (checks.getAndIncrement() == 0) {
          throw new ExceptionInInitializerError("a liveness check's class failed to initialise");
        }
        return true;
      });
      heartbeats.start(scheduler, Duration.ofMillis(20));
      await("heartbeats after the round that threw").atMost(Duration.ofSeconds(10))
          .until(() -> !sink.log().isEmpty());
    } finally {
      scheduler.shutdownNow();
    }
  }
}
