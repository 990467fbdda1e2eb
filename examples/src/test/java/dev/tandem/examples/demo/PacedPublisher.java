package dev.tandem.examples.demo;

import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishes {@code count} demo orders through a {@link TandemKafkaProducer} at a steady rate on its
 * own thread, as the demo does, recording every acknowledged id in the {@link History}. Keys come
 * from a seeded {@link Random}, so a scenario's shard layout is the same on every run.
 */
final class PacedPublisher {

  private final CompletableFuture<Void> done = new CompletableFuture<>();
  private final AtomicLong acknowledged = new AtomicLong();
  private final Queue<String> failures = new ConcurrentLinkedQueue<>();
  private final AtomicLong sent = new AtomicLong();
  private volatile boolean stopped;

  private PacedPublisher() {}

  /** The demo's dual producer (ack policy ANY, spool in {@code spool}) over both regions. */
  static TandemKafkaProducer<String, byte[]> producer(TwoRegions regions, Path spool) {
    return TandemKafkaProducer.builder(new StringSerializer(), new ByteArraySerializer())
        .region(TwoRegionDemo.A, TwoRegionDemo.quick(regions.a().producerProperties()))
        .region(TwoRegionDemo.B, TwoRegionDemo.quick(regions.b().producerProperties()))
        .publisher(o -> o.spoolDirectory(spool))
        .build();
  }

  /**
   * Starts publishing ids {@code prefix-from .. prefix-(from+count-1)} at {@code rate} per second
   * ({@code count} {@link Integer#MAX_VALUE}: until {@link #stop()}).
   */
  static PacedPublisher start(TandemKafkaProducer<String, byte[]> producer, String topic, String prefix,
      int from, int count, int rate, long seed, History history) {
    PacedPublisher p = new PacedPublisher();
    Thread t = new Thread(() -> {
      try {
        Random random = new Random(seed);
        long start = System.nanoTime();
        long nanosPerMessage = 1_000_000_000L / rate;
        for (int n = 0; n < count && !p.stopped; n++) {
          int i = from + n;
          String id = prefix + "-" + i;
          ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic,
              "customer-" + random.nextInt(1000), ("{\"order\":" + i + "}").getBytes(StandardCharsets.UTF_8));
          rec.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
          producer.send(rec, (md, e) -> {
            if (e == null) {
              history.published(id);
              p.acknowledged.incrementAndGet();
            } else {
              p.failures.add(id + ": " + e);
            }
          });
          p.sent.incrementAndGet();
          long due = start + (long) (n + 1) * nanosPerMessage;
          long left;
          while ((left = due - System.nanoTime()) > 0) {
            LockSupport.parkNanos(Math.min(left, 1_000_000)); // pacing the publisher, not synchronising
          }
        }
        producer.flush();
        p.done.complete(null);
      } catch (RuntimeException e) {
        p.done.completeExceptionally(e);
      }
    }, "paced-publisher-" + prefix);
    t.setDaemon(true);
    t.start();
    return p;
  }

  /** Waits until every send was made and flushed (acknowledged or failed). */
  void await(Duration timeout) throws Exception {
    done.get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  /** Ends the publishing after the send in progress; {@link #await} then waits for the flush. */
  void stop() {
    stopped = true;
  }

  /** Sends made so far: ids {@code prefix-from .. prefix-(from+sent-1)}. */
  long sent() {
    return sent.get();
  }

  long acknowledged() {
    return acknowledged.get();
  }

  Queue<String> failures() {
    return failures;
  }
}
