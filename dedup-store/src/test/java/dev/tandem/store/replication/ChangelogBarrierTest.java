package dev.tandem.store.replication;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, defect 9 (the changelog side): nothing acknowledged may be committed unless its change is
 * in the changelog. A barrier is what a consumer commits behind, so a change the writer does not ship
 * must make its shard's barriers fail, never leave an empty, successful barrier behind it.
 */
class ChangelogBarrierTest {

  private static final RegionId A = TestRegions.A;
  private static final int SHARD = 0;

  @TempDir Path dir;
  private FakeLogSink sink;
  private ScheduledExecutorService scheduler;
  private IdempotencyStore store;
  private DualPublisher publisher;
  private ChangelogWriter writer;

  @BeforeEach
  void open() {
    sink = new FakeLogSink(A);
    scheduler = Executors.newSingleThreadScheduledExecutor();
    store = IdempotencyStore.builder().region(A).instance("i-a").directory(dir.resolve("store"))
        .build();
    publisher = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ANY)
        .timeout(Duration.ofSeconds(5)).spoolDirectory(dir.resolve("spool")).build();
    writer = new ChangelogWriter(store, publisher, "inc-1", "t.changelog", TandemClock.system(),
        scheduler, Duration.ofMillis(20), new SimpleMeterRegistry(), false);
    store.addListener(writer);
  }

  @AfterEach
  void close() {
    writer.failPending();
    scheduler.shutdownNow();
    publisher.close();
    store.close();
  }

  private void claimAndComplete(String id) {
    assertInstanceOf(ClaimResult.Acquired.class, store.claim(id, SHARD,
        PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(1)));
    store.complete(id, SHARD, null);
  }

  @Test
  void aWriteTheClosingWriterDoesNotShipFailsItsShardsBarrier() throws Exception {
    claimAndComplete("before-close");
    writer.barrier(SHARD, A).get(5, TimeUnit.SECONDS); // shipped and acknowledged
    writer.stop(); // the log is closing; the store still takes writes (a handler finishing)
    claimAndComplete("while-closing"); // not shipped
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> writer.barrier(SHARD, A).get(5, TimeUnit.SECONDS),
        "a barrier over a change that was never shipped must fail, not succeed empty");
    assertInstanceOf(UnshippedChangeException.class, e.getCause());
    assertTrue(e.getCause().getMessage().contains("while-closing"), e.getCause().getMessage());
  }

  @Test
  void aRejectedChangeKeepsLaterBarriersOfItsShardFailingUntilItIsShipped() throws Exception {
    sink.rejectIf(m -> new String(m.key(), UTF_8).contains("too-big"));
    claimAndComplete("too-big");
    assertThrows(ExecutionException.class, () -> writer.barrier(SHARD, A).get(5, TimeUnit.SECONDS),
        "the rejected change's own barrier fails");

    claimAndComplete("small"); // shipped and acknowledged, on the same shard
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> writer.barrier(SHARD, A).get(5, TimeUnit.SECONDS),
        "a later barrier of the shard must not let a commit pass the rejected change");
    assertInstanceOf(UnshippedChangeException.class, e.getCause());
    assertTrue(e.getCause().getMessage().contains("too-big"), e.getCause().getMessage());
    // another shard is not held back
    writer.barrier(SHARD + 1, A).get(5, TimeUnit.SECONDS);

    // the region takes it again (e.g. max.message.bytes raised): the retry ships it, barriers pass
    sink.rejectIf(m -> false);
    await().atMost(Duration.ofSeconds(20)).until(() -> {
      try {
        writer.barrier(SHARD, A).get(5, TimeUnit.SECONDS);
        return true;
      } catch (ExecutionException notYet) {
        return false;
      }
    });
  }
}
