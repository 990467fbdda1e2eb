package dev.tandem.publisher;

import static dev.tandem.publisher.MockRegionProducers.A;
import static dev.tandem.publisher.MockRegionProducers.B;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.NetworkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A publish whose copy for one region fails on the sending thread after the other region's copy went
 * out (found by review s7-r): here the copy cannot be written to the spool because its record cannot
 * be encoded (a header name over the 65,535 UTF-8 bytes of the spool format's strings; Kafka accepts
 * it). The publish must still end: every copy settled and counted, the caller told once — through its
 * future or record callback, naming the region — and the in-flight counts given back, so flush() and
 * close() return. In memory, no broker.
 */
class PublishStartFailureTest {

  private static final String TOPIC = "start";
  private static final Duration BOUND = Duration.ofSeconds(10);

  /** A header name the spool format cannot hold (its strings are at most 65,535 UTF-8 bytes). */
  private static final String UNSPOOLABLE_NAME = "h".repeat(70_000);

  /** Acknowledges every copy at once. */
  private record Acking(RegionId region) implements RegionalSink {
    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage message) {
      return CompletableFuture.completedFuture(new SinkAck(region, message.destination(), message.shard(), 0, 0));
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }

  /** A region that is down: every send fails (a region error, so the copy goes to the spool). */
  private record Down(RegionId region) implements RegionalSink {
    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage message) {
      return CompletableFuture.failedFuture(new IllegalStateException(region + " is down"));
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }

  /** What {@code publish(m)} did: the future it answered, or what it threw (never both). */
  private record Attempt(CompletableFuture<PublishResult> future, Throwable thrown) {

    static Attempt of(DualPublisher publisher, OutboundMessage m) {
      try {
        return new Attempt(publisher.publish(m), null);
      } catch (Throwable e) {
        return new Attempt(null, e);
      }
    }
  }

  private static OutboundMessage plain() {
    return OutboundMessage.builder(TOPIC, 0).value("v".getBytes(StandardCharsets.UTF_8)).build();
  }

  private static OutboundMessage unspoolable() {
    return OutboundMessage.builder(TOPIC, 0).value("v".getBytes(StandardCharsets.UTF_8))
        .header(UNSPOOLABLE_NAME, new byte[] {1}).build();
  }

  private static DualPublisher publisher(Path spool, SimpleMeterRegistry meters) {
    return DualPublisher.builder().sink(new Acking(A)).sink(new Down(B))
        .spoolDirectory(spool).ackPolicy(AckPolicy.ANY).timeout(Duration.ofSeconds(5))
        .meterRegistry(meters).build();
  }

  private static double failed(SimpleMeterRegistry meters, RegionId region, String outcome) {
    var c = meters.find(PublisherMeterNames.FAILED).tag(PublisherMeterNames.TAG_REGION, region.name())
        .tag(PublisherMeterNames.TAG_OUTCOME, outcome).counter();
    return c == null ? 0 : c.count();
  }

  private static double published(SimpleMeterRegistry meters, String outcome) {
    return meters.get(PublisherMeterNames.PUBLISHED).tag(PublisherMeterNames.TAG_OUTCOME, outcome).counter().count();
  }

  /** The publish failed naming region B alone, region A having acknowledged its copy. */
  private static PublishException failedInBOnly(ExecutionException thrown) {
    PublishException failure = assertInstanceOf(PublishException.class, thrown.getCause());
    assertEquals(Set.of(B), failure.failures().keySet(), failure.toString());
    assertEquals(Set.of(A), failure.acknowledged(), failure.toString());
    return failure;
  }

  /** Test steps that may throw. */
  private interface Steps {
    void run() throws Exception;
  }

  /**
   * Runs {@code steps}, then closes {@code closeable} within {@link #BOUND}; if a step fails, closes
   * it in the background instead (a close behind a publish that never ends would hang the run).
   */
  private static void closeAfter(AutoCloseable closeable, Steps steps) throws Exception {
    try {
      steps.run();
    } catch (Throwable t) {
      closeInBackground(closeable);
      throw t;
    }
    closeWithin(closeable);
  }

  /**
   * Closes on another thread and fails if that takes longer than {@link #BOUND} (a close that waits
   * for a publish that never ends would otherwise hang the test run; the thread is a daemon).
   */
  private static void closeWithin(AutoCloseable closeable) throws InterruptedException {
    Thread t = closeInBackground(closeable);
    t.join(BOUND.toMillis());
    assertTrue(!t.isAlive(), "close() did not return within " + BOUND
        + ": it waits for a publish whose in-flight count was never given back");
  }

  /** After a failed assertion: closes on a daemon thread without waiting (it may never return). */
  private static Thread closeInBackground(AutoCloseable closeable) {
    Thread t = new Thread(() -> {
      try {
        closeable.close();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }, "closer");
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** The copy for region B is dispatched to the spool (B is spooling) after A's copy went out. */
  @Test
  void aCopyThatCannotBeSpooledAfterTheOtherRegionsCopyWentOutFailsThePublishAndFlushReturns(
      @TempDir Path spool) throws Exception {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    DualPublisher publisher = publisher(spool, meters);
    closeAfter(publisher, () -> {
      publisher.publish(plain()).get(BOUND.toSeconds(), TimeUnit.SECONDS); // A acks, B's copy spooled
      assertTrue(publisher.status(B).spooling(), "region B's copies go to the spool now");

      Attempt attempt = Attempt.of(publisher, unspoolable());
      CompletableFuture<PublishResult> f = attempt.future();
      Throwable thrownByPublish = attempt.thrown();
      assertTimeoutPreemptively(BOUND, publisher::flush,
          "flush() waits for a publish whose in-flight count was never given back");
      assertNull(thrownByPublish, "publish() threw after region A's copy went out (A will acknowledge"
          + " a copy its caller was told failed): " + thrownByPublish);
      PublishException failure = failedInBOnly(assertThrows(ExecutionException.class, f::get));
      assertTrue(failure.failures().get(B).getMessage().contains("spool"), failure.failures().get(B).toString());
      assertEquals(1.0, failed(meters, B, "spool_error"), "the copy that could not be spooled is counted");
      assertEquals(1.0, published(meters, "ok"));
      assertEquals(1.0, published(meters, "failed"));
    });
  }

  /** Region B's direct send fails (inline) and its copy cannot be spooled either. */
  @Test
  void aDirectCopyThatFailsAndCannotBeSpooledFailsThePublish(@TempDir Path spool) throws Exception {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    DualPublisher publisher = publisher(spool, meters);
    closeAfter(publisher, () -> {
      CompletableFuture<PublishResult> f = publisher.publish(unspoolable());
      failedInBOnly(assertThrows(ExecutionException.class,
          () -> f.get(BOUND.toSeconds(), TimeUnit.SECONDS),
          "the publish never completes: region B's copy was neither sent nor spooled nor failed"));
      assertEquals(1.0, failed(meters, B, "spool_error"));
      assertTimeoutPreemptively(BOUND, publisher::flush);
      assertEquals(1.0, published(meters, "failed"));
    });
  }

  /**
   * A sink whose send throws an Error (not an Exception) for region B, on the direct send and on the
   * first replay: the copy is spooled, the publish ends, and the replayer survives to deliver the
   * copy once the sink works again.
   */
  @Test
  void aCopyWhoseSinkThrowsAnErrorOnSendIsSpooledAndThePublishEnds(@TempDir Path spool) throws Exception {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    java.util.concurrent.atomic.AtomicInteger throwsLeft = new java.util.concurrent.atomic.AtomicInteger(2);
    RegionalSink throwing = new RegionalSink() {
      @Override
      public RegionId region() {
        return B;
      }

      @Override
      public CompletableFuture<SinkAck> send(OutboundMessage message) {
        if (throwsLeft.getAndDecrement() > 0) {
          throw new NoClassDefFoundError("simulated: a class the sink needs is missing");
        }
        return CompletableFuture.completedFuture(new SinkAck(B, message.destination(), message.shard(), 0, 0));
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    DualPublisher publisher = DualPublisher.builder().sink(new Acking(A)).sink(throwing)
        .spoolDirectory(spool).ackPolicy(AckPolicy.ANY).timeout(Duration.ofSeconds(5))
        .meterRegistry(meters).build();
    closeAfter(publisher, () -> {
      Attempt attempt = Attempt.of(publisher, plain());
      CompletableFuture<PublishResult> f = attempt.future();
      Throwable thrownByPublish = attempt.thrown();
      assertNull(thrownByPublish, "publish() threw after region A's copy went out: " + thrownByPublish);
      PublishResult r = f.get(BOUND.toSeconds(), TimeUnit.SECONDS);
      assertEquals(Set.of(A), r.acknowledged().keySet(), r.toString());
      assertEquals(Set.of(B), r.spooled(), r.toString());
      assertEquals(1.0, failed(meters, B, "error"));
      assertTimeoutPreemptively(BOUND, publisher::flush);
      // the first replay throws the Error too; the replayer must live on and deliver the copy
      assertEquals(B, r.delivery(B).get(BOUND.toSeconds(), TimeUnit.SECONDS).region(),
          "the spooled copy was never replayed: the replayer thread died of the sink's Error");
    });
  }

  /**
   * Through {@link TandemKafkaProducer}: the record's callback runs once with the failure, the future
   * fails, and the producer's own in-flight count is given back exactly once — a later record's flush
   * still waits for that record and returns (a count ended twice would make it return early or never).
   */
  @Test
  void aTandemKafkaProducerRecordWhoseCopyCannotBeSpooledFailsThroughItsCallbackOnce(@TempDir Path spool)
      throws Exception {
    MockProducer<byte[], byte[]> a = MockRegionProducers.mock(TOPIC, true);
    MockProducer<byte[], byte[]> b = MockRegionProducers.mock(TOPIC, true);
    b.sendException = new NetworkException("region-b is down"); // a region error: copies spooled
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    TandemKafkaProducer<byte[], byte[]> producer = MockRegionProducers.producer(a, b, spool, AckPolicy.ANY, meters);
    closeAfter(producer, () -> {
      byte[] v = "v".getBytes(StandardCharsets.UTF_8);
      producer.send(new ProducerRecord<>(TOPIC, 0, null, v)).get(BOUND.toSeconds(), TimeUnit.SECONDS);
      await().atMost(BOUND).until(() -> producer.publisher().status(B).spooling());

      List<Exception> callbackErrors = new CopyOnWriteArrayList<>();
      ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(TOPIC, 0, null, v);
      record.headers().add(UNSPOOLABLE_NAME, new byte[] {1});
      Future<?> f = null;
      RuntimeException thrownBySend = null;
      try {
        f = producer.send(record, (meta, error) -> callbackErrors.add(error));
      } catch (RuntimeException e) {
        thrownBySend = e;
      }
      assertTimeoutPreemptively(BOUND, producer::flush);
      assertNull(thrownBySend, "send() threw after region A's copy went out: " + thrownBySend);
      ExecutionException thrown = assertThrows(ExecutionException.class, f::get);
      assertInstanceOf(PublishException.class, thrown.getCause());
      assertEquals(1, callbackErrors.size(), "the callback runs once: " + callbackErrors);
      assertInstanceOf(PublishException.class, callbackErrors.get(0));

      // the producer's in-flight count is intact: a later record is waited for and counted
      producer.send(new ProducerRecord<>(TOPIC, 1, null, v)).get(BOUND.toSeconds(), TimeUnit.SECONDS);
      assertTimeoutPreemptively(BOUND, producer::flush);
      assertEquals(2.0, published(meters, "ok"));
      assertEquals(1.0, published(meters, "failed"));
      assertEquals(1.0, failed(meters, B, "spool_error"));
    });
  }
}
