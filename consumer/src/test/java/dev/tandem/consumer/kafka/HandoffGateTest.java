package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.StubReplicationLog;
import dev.tandem.core.Envelope;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.KafkaEnvelopeHeaders;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.Handoff;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetCommitCallback;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rebalance hand-off of {@link TandemKafkaConsumer} against Kafka's {@link MockConsumer} and a
 * scripted replication log (fast, no cluster): the giving side commits a token at the old offset when
 * its changelog writes are not acknowledged; the receiving side claims nothing until the token's
 * marker is read, or until {@code handoffTimeout}.
 */
class HandoffGateTest {

  static final RegionId A = TestRegions.A;
  static final String TOPIC = "orders";
  static final TopicPartition P0 = new TopicPartition(TOPIC, 0);
  static final List<TopicPartition> FOUR = List.of(P0, new TopicPartition(TOPIC, 1),
      new TopicPartition(TOPIC, 2), new TopicPartition(TOPIC, 3));

  /** A previous holder's token made {@code ageMillis} ago (its mark is an HLC stamp). */
  static Handoff token(long ageMillis) {
    return new Handoff(A, "previous-incarnation", 0, (System.currentTimeMillis() - ageMillis) << 16);
  }

  /** A replication log whose barrier and marker the test controls. */
  static final class ScriptedLog extends StubReplicationLog {
    volatile CompletableFuture<Void> barrier = CompletableFuture.completedFuture(null);
    volatile boolean markerRead;
    final List<Integer> handedOff = new CopyOnWriteArrayList<>();

    ScriptedLog() {
      super(Set.of(0));
    }

    @Override
    public Optional<Handoff> handOff(int shard) {
      handedOff.add(shard);
      return Optional.of(new Handoff(A, "this-incarnation", shard, 7L));
    }

    @Override
    public boolean handedOff(Handoff token) {
      return markerRead;
    }

    @Override
    public CompletableFuture<Void> barrier(int shard, RegionId region) {
      return barrier;
    }
  }

  /**
   * A MockConsumer that behaves like a log (MockConsumer forgets records once polled, so a seek back
   * would find nothing): every poll offers the records of each assigned, unpaused partition from its
   * current position. Records every commit (MockConsumer answers committed() only for assigned
   * partitions).
   */
  static final class RecordingConsumer extends MockConsumer<byte[], byte[]> {
    final List<Map<TopicPartition, OffsetAndMetadata>> commits = new CopyOnWriteArrayList<>();
    private final Map<TopicPartition, java.util.TreeMap<Long, ConsumerRecord<byte[], byte[]>>> log =
        new java.util.HashMap<>();

    RecordingConsumer() {
      super("earliest");
    }

    /** Appends to the log (any thread). */
    synchronized void append(ConsumerRecord<byte[], byte[]> r) {
      log.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), k -> new java.util.TreeMap<>())
          .put(r.offset(), r);
    }

    @Override
    public synchronized org.apache.kafka.clients.consumer.ConsumerRecords<byte[], byte[]> poll(
        Duration timeout) {
      for (var e : log.entrySet()) {
        TopicPartition tp = e.getKey();
        if (assignment().contains(tp) && !paused().contains(tp)) {
          for (ConsumerRecord<byte[], byte[]> r : e.getValue().tailMap(position(tp)).values()) {
            super.addRecord(r);
          }
        }
      }
      org.apache.kafka.clients.consumer.ConsumerRecords<byte[], byte[]> records = super.poll(timeout);
      if (!records.isEmpty()) {
        nonEmptyPolls.incrementAndGet();
      }
      return records;
    }

    /** Polls that returned records (loop turns with work). */
    final java.util.concurrent.atomic.AtomicInteger nonEmptyPolls =
        new java.util.concurrent.atomic.AtomicInteger();

    /**
     * Every commit, blocking or not: MockConsumer's commitSync goes through this method too, so each
     * commit is recorded once whichever way the loop sends it.
     */
    @Override
    public synchronized void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets,
        OffsetCommitCallback callback) {
      commits.add(Map.copyOf(offsets));
      super.commitAsync(offsets, callback);
    }

    /** Blocking commit calls made (the loop waits for the coordinator's answer in each). */
    final java.util.concurrent.atomic.AtomicInteger blockingCommits =
        new java.util.concurrent.atomic.AtomicInteger();
    /** While set, a blocking commit waits for it: a coordinator that answers slowly. */
    volatile java.util.concurrent.CountDownLatch slowCoordinator;

    @Override
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
      blockingCommits.incrementAndGet();
      java.util.concurrent.CountDownLatch slow = slowCoordinator;
      if (slow != null) {
        try {
          slow.await(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      super.commitSync(offsets, timeout);
    }
  }

  record Node(RecordingConsumer kafka, TandemKafkaConsumer<String, byte[]> loop,
      IdempotencyStore store, SimpleMeterRegistry meters, List<String> runs) implements AutoCloseable {
    @Override
    public void close() {
      loop.close();
      store.close();
    }
  }

  static Node node(Path dir, ScriptedLog log, Duration handoffTimeout) {
    return node(dir, log, handoffTimeout, s -> s);
  }

  static Node node(Path dir, ScriptedLog log, Duration handoffTimeout,
      java.util.function.UnaryOperator<IdempotencyStore> wrap) {
    return node(dir, log, handoffTimeout, wrap, Duration.ofMillis(300));
  }

  static Node node(Path dir, ScriptedLog log, Duration handoffTimeout,
      java.util.function.UnaryOperator<IdempotencyStore> wrap, Duration commitTimeout) {
    RecordingConsumer kafka = new RecordingConsumer();
    Map<TopicPartition, Long> beginning = new java.util.HashMap<>();
    FOUR.forEach(tp -> beginning.put(tp, 0L));
    kafka.updateBeginningOffsets(beginning);
    IdempotencyStore store = IdempotencyStore.builder().region(A).instance("i1")
        .directory(dir.resolve("store")).build();
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    List<String> runs = new CopyOnWriteArrayList<>();
    TandemKafkaConsumer<String, byte[]> loop = TandemKafkaConsumer
        .builder(TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
        .consumer(kafka)
        .handler((rec, ctx) -> runs.add(ctx.id()))
        .store(wrap.apply(store))
        .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
        .replicationLog(log, false)
        // claims count as durable at once here; the barrier under test is the offset commit's
        .processorOptions(p -> p.claimsDurable(s -> CompletableFuture.completedFuture(null),
            Duration.ofMillis(100)))
        .commitTimeout(commitTimeout)
        .handoffTimeout(handoffTimeout)
        .pollTimeout(Duration.ofMillis(20))
        .meterRegistry(meters)
        .build();
    return new Node(kafka, loop, store, meters, runs);
  }

  static ConsumerRecord<byte[], byte[]> record(long offset) {
    return record(0, offset);
  }

  static ConsumerRecord<byte[], byte[]> record(int partition, long offset) {
    String id = partition == 0 ? "id-" + offset : "id-" + partition + "-" + offset;
    byte[] payload = ("payload " + offset).getBytes(StandardCharsets.UTF_8);
    ConsumerRecord<byte[], byte[]> r = new ConsumerRecord<>(TOPIC, partition, offset,
        "k".getBytes(StandardCharsets.UTF_8), payload);
    KafkaEnvelopeHeaders.write(Envelope.forPayload(id, payload, partition, System.currentTimeMillis()),
        r.headers());
    return r;
  }

  /**
   * Gives P0 to the node's loop as if a previous holder had handed it off: assigned, the token
   * committed (MockConsumer keeps commits of assigned partitions only), taken away and given back.
   */
  static void receiveHandedOff(Node n) {
    receiveHandedOff(n, token(0));
  }

  static void receiveHandedOff(Node n, Handoff token) {
    n.loop().start();
    rebalance(n.kafka(), List.of(P0));
    await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().assignment().contains(P0));
    n.kafka().schedulePollTask(() -> {
      n.kafka().commitSync(Map.of(P0, new OffsetAndMetadata(0L, token.encode())));
      n.kafka().rebalance(List.of());
      n.kafka().rebalance(List.of(P0));
    });
    await().atMost(Duration.ofSeconds(10)).until(() -> !n.kafka().commits.isEmpty()
        && n.kafka().assignment().contains(P0));
  }

  /** Runs on the poll thread (MockConsumer calls the listener from rebalance). */
  static void rebalance(MockConsumer<byte[], byte[]> kafka, List<TopicPartition> to) {
    kafka.schedulePollTask(() -> kafka.rebalance(to));
  }

  @Test
  void revokeWithUnacknowledgedWritesCommitsAHandoffTokenAtTheOldOffset(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog();
    log.barrier = new CompletableFuture<>(); // the own changelog never acknowledges
    try (Node n = node(dir, log, Duration.ofMinutes(5))) {
      n.loop().start();
      rebalance(n.kafka(), List.of(P0));
      await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().assignment().contains(P0));
      for (long o = 0; o < 3; o++) {
        n.kafka().append(record(o));
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> n.runs().size() == 3);
      rebalance(n.kafka(), List.of());
      await().atMost(Duration.ofSeconds(10)).until(() -> !log.handedOff.isEmpty());
      await().atMost(Duration.ofSeconds(10)).until(() -> !n.kafka().commits.isEmpty());
      assertEquals(1, n.kafka().commits.size(), "only the hand-off commit: " + n.kafka().commits);
      OffsetAndMetadata c = n.kafka().commits.get(0).get(P0);
      assertEquals(0L, c.offset(), "records whose completion is not in the changelog stay uncommitted");
      assertEquals(Optional.of(new Handoff(A, "this-incarnation", 0, 7L)), Handoff.decode(c.metadata()));
      assertEquals(1.0, n.meters().find("tandem.consumer.handoffs").tag("side", "given").counter().count());
    }
  }

  @Test
  void aShardWhoseBarrierFailedIsHandedOffNotTakenAsFlushed(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog();
    log.barrier = new CompletableFuture<>(); // the batch's completions: not acknowledged yet
    try (Node n = node(dir, log, Duration.ofMinutes(5))) {
      n.loop().start();
      rebalance(n.kafka(), List.of(P0));
      await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().assignment().contains(P0));
      for (long o = 0; o < 3; o++) {
        n.kafka().append(record(o));
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> n.runs().size() == 3);
      // a change the writer could not ship (a rejected copy, a write after the log began closing):
      // the shard's barrier fails; its state is not in the changelog, so it is not flushed
      log.barrier = CompletableFuture.failedFuture(new IllegalStateException("unshipped change"));
      rebalance(n.kafka(), List.of());
      await().atMost(Duration.ofSeconds(10)).until(() -> !n.kafka().commits.isEmpty());
      assertEquals(List.of(0), log.handedOff, "a failed barrier is handed off, not taken as flushed");
      OffsetAndMetadata c = n.kafka().commits.get(0).get(P0);
      assertEquals(0L, c.offset(), "records whose completion is not in the changelog stay uncommitted");
      assertTrue(Handoff.decode(c.metadata()).isPresent(), "the commit carries the hand-off token");
    }
  }

  @Test
  void receiverClaimsNothingUntilThePreviousHoldersMarkerIsRead(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog();
    try (Node n = node(dir, log, Duration.ofMinutes(5))) {
      receiveHandedOff(n);
      for (long o = 0; o < 3; o++) {
        n.kafka().append(record(o));
      }
      // the records are fetched again and again, but nothing is claimed or run
      await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3))
          .until(() -> n.runs().isEmpty() && n.store().get("id-0", 0).isEmpty());
      log.markerRead = true;
      await().atMost(Duration.ofSeconds(10)).until(() -> n.runs().size() == 3);
      assertEquals(List.of("id-0", "id-1", "id-2"), n.runs());
      assertEquals(1L, n.meters().find("tandem.consumer.handoff.wait").timer().count());
    }
  }

  @Test
  void receiverProcessesAfterTheHandoffTimeoutAndSaysSo(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog(); // the marker never comes
    try (Node n = node(dir, log, Duration.ofMillis(800))) {
      receiveHandedOff(n);
      n.kafka().append(record(0));
      await().atMost(Duration.ofSeconds(10)).until(() -> n.runs().size() == 1);
      assertEquals(1.0, n.meters().find("tandem.consumer.handoffs").tag("side", "expired")
          .counter().count());
      assertTrue(n.meters().find("tandem.consumer.handoff.wait").timers().isEmpty(),
          "no marker was read");
    }
  }

  // ------------------------------------------------------------- review of the hand-off (D2)

  /**
   * Finding 2: a write acknowledged a few ms after the revoke began (a lease heartbeat, the releases
   * of parked claims) is waited for, within the revoke's budget; it does not start a hand-off (which
   * would make the next holder wait for a marker).
   */
  @Test
  void aWriteAcknowledgedShortlyAfterTheRevokeBeganIsWaitedForNotHandedOff(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog();
    try (Node n = node(dir, log, Duration.ofMinutes(5))) {
      n.loop().start();
      rebalance(n.kafka(), List.of(P0));
      await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().assignment().contains(P0));
      for (long o = 0; o < 3; o++) {
        n.kafka().append(record(o));
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().commits.stream()
          .anyMatch(c -> c.containsKey(P0) && c.get(P0).offset() == 3L));
      int commitsBefore = n.kafka().commits.size();
      CompletableFuture<Void> inFlight = new CompletableFuture<>(); // e.g. a lease heartbeat
      log.barrier = inFlight;
      n.kafka().schedulePollTask(() -> {
        CompletableFuture.delayedExecutor(100, java.util.concurrent.TimeUnit.MILLISECONDS)
            .execute(() -> inFlight.complete(null));
        n.kafka().rebalance(List.of());
      });
      await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().assignment().isEmpty());
      assertEquals(List.of(), log.handedOff, "no hand-off for a write acknowledged in 100 ms");
      assertEquals(commitsBefore, n.kafka().commits.size(), "no token committed: "
          + n.kafka().commits);
    }
  }

  /**
   * Finding 3: once the marker is read the token leaves the committed metadata at once, even when the
   * partition has no new records (before, only the next commit of processed records removed it, so
   * every later holder waited for the same marker again).
   */
  @Test
  void theTokenIsClearedFromTheCommittedMetadataAsSoonAsTheMarkerIsRead(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog();
    try (Node n = node(dir, log, Duration.ofMinutes(5))) {
      receiveHandedOff(n); // one commit so far: the token, at offset 0
      log.markerRead = true; // no records arrive
      await().atMost(Duration.ofSeconds(5)).until(() -> n.kafka().commits.size() >= 2);
      OffsetAndMetadata c = n.kafka().commits.get(1).get(P0);
      assertEquals(0L, c.offset(), "the same offset: nothing was processed");
      assertEquals(Optional.empty(), Handoff.decode(c.metadata()), "no token: " + c.metadata());
    }
  }

  /**
   * Finding 3: the wait is bounded from the token's creation (its HLC mark), not from each
   * assignment: a token older than handoffTimeout (a crashed incarnation's, lingering) is not waited
   * for again by a new holder.
   */
  @Test
  void aTokenOlderThanTheHandoffTimeoutIsNotWaitedForAgain(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog(); // the marker never comes
    try (Node n = node(dir, log, Duration.ofMinutes(5))) {
      receiveHandedOff(n, token(Duration.ofMinutes(10).toMillis()));
      n.kafka().append(record(0));
      await().atMost(Duration.ofSeconds(5)).until(() -> n.runs().size() == 1);
      assertEquals(1.0, n.meters().find("tandem.consumer.handoffs").tag("side", "expired")
          .counter().count());
      await().atMost(Duration.ofSeconds(5)).until(() -> n.kafka().commits.stream().skip(1)
          .allMatch(c -> !c.containsKey(P0) || Handoff.decode(c.get(P0).metadata()).isEmpty())
          && n.kafka().commits.size() >= 2);
    }
  }

  /**
   * Finding 1: the revoke callback has one deadline, not one commitTimeout per partition: four
   * partitions whose changelog writes are never acknowledged are waited for together (about one
   * commitTimeout), then handed off. Before: 4 x commitTimeout one after another, then the tokens.
   */
  @Test
  void aRevokeWaitsOnceForAllItsPartitionsBarriers(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog();
    Duration commitTimeout = Duration.ofSeconds(2);
    try (Node n = node(dir, log, Duration.ofMinutes(5), s -> s, commitTimeout)) {
      n.loop().start();
      rebalance(n.kafka(), FOUR);
      await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().assignment().size() == 4);
      log.barrier = new CompletableFuture<>(); // the own changelog never acknowledges
      for (TopicPartition tp : FOUR) {
        n.kafka().append(record(tp.partition(), 0));
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> n.runs().size() == 4);
      java.util.concurrent.atomic.AtomicLong took = new java.util.concurrent.atomic.AtomicLong();
      n.kafka().schedulePollTask(() -> {
        long t0 = System.nanoTime();
        n.kafka().rebalance(List.of());
        took.set(System.nanoTime() - t0);
      });
      await().atMost(Duration.ofSeconds(30)).until(() -> n.kafka().assignment().isEmpty()
          && took.get() > 0);
      Duration revoke = Duration.ofNanos(took.get());
      assertTrue(revoke.compareTo(commitTimeout.multipliedBy(2)) < 0,
          "the revoke took " + revoke + " (commitTimeout " + commitTimeout + ", 4 partitions)");
      assertEquals(4, log.handedOff.size(), "all four handed off: " + log.handedOff);
      assertEquals(1L, n.meters().find("tandem.consumer.revoke.duration").timer().count());
    }
  }

  /**
   * Finding 5: a partition given up while still waiting for its previous holder's marker (nothing
   * claimed here) commits no token of its own, so no marker is requested for it either.
   */
  @Test
  void aPartitionGivenUpWhileAwaitingItsPreviousHolderRequestsNoMarker(@TempDir Path dir) {
    ScriptedLog log = new ScriptedLog(); // the previous holder's marker never comes
    try (Node n = node(dir, log, Duration.ofMinutes(5))) {
      receiveHandedOff(n);
      n.kafka().append(record(0));
      log.barrier = new CompletableFuture<>(); // this instance's lease writes, unacknowledged
      await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(3))
          .until(() -> n.runs().isEmpty());
      rebalance(n.kafka(), List.of());
      await().atMost(Duration.ofSeconds(10)).until(() -> n.kafka().assignment().isEmpty());
      assertEquals(List.of(), log.handedOff, "no marker without a token");
      assertEquals(1, n.kafka().commits.size(), "the previous holder's token stays: "
          + n.kafka().commits);
    }
  }
}
