package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import dev.tandem.store.StoreMeterNames;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.errors.InvalidPidMappingException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnknownProducerIdException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The changelog's sink for one region: a {@link KafkaRegionalSink} whose idempotent producer is
 * replaced by a new one (a new producer id, so sequences restart at 0) when it is out of order with
 * its broker.
 *
 * <p>Two signs trigger a reset, counted in {@code tandem.replication.producer.reset} (tags {@code
 * region}, {@code target}, {@code reason}) with a WARN line:
 *
 * <ul>
 *   <li>{@code overtaken}: a copy is acknowledged while an earlier copy to the same partition is still
 *       unanswered. An idempotent producer acknowledges one partition's batches in order, except in
 *       KAFKA-15591 (a request to a just-created partition failed NOT_LEADER_OR_FOLLOWER while a later
 *       one was appended): the earlier one then spins on OUT_OF_ORDER_SEQUENCE_NUMBER until {@code
 *       delivery.timeout.ms}, holding every later copy of the partition behind it.
 *   <li>{@code idempotence}: a copy failed with an idempotence error ({@link
 *       OutOfOrderSequenceException}, {@link UnknownProducerIdException}, {@link
 *       InvalidProducerEpochException}, {@link ProducerFencedException}, {@link
 *       InvalidPidMappingException}), which can leave the producer refusing every later send.
 * </ul>
 *
 * <p>The old producer is closed at once: its unanswered copies fail, so the {@link
 * dev.tandem.publisher.DualPublisher} spools them and replays them, in publish order, through the new
 * producer; nothing is dropped (a copy the broker had stored may land twice; the changelog applies
 * copies idempotently, and {@link KeyOrder} republishes a key whose older copy landed last).
 */
final class ChangelogSink implements RegionalSink {

  private static final Logger LOG = LoggerFactory.getLogger(ChangelogSink.class);

  private final RegionId region;
  private final Function<RegionId, KafkaRegionalSink> factory;
  private final Counter overtaken;
  private final Counter idempotence;
  private final Object lock = new Object();
  /** Guarded by {@link #lock}. */
  private KafkaRegionalSink current;
  /** Guarded by {@link #lock}: bumped by each reset; outcomes of an older producer are ignored. */
  private long generation;
  /** Guarded by {@link #lock}: call numbers of the copies handed to the current producer. */
  private long nextCall;
  /** Guarded by {@link #lock}: per destination partition, unanswered call numbers in call order. */
  private final Map<String, TreeSet<Long>> unanswered = new HashMap<>();
  private volatile boolean closed;

  ChangelogSink(RegionId localRegion, RegionId region, Properties producerConfig,
      MeterRegistry meters) {
    this(localRegion, region, r -> KafkaRegionalSink.create(r, producerConfig), meters);
  }

  ChangelogSink(RegionId localRegion, RegionId region,
      Function<RegionId, KafkaRegionalSink> factory, MeterRegistry meters) {
    this.region = region;
    this.factory = factory;
    this.current = factory.apply(region);
    this.overtaken = counter(meters, localRegion, region, "overtaken");
    this.idempotence = counter(meters, localRegion, region, "idempotence");
  }

  private static Counter counter(MeterRegistry meters, RegionId local, RegionId target,
      String reason) {
    return Counter.builder(StoreMeterNames.REPLICATION_PRODUCER_RESET)
        .tag("region", local.name())
        .tag("target", target.name())
        .tag("reason", reason)
        .description("changelog producers replaced because they were out of order with their "
            + "broker (overtaken: a later copy of a partition acknowledged before an earlier one, "
            + "KAFKA-15591; idempotence: an idempotence error)")
        .register(meters);
  }

  @Override
  public RegionId region() {
    return region;
  }

  @Override
  public CompletableFuture<SinkAck> send(OutboundMessage m) {
    String partition = m.destination() + "-" + m.shard();
    long gen;
    long call;
    CompletableFuture<SinkAck> f;
    synchronized (lock) {
      gen = generation;
      call = nextCall++;
      unanswered.computeIfAbsent(partition, p -> new TreeSet<>()).add(call);
      f = current.send(m);
    }
    f.whenComplete((ack, error) -> outcome(gen, partition, call, error));
    return f;
  }

  private void outcome(long gen, String partition, long call, Throwable error) {
    String reason = null;
    synchronized (lock) {
      if (gen != generation) {
        return; // a copy of a replaced producer
      }
      TreeSet<Long> calls = unanswered.get(partition);
      if (calls != null) {
        if (error == null && !calls.isEmpty() && calls.first() < call) {
          reason = "overtaken";
        }
        calls.remove(call);
        if (calls.isEmpty()) {
          unanswered.remove(partition);
        }
      }
      if (reason == null && error != null && idempotenceError(error)) {
        reason = "idempotence";
      }
    }
    if (reason != null) {
      reset(gen, partition, reason, error);
    }
  }

  static boolean idempotenceError(Throwable error) {
    for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof OutOfOrderSequenceException || t instanceof UnknownProducerIdException
          || t instanceof InvalidProducerEpochException || t instanceof ProducerFencedException
          || t instanceof InvalidPidMappingException) {
        return true;
      }
    }
    return false;
  }

  /** Replaces the producer of generation {@code gen} (once), closing the old one at once. */
  private void reset(long gen, String partition, String reason, Throwable error) {
    KafkaRegionalSink old;
    synchronized (lock) {
      if (gen != generation || closed) {
        return; // already replaced
      }
      old = current;
      generation++;
      unanswered.clear();
      // closed before the new producer exists: its unsent batches fail (and are spooled and
      // replayed in order) instead of landing after copies of the new producer; from the producer's
      // I/O thread Kafka turns this into a non-blocking close
      old.producer().close(Duration.ZERO);
      current = factory.apply(region);
    }
    ("overtaken".equals(reason) ? overtaken : idempotence).increment();
    LOG.warn("changelog producer to {} replaced ({}: {}); its unacknowledged copies are spooled and "
        + "replayed in order through a new producer (KAFKA-15591)", region, reason,
        "overtaken".equals(reason)
            ? "a later copy of " + partition + " was acknowledged before an earlier one"
            : String.valueOf(error));
    Thread closer = new Thread(old::close, "tandem-changelog-sink-close-" + region.name());
    closer.setDaemon(true);
    closer.start();
  }

  /**
   * Waits until this sink's producer knows a leader for every partition of {@code topic} (so its
   * first copies go straight to a serving leader), up to {@code timeout}.
   *
   * @return whether it does
   */
  boolean awaitLeaders(String topic, int partitions, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    do {
      Producer<byte[], byte[]> p;
      synchronized (lock) {
        p = current.producer();
      }
      try {
        List<PartitionInfo> infos = p.partitionsFor(topic); // blocks up to max.block.ms
        if (infos.size() == partitions && infos.stream().allMatch(i -> i.leader() != null
            && !i.leader().isEmpty())) {
          return true;
        }
      } catch (RuntimeException e) {
        LOG.debug("no metadata of {} in {} yet: {}", topic, region, e.toString());
      }
      TimeUnit.MILLISECONDS.sleep(50); // bounded back-off between metadata requests
    } while (System.nanoTime() < deadline);
    return false;
  }

  @Override
  public CompletableFuture<Void> probe() {
    KafkaRegionalSink s;
    synchronized (lock) {
      s = current;
    }
    return s.probe();
  }

  @Override
  public void flush() {
    KafkaRegionalSink s;
    synchronized (lock) {
      s = current;
    }
    s.flush();
  }

  @Override
  public void close() {
    KafkaRegionalSink s;
    synchronized (lock) {
      closed = true;
      s = current;
    }
    s.close();
  }

  @Override
  public String toString() {
    return "ChangelogSink[" + region + "]";
  }
}
