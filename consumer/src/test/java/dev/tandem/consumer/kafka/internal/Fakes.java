package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.Envelope;
import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/** In-memory stand-ins for the loop's parts' collaborators (no Kafka broker, no store). */
final class Fakes {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  static final String TOPIC = "orders";
  static final TopicPartition P0 = new TopicPartition(TOPIC, 0);

  private Fakes() {}

  /** A ManualClock past nanoTime 0 (a hold start of 0 reads as "not holding"). */
  static ManualClock clock() {
    ManualClock c = new ManualClock(1_000_000L);
    c.advance(Duration.ofSeconds(1));
    return c;
  }

  /** A MockConsumer that records its commits, with {@code tps} assigned at offset 0. */
  static final class Kafka extends MockConsumer<byte[], byte[]> {
    final List<Map<TopicPartition, OffsetAndMetadata>> commits = new CopyOnWriteArrayList<>();

    Kafka(TopicPartition... tps) {
      super("earliest");
      assign(List.of(tps));
      Map<TopicPartition, Long> beginning = new java.util.HashMap<>();
      for (TopicPartition tp : tps) {
        beginning.put(tp, 0L);
      }
      updateBeginningOffsets(beginning);
    }

    /** Blocking commit calls (commitSync, any map). */
    final java.util.concurrent.atomic.AtomicInteger blockingCommits =
        new java.util.concurrent.atomic.AtomicInteger();
    /**
     * True: like the real client, an async commit is answered later — in order, when the test
     * answers it ({@link #answerNext}) or a blocking commit waits for it — and its callback runs in
     * the next poll, commitSync or commitAsync. False (default): MockConsumer's way, answered and
     * called back inside commitAsync.
     */
    volatile boolean deferAnswers;
    private final java.util.ArrayDeque<Object[]> unanswered = new java.util.ArrayDeque<>();
    private final java.util.ArrayDeque<Runnable> answered = new java.util.ArrayDeque<>();
    /**
     * What the coordinator answers the async commits in flight with when a blocking commit waits
     * for them, oldest first ({@link #answerNext} with each; once empty, success).
     */
    final java.util.Queue<Exception> errorsAtBlockingCommit =
        new java.util.concurrent.ConcurrentLinkedQueue<>();

    @Override
    public synchronized void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets,
        Duration timeout) {
      blockingCommits.incrementAndGet();
      // the coordinator answers a connection's requests in order: the async ones sent before first
      while (!unanswered.isEmpty()) {
        answerNext(errorsAtBlockingCommit.poll());
      }
      runAnswered();
      if (!offsets.isEmpty()) {
        commits.add(Map.copyOf(offsets));
        super.commitAsync(offsets, null);
      }
    }

    @Override
    public synchronized void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets,
        org.apache.kafka.clients.consumer.OffsetCommitCallback callback) {
      runAnswered();
      commits.add(Map.copyOf(offsets));
      if (deferAnswers) {
        unanswered.add(new Object[] {Map.copyOf(offsets), callback});
      } else {
        super.commitAsync(offsets, callback);
      }
    }

    /** The coordinator answers the oldest async commit ({@code error} null: success). */
    @SuppressWarnings("unchecked")
    synchronized void answerNext(Exception error) {
      Object[] c = unanswered.poll();
      if (c == null) {
        throw new IllegalStateException("no async commit in flight");
      }
      Map<TopicPartition, OffsetAndMetadata> offsets = (Map<TopicPartition, OffsetAndMetadata>) c[0];
      var cb = (org.apache.kafka.clients.consumer.OffsetCommitCallback) c[1];
      if (error == null) {
        super.commitAsync(offsets, null);
      }
      answered.add(() -> cb.onComplete(offsets, error));
    }

    /** Async commits not answered yet. */
    synchronized int unanswered() {
      return unanswered.size();
    }

    @Override
    public synchronized org.apache.kafka.clients.consumer.ConsumerRecords<byte[], byte[]> poll(
        Duration timeout) {
      runAnswered();
      return super.poll(timeout);
    }

    private void runAnswered() {
      Runnable r;
      while ((r = answered.poll()) != null) {
        r.run();
      }
    }

    /** The offset the group has for {@code tp}: successful commits only (-1: none). */
    synchronized long groupHas(TopicPartition tp) {
      OffsetAndMetadata om = committed(java.util.Set.of(tp)).get(tp);
      return om == null ? -1 : om.offset();
    }

    /** The last committed offset of {@code tp} (-1: none). */
    long lastCommit(TopicPartition tp) {
      long c = -1;
      for (Map<TopicPartition, OffsetAndMetadata> m : commits) {
        if (m.containsKey(tp)) {
          c = m.get(tp).offset();
        }
      }
      return c;
    }
  }

  static LoopContext ctx(Kafka kafka, ManualClock clock, SimpleMeterRegistry meters) {
    return new LoopContext(kafka, B, clock, meters);
  }

  /** Record {@code offset} of P0, whose id is {@code id-<offset>}. */
  static ConsumerRecord<byte[], byte[]> record(long offset) {
    return new ConsumerRecord<>(TOPIC, 0, offset, "k".getBytes(StandardCharsets.UTF_8),
        ("payload " + offset).getBytes(StandardCharsets.UTF_8));
  }

  static String idOf(IncomingMessage m) {
    return "id-" + ((ConsumerRecord<?, ?>) m.transportMessage()).offset();
  }

  /** This region's store as the follower sees it: the ids completed so far (any thread). */
  static final class Completions implements FollowerHold.Completions {
    final Set<String> terminal = ConcurrentHashMap.newKeySet();

    @Override
    public Optional<Envelope> envelopeOf(IncomingMessage m) {
      ConsumerRecord<?, ?> r = (ConsumerRecord<?, ?>) m.transportMessage();
      return Optional.of(Envelope.forPayload(idOf(m), (byte[]) r.value(), r.partition(), 1_000_000L));
    }

    @Override
    public boolean terminal(IncomingMessage m) {
      return terminal.contains(idOf(m));
    }
  }

  /** Ownership whose owner of every shard the test sets. */
  static final class Ownership implements FollowerHold.Ownership {
    volatile RegionId owner = A;
    final RegionId self;

    Ownership(RegionId self) {
      this.self = self;
    }

    @Override
    public boolean owns(int shard) {
      return owner.equals(self);
    }

    @Override
    public Optional<TakeoverReport> observe(int shard, Duration heldFor) {
      return Optional.empty();
    }

    @Override
    public RegionId owner(int shard) {
      return owner;
    }
  }

  /** A region's sink that keeps what it was sent. */
  static final class Sink implements RegionalSink {
    final RegionId region;
    final List<OutboundMessage> sent = new CopyOnWriteArrayList<>();

    Sink(RegionId region) {
      this.region = region;
    }

    @Override
    public RegionId region() {
      return region;
    }

    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage message) {
      sent.add(message);
      return new CompletableFuture<>(); // never acknowledged: the follower holds on regardless
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }
}
