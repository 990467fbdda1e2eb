package dev.tandem.consumer.kafka;

import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.A;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.B;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.L;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.MARGIN;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.P0;
import static dev.tandem.consumer.kafka.TandemKafkaConsumerOwnershipTest.WAIT;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.kafka.internal.OwnerBatch;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.ManualClock;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.InMemoryReplicationLog;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20: a blocking Kafka poll whose fetchable partitions are idle waits its whole timeout, and the
 * loop looks at its paused partitions and at the follower's hold only between polls. So the poll
 * must not outlast what the loop waits for: while a partition is paused until a time (a retry
 * backoff, a hand-off recheck, a full replication window) it polls no longer than until then (a
 * record to retry after its backoff was re-read only after the next full poll timeout), and a shard
 * without room in the window looks again after {@link OwnerBatch#WINDOW_RECHECK}, not a poll
 * timeout. Otherwise the configured poll timeout stays.
 * Fast: MockConsumers (which record the timeout each poll was given), no cluster.
 */
class PollTimeoutBoundsTest {

  static final Duration LONG_POLL = Duration.ofSeconds(5);

  /**
   * A MockConsumer over a log of P0 (a seek back reads records again, as a broker's would), that
   * records the longest timeout a poll was given while P0 was paused.
   */
  static final class PausedPollConsumer extends MockConsumer<byte[], byte[]> {
    final TreeMap<Long, ConsumerRecord<byte[], byte[]>> log = new TreeMap<>();
    volatile Duration longestWhilePaused = Duration.ZERO;
    final AtomicInteger polls = new AtomicInteger();
    final AtomicInteger pausesOfP0 = new AtomicInteger();

    PausedPollConsumer() {
      super("earliest");
    }

    @Override
    public synchronized void pause(java.util.Collection<org.apache.kafka.common.TopicPartition> partitions) {
      if (partitions.contains(P0)) {
        pausesOfP0.incrementAndGet();
      }
      super.pause(partitions);
    }

    @Override
    public synchronized ConsumerRecords<byte[], byte[]> poll(Duration timeout) {
      polls.incrementAndGet();
      if (paused().contains(P0) && timeout.compareTo(longestWhilePaused) > 0) {
        longestWhilePaused = timeout;
      }
      if (assignment().contains(P0) && !paused().contains(P0)) {
        for (ConsumerRecord<byte[], byte[]> r : log.tailMap(position(P0)).values()) {
          super.addRecord(r);
        }
      }
      return super.poll(timeout);
    }
  }

  @Test
  void aRecordToRetryIsPolledForAgainAfterItsBackoffNotAfterAPollTimeout(@TempDir Path dir) {
    Duration backoff = Duration.ofMillis(300);
    PausedPollConsumer kafka = new PausedPollConsumer();
    kafka.updateBeginningOffsets(Map.of(P0, 0L));
    kafka.log.put(0L, HandoffGateTest.record(0));
    AtomicInteger attempts = new AtomicInteger();
    try (IdempotencyStore store = IdempotencyStore.builder().region(A).instance("a-1")
            .directory(dir.resolve("a-1")).meterRegistry(new SimpleMeterRegistry()).build();
        TandemKafkaConsumer<String, byte[]> loop = TandemKafkaConsumer
            .builder(HandoffGateTest.TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
            .consumer(kafka)
            .handler((rec, ctx) -> {
              if (attempts.incrementAndGet() == 1) {
                throw new IllegalStateException("first attempt fails");
              }
            })
            .store(store)
            .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
            .processorOptions(p -> p.retryBackoff(backoff))
            .pollTimeout(LONG_POLL)
            .meterRegistry(new SimpleMeterRegistry())
            .build()) {
      loop.start();
      HandoffGateTest.rebalance(kafka, List.of(P0));
      await().atMost(WAIT).until(() -> attempts.get() == 2);
      assertTrue(kafka.longestWhilePaused.compareTo(Duration.ZERO) > 0,
          "the partition was paused for the backoff");
      assertTrue(kafka.longestWhilePaused.compareTo(backoff) <= 0,
          "while the retried record's partition was paused for " + backoff
              + ", no poll may block longer (a poll whose partitions are idle blocks its whole "
              + "timeout); the longest was " + kafka.longestWhilePaused);
    }
  }

  /**
   * Region A's loop owning P0 with W = 4 (a message is a claim and a completion, and a lease renewal is
   * a change too, so the window is full after at most two messages while the peer has not
   * acknowledged), six records on P0, and the link to the peer held from the start: reachable,
   * nothing acknowledged until {@code net.release(A)}. The loop's clock stands still unless a test
   * advances it.
   */
  private static final class HeldPeerLoop implements AutoCloseable {
    final ManualClock clock = new ManualClock(System.currentTimeMillis());
    final InMemoryReplicationLog.Network net;
    final PausedPollConsumer kafka = new PausedPollConsumer();
    final List<String> runs = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final IdempotencyStore store;
    private final InMemoryReplicationLog log;
    private final IdempotencyStore peer;
    private final InMemoryReplicationLog peerLog;
    private final TandemKafkaConsumer<String, byte[]> loop;

    HeldPeerLoop(Path dir) {
      clock.advance(Duration.ofSeconds(1));
      net = InMemoryReplicationLog.network(clock);
      kafka.updateBeginningOffsets(Map.of(P0, 0L));
      kafka.updateEndOffsets(Map.of(P0, 0L)); // answers the own-broker probe
      for (long o = 0; o < 6; o++) {
        kafka.log.put(o, HandoffGateTest.record(o));
      }
      store = IdempotencyStore.builder().region(A).instance("a-1").directory(dir.resolve("a-1"))
          .clock(clock).meterRegistry(new SimpleMeterRegistry()).build();
      log = net.join(store);
      peer = IdempotencyStore.builder().region(B).instance("b-1").directory(dir.resolve("b-1"))
          .clock(clock).meterRegistry(new SimpleMeterRegistry()).build();
      peerLog = net.join(peer);
      log.assign(Set.of(0));
      peerLog.assign(Set.of(0));
      ShardOwnership ownership = ShardOwnership.builder().region(A).regions(List.of(A, B))
          .store(store).replicationLog(log)
          .policy(OwnershipPolicy.automatic(L, MARGIN, Duration.ofSeconds(60))).window(4)
          .revalidateAfter(L).clock(clock).meterRegistry(new SimpleMeterRegistry()).build();
      net.hold(A); // a slow link: reachable, nothing acknowledged by the peer yet
      loop = TandemKafkaConsumer
          .builder(HandoffGateTest.TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
          .consumer(kafka)
          .handler((rec, ctx) -> runs.add(ctx.id()))
          .store(store)
          .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
          .replicationLog(log, false)
          .ownership(ownership)
          .pollTimeout(LONG_POLL)
          .commitTimeout(Duration.ofSeconds(2))
          .clock(clock)
          .meterRegistry(new SimpleMeterRegistry())
          .build();
      loop.start();
      HandoffGateTest.rebalance(kafka, List.of(P0));
    }

    /** Releases the link, then advances the clock until all six ran: each once, in order. */
    void releaseAndExpectAllInOrder(Duration step) {
      net.release(A);
      await().atMost(WAIT).until(() -> {
        clock.advance(step);
        return runs.size() == 6;
      });
      assertEquals(List.of("id-0", "id-1", "id-2", "id-3", "id-4", "id-5"), runs,
          "each once, in order");
    }

    @Override
    public void close() throws Exception {
      try (store; log; peer; peerLog; loop) {
        // closed in reverse order: the loop first, the store last
      }
    }
  }

  @Test
  void aShardWithoutRoomInTheWindowIsLookedAtAgainSoonNotAfterAPollTimeout(@TempDir Path dir)
      throws Exception {
    try (HeldPeerLoop a = new HeldPeerLoop(dir)) {
      await().atMost(WAIT).until(() -> !a.runs.isEmpty());
      // the window is full: the shard is paused (the loop's clock stands still here, so the
      // longest poll while paused is the pause itself)
      await().atMost(WAIT).until(() -> a.kafka.longestWhilePaused.compareTo(Duration.ZERO) > 0);
      assertTrue(a.kafka.longestWhilePaused.compareTo(OwnerBatch.WINDOW_RECHECK) <= 0,
          "a shard without room is looked at again within " + OwnerBatch.WINDOW_RECHECK
              + " (the peer acknowledges at any moment), not after a poll timeout; the pause was "
              + a.kafka.longestWhilePaused);
      a.releaseAndExpectAllInOrder(Duration.ofMillis(20));
    }
  }

  /**
   * While the peer acknowledges nothing (a slow or cut link under a policy that keeps the window), a
   * shard without room must not be fetched again every {@link OwnerBatch#WINDOW_RECHECK}: each
   * recheck seeks back, resumes and fetches the same records from the broker again. The recheck
   * backs off (doubling, up to the poll timeout) while the window stays full.
   */
  @Test
  void aShardWhoseWindowStaysFullBacksOffItsRechecks(@TempDir Path dir) throws Exception {
    try (HeldPeerLoop a = new HeldPeerLoop(dir)) {
      await().atMost(WAIT).until(() -> !a.runs.isEmpty());
      await().atMost(WAIT).until(() -> a.kafka.pausesOfP0.get() > 0);
      int before = a.kafka.pausesOfP0.get();
      // one second of the loop's clock in steps of the recheck; after each step the loop polls
      // twice (a MockConsumer poll does not block), so every recheck that is due is made
      long steps = Duration.ofSeconds(1).toMillis() / OwnerBatch.WINDOW_RECHECK.toMillis();
      for (int i = 0; i < steps; i++) {
        a.clock.advance(OwnerBatch.WINDOW_RECHECK);
        int polls = a.kafka.polls.get();
        await().atMost(WAIT).until(() -> a.kafka.polls.get() >= polls + 2);
      }
      int rechecks = a.kafka.pausesOfP0.get() - before;
      // doubling from 10 ms: 10+20+40+80+160+320+640 > 1000 ms, so at most 7 in the second
      assertTrue(rechecks <= 8, "a shard whose window stayed full for 1 s was fetched again "
          + rechecks + " times (every " + OwnerBatch.WINDOW_RECHECK + " would be " + steps
          + "); the rechecks back off while nothing is acknowledged");
      assertTrue(rechecks >= 3, "the full shard is still looked at again: " + rechecks);
      a.releaseAndExpectAllInOrder(Duration.ofMillis(50));
    }
  }
}
