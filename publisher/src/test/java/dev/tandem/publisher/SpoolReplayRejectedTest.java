package dev.tandem.publisher;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A copy whose publish timed out is spooled and the publish fails its ack policy; on replay the region
 * refuses it for good. The publisher removes it from the spool (so the spool drains), hands it to the
 * listeners and counts it — and the failed publish's {@link PublishException#delivery} for the region
 * completes exceptionally, so a caller never takes the drained spool for a delivery.
 */
class SpoolReplayRejectedTest {

  private static final RegionId A = dev.tandem.testkit.TestRegions.A;

  /**
   * Region A's sink: the first copy is never answered (it times out and is spooled), every later one
   * (the replays) gets {@code then}'s answer.
   */
  private static final class FirstCopyTimesOut implements RegionalSink {
    private final java.util.function.Function<OutboundMessage, CompletableFuture<SinkAck>> then;
    private volatile boolean first = true;

    FirstCopyTimesOut(java.util.function.Function<OutboundMessage, CompletableFuture<SinkAck>> then) {
      this.then = then;
    }

    @Override
    public RegionId region() {
      return A;
    }

    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage m) {
      if (first) {
        first = false;
        return new CompletableFuture<>(); // never answers: the copy times out and is spooled
      }
      return then.apply(m);
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }

  /** Publishes {@code m}: under ALL its publish fails with region A's copy spooled; that failure. */
  private static PublishException failsSpooled(DualPublisher publisher, OutboundMessage m) {
    ExecutionException failed = assertThrows(ExecutionException.class,
        () -> publisher.publish(m).get(30, TimeUnit.SECONDS));
    PublishException pe = assertInstanceOf(PublishException.class, failed.getCause());
    assertEquals(java.util.Set.of(A), pe.spooled(), pe.getMessage());
    return pe;
  }

  @Test
  void aSpooledCopyRejectedOnReplayFailsItsDeliveryFuture(@TempDir Path dir) throws Exception {
    RegionalSink sink = new FirstCopyTimesOut(m -> CompletableFuture.failedFuture(
        new MessageRejectedException(A, "RecordTooLargeException (fake)", null)));
    List<String> deadLetters = new CopyOnWriteArrayList<>();
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    try (DualPublisher publisher = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ALL)
        .timeout(Duration.ofMillis(500)).spoolDirectory(dir.resolve("spool")).meterRegistry(meters)
        .listener(new RegionListener() {
          @Override
          public void onCopyRejected(RegionId region, OutboundMessage message,
              MessageRejectedException cause) {
            deadLetters.add(region + "/" + message.id());
          }
        }).build()) {
      OutboundMessage m = OutboundMessage.builder("t", 0).value(new byte[] {1}).build();
      PublishException pe = failsSpooled(publisher, m);

      ExecutionException refused = assertThrows(ExecutionException.class,
          () -> pe.delivery(A).get(30, TimeUnit.SECONDS),
          "the delivery of a copy refused on replay must not complete normally");
      assertInstanceOf(MessageRejectedException.class, refused.getCause());
      assertEquals(List.of(A + "/" + m.id()), deadLetters);
      assertEquals(1.0, meters.get(PublisherMeterNames.SPOOL_REJECTED).counter().count());
      await().atMost(Duration.ofSeconds(10)).until(() -> publisher.status(A).spoolDepth() == 0);
    }
  }

  /**
   * A copy spooled after a timeout whose spool record is corrupt when the replayer reads it: the
   * replayer counts and removes it (it can never be replayed), and the failed publish's
   * {@link PublishException#delivery} for the region fails naming the region and the spool seq — it
   * must not stay pending forever (a caller following it, like the changelog writer, would hang).
   */
  @Test
  void aSpooledCopyWhoseRecordIsCorruptFailsItsDeliveryFuture(@TempDir Path dir) throws Exception {
    RegionalSink sink = new FirstCopyTimesOut(
        m -> CompletableFuture.completedFuture(new SinkAck(A, m.destination(), m.shard(), 0, 0)));
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    try (DualPublisher publisher = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ALL)
        .timeout(Duration.ofMillis(500)).spoolDirectory(dir.resolve("spool")).meterRegistry(meters)
        .build()) {
      RegionLane lane = holdReplay(publisher, A);
      OutboundMessage m = OutboundMessage.builder("t", 0).value(new byte[] {1}).build();
      PublishException pe = failsSpooled(publisher, m);
      long seq = corruptSpooled(publisher, A);
      releaseReplay(lane);

      ExecutionException corrupt = assertThrows(ExecutionException.class,
          () -> pe.delivery(A).get(5, TimeUnit.SECONDS),
          "the delivery of a copy whose spool record is corrupt must fail, not stay pending");
      assertInstanceOf(SpoolRecordCorruptException.class, corrupt.getCause());
      String msg = String.valueOf(corrupt.getCause().getMessage());
      org.junit.jupiter.api.Assertions.assertTrue(msg.contains(A.name()) && msg.contains("seq " + seq),
          "names the region and the spool seq: " + msg);
      assertEquals(1.0, meters.get("tandem.publisher.spool.corrupt").counter().count());
      await().atMost(Duration.ofSeconds(10)).until(() -> publisher.status(A).spoolDepth() == 0);
    }
  }

  /**
   * Holds {@code region}'s replayer (it waits while a direct copy is in flight), so a test can
   * change a spooled record before it is read. Reflection: the dedup-store test does the same.
   */
  static RegionLane holdReplay(DualPublisher publisher, RegionId region) throws Exception {
    PublisherEngine engine = engine(publisher);
    RegionLane lane = engine.lanes.stream().filter(l -> l.region.equals(region)).findFirst()
        .orElseThrow();
    lane.inFlight.incrementAndGet();
    return lane;
  }

  static void releaseReplay(RegionLane lane) {
    lane.inFlight.decrementAndGet();
    lane.wake.release();
  }

  /** Waits for the first spooled record of {@code region} and flips its version byte; its seq. */
  static long corruptSpooled(DualPublisher publisher, RegionId region) throws Exception {
    DurableSpool spool = engine(publisher).spool;
    await().atMost(Duration.ofSeconds(10)).until(() -> !spool.read(region, Long.MAX_VALUE, 1).isEmpty());
    DurableSpool.Entry e = spool.read(region, Long.MAX_VALUE, 1).get(0);
    byte[] bytes = e.bytes().clone();
    bytes[0] = (byte) 0x7f; // an unknown record version: same length, so the spool's accounting holds
    spool.append(region, e.seq(), bytes).get(10, TimeUnit.SECONDS);
    return e.seq();
  }

  private static PublisherEngine engine(DualPublisher publisher) throws Exception {
    java.lang.reflect.Field f = DualPublisher.class.getDeclaredField("engine");
    f.setAccessible(true);
    return (PublisherEngine) f.get(publisher);
  }
}
