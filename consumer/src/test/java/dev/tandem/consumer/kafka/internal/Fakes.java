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

    @Override
    public synchronized void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets,
        Duration timeout) {
      commits.add(Map.copyOf(offsets));
      super.commitSync(offsets, timeout);
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
