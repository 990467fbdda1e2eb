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
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A changelog change whose first publish times out is spooled; on replay the broker refuses it for
 * good (too large) and the replayer removes it from the spool. The spool is then empty, but the change
 * is in no changelog: its barrier must fail like that of a change rejected directly (counted {@code
 * tandem.replication.publish.failures}, {@code reason=rejected}, the shard blocked with {@link
 * UnshippedChangeException}), never pass because the spool drained. Once the region takes it (its limit
 * raised), the slow retry ships it and the shard's barriers pass again.
 */
class ChangelogReplayRejectedTest {

  private static final RegionId A = TestRegions.A;

  /**
   * A region whose first send never answers (the publish times out and the copy is spooled), and which
   * then refuses every copy as too large until {@link #accept} — and then logs and acknowledges it.
   */
  static final class TimesOutThenRejects implements RegionalSink {
    final RegionId region;
    final List<OutboundMessage> log = new CopyOnWriteArrayList<>();
    volatile boolean first = true;
    volatile boolean accept;

    TimesOutThenRejects(RegionId region) {
      this.region = region;
    }

    @Override
    public RegionId region() {
      return region;
    }

    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage m) {
      if (first) {
        first = false;
        return new CompletableFuture<>(); // the broker never answers: the copy times out
      }
      if (!accept) {
        return CompletableFuture.failedFuture(
            new MessageRejectedException(region, "RecordTooLargeException (fake)", null));
      }
      log.add(m);
      return CompletableFuture.completedFuture(
          new SinkAck(region, m.destination(), m.shard(), log.size() - 1, System.currentTimeMillis()));
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }

  /** A test's steps over the store, its publisher and its changelog writer. */
  private interface Steps {
    void run(IdempotencyStore store, DualPublisher publisher, ChangelogWriter writer) throws Exception;
  }

  /**
   * Region A's store, a publisher over {@code sinks} under {@code policy} (a copy times out after
   * 500 ms and is spooled), and the store's changelog writer counting into {@code meters}; runs
   * {@code steps}, then stops the writer.
   */
  private static void withWriter(Path dir, AckPolicy policy, SimpleMeterRegistry meters, Steps steps,
      RegionalSink... sinks) throws Exception {
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    DualPublisher.Builder b = DualPublisher.builder().ackPolicy(policy).timeout(Duration.ofMillis(500))
        .spoolDirectory(dir.resolve("spool"));
    for (RegionalSink sink : sinks) {
      b.sink(sink);
    }
    try (IdempotencyStore store = IdempotencyStore.builder().region(A).instance("i-a")
            .directory(dir.resolve("store")).build();
        DualPublisher publisher = b.build()) {
      ChangelogWriter writer = new ChangelogWriter(store, publisher, "inc-1", "t.changelog",
          TandemClock.system(), scheduler, Duration.ofMillis(50), meters, false);
      store.addListener(writer);
      steps.run(store, publisher, writer);
      writer.stop();
    } finally {
      scheduler.shutdownNow();
    }
  }

  @Test
  void aSpooledChangeRejectedOnReplayFailsItsBarrierAndBlocksItsShard(@TempDir Path dir)
      throws Exception {
    TimesOutThenRejects sink = new TimesOutThenRejects(A);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    withWriter(dir, AckPolicy.ALL, meters, (store, publisher, writer) -> {
      String id = "claimed-1";
      int shard = 0;
      assertInstanceOf(ClaimResult.Acquired.class, store.claim(id, shard,
          PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(1)));
      CompletableFuture<Void> barrier = writer.barrier(shard, A);

      // the claim times out, is spooled, and its replay is refused: the spool drains without it
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> barrier.get(30, TimeUnit.SECONDS),
          "the barrier of a change the region refused on replay passed; the region's log: " + sink.log);
      assertTrue(e.getCause() instanceof MessageRejectedException
              || e.getCause() instanceof UnshippedChangeException,
          "fails for the rejection: " + e.getCause());
      assertTrue(sink.log.isEmpty(), "nothing reached the changelog: " + sink.log);
      Counter rejected = meters.find(StoreMeterNames.REPLICATION_PUBLISH_FAILURES)
          .tags("reason", "rejected").counter();
      await().atMost(Duration.ofSeconds(10)).until(() -> rejected != null && rejected.count() >= 1);

      // every later barrier of the shard fails too: no offset is committed past the change
      ExecutionException later = assertThrows(ExecutionException.class,
          () -> writer.barrier(shard, A).get(30, TimeUnit.SECONDS));
      assertInstanceOf(UnshippedChangeException.class, later.getCause());

      // the region takes it once its limit is raised: the slow retry ships it, barriers pass again
      sink.accept = true;
      await().atMost(Duration.ofSeconds(30)).ignoreException(ExecutionException.class).untilAsserted(
          () -> writer.barrier(shard, A).get(5, TimeUnit.SECONDS));
      assertTrue(sink.log.stream().anyMatch(m -> new String(m.key(), UTF_8).contains(id)),
          "the change reached the changelog: " + sink.log);
    }, sink);
  }

  /**
   * The same with two regions under {@code ANY}: the own region acknowledges, so the publish succeeds
   * and the peer's copy waits in the spool; the peer refuses it on replay. The barrier of the peer
   * fails, and so does every later one of the shard (not only the barriers taken while it was pending).
   */
  @Test
  void aPeerCopyRejectedOnReplayBlocksTheShardAfterAnAcknowledgedPublish(@TempDir Path dir)
      throws Exception {
    FakeLogSink own = new FakeLogSink(A);
    TimesOutThenRejects peer = new TimesOutThenRejects(TestRegions.B);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    withWriter(dir, AckPolicy.ANY, meters, (store, publisher, writer) -> {
      String id = "claimed-2";
      int shard = 1;
      store.claim(id, shard, PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(1));
      writer.barrier(shard, A).get(30, TimeUnit.SECONDS); // the own region has it
      CompletableFuture<Void> peerBarrier = writer.barrier(shard, TestRegions.B);
      assertThrows(ExecutionException.class, () -> peerBarrier.get(30, TimeUnit.SECONDS),
          "the peer's barrier passed a change it refused on replay");
      ExecutionException later = assertThrows(ExecutionException.class,
          () -> writer.barrier(shard, TestRegions.B).get(30, TimeUnit.SECONDS),
          "a barrier taken after the refusal passed: the change is in no peer changelog");
      assertInstanceOf(UnshippedChangeException.class, later.getCause());
    }, own, peer);
  }

  /**
   * The spooled copy's spool record is corrupt when the replayer reads it: the replayer removes it
   * (it can never be replayed) and fails its delivery. The change is in no changelog, so like a
   * refusal its barrier fails, the shard is blocked, and the slow retry ships it. Before, the delivery
   * stayed pending and the barrier waited forever (bounded here: 5 s).
   */
  @Test
  void aSpooledChangeWhoseSpoolRecordIsCorruptFailsItsBarrierAndBlocksItsShard(@TempDir Path dir)
      throws Exception {
    TimesOutThenRejects sink = new TimesOutThenRejects(A);
    sink.accept = true; // the region takes every copy it is sent: only the corrupt record is lost
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    withWriter(dir, AckPolicy.ALL, meters, (store, publisher, writer) -> {
      Object lane = holdReplay(publisher, A);
      String id = "claimed-3";
      int shard = 2;
      store.claim(id, shard, PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(1));
      CompletableFuture<Void> barrier = writer.barrier(shard, A);
      corruptSpooled(publisher, A);
      releaseReplay(lane);

      ExecutionException e = assertThrows(ExecutionException.class,
          () -> barrier.get(5, TimeUnit.SECONDS),
          "the barrier of a change whose spool record was corrupt must fail, not wait forever");
      assertTrue(sink.log.stream().noneMatch(m -> new String(m.key(), UTF_8).contains(id)),
          "the corrupt copy was not replayed: " + sink.log);
      await().atMost(Duration.ofSeconds(10)).until(() -> meters.find(
          StoreMeterNames.REPLICATION_PUBLISH_FAILURES).tags("reason", "replay_failed").counters()
          .stream().mapToDouble(Counter::count).sum() >= 1);
      ExecutionException later = assertThrows(ExecutionException.class,
          () -> writer.barrier(shard, A).get(5, TimeUnit.SECONDS),
          "a barrier taken after the corrupt copy passed: the change is in no changelog");
      assertInstanceOf(UnshippedChangeException.class, later.getCause(), e.toString());

      // the slow retry ships it: barriers pass again
      await().atMost(Duration.ofSeconds(30)).ignoreException(ExecutionException.class).untilAsserted(
          () -> writer.barrier(shard, A).get(5, TimeUnit.SECONDS));
      assertTrue(sink.log.stream().anyMatch(m -> new String(m.key(), UTF_8).contains(id)),
          "the change reached the changelog: " + sink.log);
    }, sink);
  }

  // the publisher's spool and lanes are package-private: reached by reflection (the publisher's own
  // SpoolReplayRejectedTest does the same without it)

  private static Object field(Object o, String name) throws Exception {
    java.lang.reflect.Field f = o.getClass().getDeclaredField(name);
    f.setAccessible(true);
    return f.get(o);
  }

  private static Object engine(DualPublisher publisher) throws Exception {
    return field(publisher, "engine");
  }

  /** Holds the region's replayer (it waits while a direct copy is in flight). */
  private static Object holdReplay(DualPublisher publisher, RegionId region) throws Exception {
    for (Object lane : (List<?>) field(engine(publisher), "lanes")) {
      if (region.equals(field(lane, "region"))) {
        ((java.util.concurrent.atomic.AtomicInteger) field(lane, "inFlight")).incrementAndGet();
        return lane;
      }
    }
    throw new AssertionError("no lane for " + region);
  }

  private static void releaseReplay(Object lane) throws Exception {
    ((java.util.concurrent.atomic.AtomicInteger) field(lane, "inFlight")).decrementAndGet();
    ((java.util.concurrent.Semaphore) field(lane, "wake")).release();
  }

  /** Waits for the region's first spooled record and flips its version byte (same length). */
  private static void corruptSpooled(DualPublisher publisher, RegionId region) throws Exception {
    Object spool = field(engine(publisher), "spool");
    java.lang.reflect.Method read = spool.getClass().getDeclaredMethod("read", RegionId.class,
        long.class, int.class);
    java.lang.reflect.Method append = spool.getClass().getDeclaredMethod("append", RegionId.class,
        long.class, byte[].class);
    read.setAccessible(true);
    append.setAccessible(true);
    await().atMost(Duration.ofSeconds(10))
        .until(() -> !((List<?>) read.invoke(spool, region, Long.MAX_VALUE, 1)).isEmpty());
    Object entry = ((List<?>) read.invoke(spool, region, Long.MAX_VALUE, 1)).get(0);
    java.lang.reflect.Method seq = entry.getClass().getDeclaredMethod("seq");
    java.lang.reflect.Method bytes = entry.getClass().getDeclaredMethod("bytes");
    seq.setAccessible(true);
    bytes.setAccessible(true);
    byte[] b = ((byte[]) bytes.invoke(entry)).clone();
    b[0] = (byte) 0x7f;
    ((CompletableFuture<?>) append.invoke(spool, region, seq.invoke(entry), b)).get(10, TimeUnit.SECONDS);
  }
}
