package dev.tandem.store.replication;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TestRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, defect 1, end to end on a real broker with a real log cleaner: the own broker stalls past
 * the publish timeout between an id's claim (v1) and its completion (v2); the spool then replays v1
 * after v2 ([v1, v2, v1] under one key). After the log cleaner compacted the changelog, an in-region
 * rebalance (revoke, then assign: drop the shard, restore it from the changelog) must see the id
 * COMPLETED, not CLAIMED (which a later copy would re-claim after the claim lease and run again).
 */
class ChangelogCompactionRestoreTest {

  private static final RegionId A = TestRegions.A;

  @Test
  void afterCompactionARestoredIdIsStillCompleted(@TempDir Path dir) throws Exception {
    // the cleaner looks every 100 ms instead of 15 s; a small dedupe buffer suits a test JVM
    try (KafkaRegion region = KafkaRegion.start("region-a",
            Map.of("log.cleaner.backoff.ms", "100", "log.cleaner.dedupe.buffer.size", "4194304"));
        IdempotencyStore store = IdempotencyStore.builder().region(A).instance("i-a")
            .directory(dir.resolve("store")).build()) {
      Properties p = new Properties();
      p.put("bootstrap.servers", region.bootstrapServers());
      Duration timeout = Duration.ofSeconds(2);
      StallingSink sink = new StallingSink(KafkaRegionalSink.create(A, p));
      try (DualPublisher publisher = DualPublisher.builder().sink(sink).ackPolicy(AckPolicy.ANY)
              .timeout(timeout).spoolDirectory(dir.resolve("spool")).build();
          KafkaReplicationLog log = KafkaReplicationLog.builder()
              .store(store)
              .region(A, region.bootstrapServers())
              .publisher(publisher)
              .shards(1)
              .topicPrefix("compaction")
              // small segments, and every dirty segment is cleanable
              .topicConfig("segment.ms", "200")
              .topicConfig("min.cleanable.dirty.ratio", "0.0")
              // no heartbeats: while the broker stalls, only v1 and v2 may time out
              .heartbeatInterval(Duration.ZERO)
              .retryBackoff(Duration.ofMillis(100))
              .materializeAllShards()
              .build()) {
        assertTrue(log.awaitRestored(Duration.ofSeconds(30)));
        String id = "order-1";
        String key = ChangelogCodec.recordKey(A, log.incarnation(), id);

        sink.stall();
        assertInstanceOf(ClaimResult.Acquired.class, store.claim(id, 0,
            PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(1))); // v1: CLAIMED
        long sentAt = System.nanoTime();
        await().atMost(Duration.ofSeconds(10))
            .until(() -> System.nanoTime() - sentAt >= timeout.toNanos() / 2);
        store.complete(id, 0, null); // v2: COMPLETED, sent directly: no copy failed yet
        await().atMost(Duration.ofSeconds(20)).until(() -> publisher.status(A).spooling());
        sink.release(); // the broker recovers; the spool replays v1 after v2 was acknowledged
        assertTrue(publisher.awaitSpoolDrained(Duration.ofSeconds(30)));
        List<Phase> beforeCompaction = copiesOf(region, log.topic(), key);

        // the log cleaner has compacted the key down to one copy (later writes of other ids roll
        // the segment holding the key's copies: the active segment is never cleaned)
        java.util.concurrent.atomic.AtomicInteger fillers = new java.util.concurrent.atomic.AtomicInteger();
        await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(300))
            .until(() -> {
              String filler = "filler-" + fillers.incrementAndGet();
              store.claim(filler, 0, PayloadDigest.of(filler.getBytes(UTF_8)), 0, Duration.ofMinutes(1));
              return copiesOf(region, log.topic(), key).size() == 1;
            });
        List<Phase> left = copiesOf(region, log.topic(), key);

        // an in-region rebalance: the shard is dropped and restored from the compacted changelog
        log.revoke(Set.of(0));
        log.assign(Set.of(0));
        assertTrue(log.awaitRestored(Duration.ofSeconds(30)));
        IdRecord restored = store.get(id, 0).orElseThrow();
        assertEquals(Phase.COMPLETED, restored.phase(),
            "the id after restoring the compacted changelog (copies of its key: " + beforeCompaction
                + " before compaction, " + left + " after)");
      }
    }
  }

  /** Phases of the copies of {@code key} in partition 0, in offset order. */
  static List<Phase> copiesOf(KafkaRegion region, String topic, String key) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, region.bootstrapServers());
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    List<Phase> out = new ArrayList<>();
    byte[] k = key.getBytes(UTF_8);
    TopicPartition tp = new TopicPartition(topic, 0);
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      long end = c.endOffsets(List.of(tp), Duration.ofSeconds(10)).get(tp);
      while (c.position(tp, Duration.ofSeconds(10)) < end) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (r.key() != null && Arrays.equals(k, r.key())) {
            out.add(ChangelogReplayOrderTest.phaseOf(r.value()));
          }
        }
      }
    }
    return out;
  }

  /**
   * A broker that stalls: while stalled, copies reach the real broker but their acknowledgements are
   * held, and {@link #release()} hands them over in send order.
   */
  static final class StallingSink implements RegionalSink {
    private final RegionalSink inner;
    private final List<CompletableFuture<Void>> held = new ArrayList<>();
    private boolean stalled;

    StallingSink(RegionalSink inner) {
      this.inner = inner;
    }

    synchronized void stall() {
      stalled = true;
    }

    void release() {
      List<CompletableFuture<Void>> out;
      synchronized (this) {
        stalled = false;
        out = new ArrayList<>(held);
        held.clear();
      }
      out.forEach(g -> g.complete(null));
    }

    @Override
    public RegionId region() {
      return inner.region();
    }

    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage m) {
      CompletableFuture<SinkAck> sent = inner.send(m);
      CompletableFuture<Void> gate;
      synchronized (this) {
        if (!stalled) {
          return sent;
        }
        gate = new CompletableFuture<>();
        held.add(gate);
      }
      return gate.thenCombine(sent, (v, ack) -> ack);
    }

    @Override
    public CompletableFuture<Void> probe() {
      return inner.probe();
    }

    @Override
    public void flush() {
      inner.flush();
    }

    @Override
    public void close() {
      inner.close();
    }
  }
}
