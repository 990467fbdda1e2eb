package dev.tandem.benchmarks;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * The figure a team compares first: how much of a plain Kafka pipeline's throughput and latency is
 * kept with Tandem. Three pipelines on the same two brokers (the regions JVM, {@link RegionsProcess}),
 * chosen by {@code pipeline}:
 *
 * <ul>
 *   <li>{@code tandem}: {@link TandemKafkaProducer} (ack policy ANY, the default) to both regions;
 *       both regions consume with the full guarantee through {@link TandemRegion#kafkaConsumer} (claim,
 *       a handler that does nothing but stamp, complete, commit after the own changelog; the other
 *       region follows and acknowledges once the completion replicated). A record is done when its
 *       owner ran the handler AND its follower acknowledged it ({@code
 *       tandem.consumer.follower.acknowledged}).
 *   <li>{@code raw1}: one {@link KafkaProducer} and one {@link KafkaConsumer} poll loop in region-a
 *       ({@code enable.auto.commit=false}, {@code commitSync} after each non-empty poll).
 *   <li>{@code raw2}: "active/active without Tandem": every record sent to both regions by two raw
 *       producers, and both regions' raw poll loops process everything (each record handled twice);
 *       a record is done when both regions handled it.
 * </ul>
 *
 * <p>{@code saturation} (records/s): batches of {@value #BATCH} sends with one batch in flight (the
 * call returns once everything but the last batch is done), so producer and consumers overlap.
 *
 * <p>{@code openLoop} (achieved records/s ≈ {@code rate}): one send per scheduled slot at {@code rate}
 * per second; the latencies land as secondary results through {@link EndToEndLatencyProfiler}
 * ({@code -prof dev.tandem.benchmarks.EndToEndLatencyProfiler}, which {@code run.sh} always adds):
 * {@code e2e.p50/p99} (publish call → handler start, from a {@code System.nanoTime()} stamp in the
 * value, one clock since producer and consumers share this JVM), and for {@code tandem} {@code
 * follower.p50/p99} (the follower's added latency: its copy received by its poll, an interceptor's
 * stamp → the owner's COMPLETED applied in its store; 0 when the completion was there first) and
 * {@code replication.p50/p99} (owner's COMPLETED written → applied in the follower's store), so the
 * goal "follower p99 ≤ replication p99 + 10 ms" is checked within one run; and {@code split.*},
 * the follower's added latency of each held copy split into the stages of the owner's path
 * (follower poll vs owner poll, owner poll → claim written → handler → COMPLETED written → applied
 * in the follower), on the same clock, from the same hooks ({@link FollowerStages}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 3, time = 3)
@Fork(value = 2, jvmArgsAppend = {"-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
public class EndToEndBenchmark {

  static final int BATCH = 1000;
  static final int SHARDS = 4;
  static final int VALUE_BYTES = 100;
  /** A batch that is not done in this long fails the run (a stuck pipeline is not a slow one). */
  static final long STALL_NANOS = TimeUnit.SECONDS.toNanos(120);

  @Param({"tandem", "raw1", "raw2"})
  public String pipeline;

  /** The open-loop rate, records/s ({@code openLoop} only). */
  @Param({"1000"})
  public int rate;

  RegionsProcess regions;
  Path dir;
  String topic;
  final List<AutoCloseable> closeables = new ArrayList<>();
  final List<Thread> loops = new ArrayList<>();
  volatile boolean running = true;

  /** Sends one record (the value carries the send's nanoTime in its first 8 bytes). */
  Sender sender;
  /** Records fully done (see the class comment), monotonic. */
  Done done;
  long sent;
  long nextDue;
  long period;

  interface Sender {
    void send(byte[] key, byte[] value);
  }

  interface Done {
    long count();
  }

  // ------------------------------------------------------------------ measurement state (static:
  // the profiler reads it; one benchmark runs per fork)

  static final Samples E2E = new Samples();
  static final Samples FOLLOWER = new Samples();
  static final Samples REPLICATION = new Samples();
  /** Per region index (0 = a, 1 = b): id -> nanoTime the copy was polled there. */
  static final List<Map<String, Long>> RECEIVED = List.of(new ConcurrentHashMap<>(), new ConcurrentHashMap<>());
  /** Per region index: id -> nanoTime a remote COMPLETED was applied before the copy arrived. */
  static final List<Map<String, Long>> APPLIED_FIRST = List.of(new ConcurrentHashMap<>(), new ConcurrentHashMap<>());
  /** id -> region index whose handler ran it (the owner). */
  static final Map<String, Integer> OWNER = new ConcurrentHashMap<>();
  /** id -> nanoTime of the owner's local COMPLETED write. */
  static final Map<String, Long> COMPLETED_AT = new ConcurrentHashMap<>();

  // ------------------------------------------------------------------ per-message counts (tandem):
  // where a message's path does work and waits, read by EndToEndLatencyProfiler as per-iteration
  // deltas divided by the messages handled (counts, not timings: the load does not move them)

  /**
   * The two regions' meters (the consumers', stores' and changelogs'), every one ever registered:
   * totals that survive a store's close removing its meters (see {@link MeterTotals}).
   */
  static final MeterTotals METERS = new MeterTotals();
  /**
   * The measured window of an iteration: what {@link EndToEndLatencyProfiler} divides by. Taken at
   * the iteration's setup and teardown (JMH runs them inside the iteration, outside the measured
   * time, after the trial setup and before the trial teardown, which in the last iteration closes
   * the regions), so neither the regions' start nor their close, nor the profilers' own reading of
   * {@code /proc}, is in it.
   */
  record Window(Map<String, Double> counts, long done, ProcessCpu.Sample cpu) {}

  static volatile Window windowStart;
  static volatile Window windowEnd;
  /** This fork's brokers and clients (null until the trial setup found the regions). */
  static volatile ProcessCpu cpu;

  /** Messages whose handler ran (owners only), all regions. */
  static final AtomicLong HANDLED = new AtomicLong();
  /** Non-empty polls of the Tandem consumers, their records, their partition batches, commits. */
  static final AtomicLong POLLS = new AtomicLong();
  static final AtomicLong POLLED_RECORDS = new AtomicLong();
  static final AtomicLong PARTITION_BATCHES = new AtomicLong();
  static final AtomicLong COMMITS = new AtomicLong();

  /** Counts the meters of {@code registry} (a region's) in {@link #tandemCounts}. */
  static void countMeters(MeterRegistry registry) {
    METERS.watch(registry);
  }

  /** Forgets the counted registries and zeroes the counts (tests). */
  static void resetCounts() {
    METERS.clear();
    for (AtomicLong a : List.of(HANDLED, POLLS, POLLED_RECORDS, PARTITION_BATCHES, COMMITS)) {
      a.set(0);
    }
  }

  /**
   * Cumulative counts of the Tandem pipeline, by name (see EndToEndLatencyProfiler for what each
   * means per message). Empty for the raw pipelines.
   */
  static Map<String, Double> tandemCounts() {
    Map<String, Double> m = new LinkedHashMap<>();
    if (METERS.isEmpty()) {
      return m;
    }
    m.put("handled", (double) HANDLED.get());
    m.put("polls", (double) POLLS.get());
    m.put("polled.records", (double) POLLED_RECORDS.get());
    m.put("partition.batches", (double) PARTITION_BATCHES.get());
    m.put("commits", (double) COMMITS.get());
    m.put("changelog.sent", METERS.count("tandem.replication.sent", "type", "record"));
    m.put("remote.applied", METERS.count("tandem.store.remote.applied"));
    m.put("store.claims", METERS.count("tandem.store.claims"));
    m.put("store.completes", METERS.count("tandem.store.completes"));
    m.put("publisher.sent", METERS.count("tandem.publisher.sent"));
    m.put("follower.acks", METERS.count("tandem.consumer.follower.acknowledged"));
    double[] hold = METERS.timer("tandem.consumer.follower.hold");
    m.put("follower.holds", hold[0]);
    m.put("follower.hold.nanos", hold[1]);
    return m;
  }

  @Setup(Level.Trial)
  public void setUp(BenchmarkParams params) throws Exception {
    // the stage split's stamps only where the profiler reads them (openLoop, Tandem), and only in a
    // run that asks for them (TANDEM_BENCH_SPLIT=1, run.sh's own split group): in an A/B on this
    // machine they added ~10 ms to the follower and replication p99s they split (GC and map work on
    // the apply and poll threads), so the goal rows are measured without them
    FollowerStages.reset();
    FollowerStages.enabled = "tandem".equals(pipeline)
        && params.getBenchmark().endsWith(".openLoop")
        && "1".equals(System.getenv("TANDEM_BENCH_SPLIT"));
    regions = RegionsProcess.start();
    cpu = ProcessCpu.forThisFork();
    dir = Files.createTempDirectory("tandem-bench-e2e");
    topic = regions.createTopic("bench-e2e", SHARDS);
    switch (pipeline) {
      case "tandem" -> tandem();
      case "raw1" -> raw(1);
      case "raw2" -> raw(2);
      default -> throw new IllegalArgumentException("pipeline tandem|raw1|raw2, got " + pipeline);
    }
    // the group joins, topic metadata, ownership and changelog restore happen here, not measured
    long before = done.count();
    for (int i = 0; i < 200; i++) {
      sendOne();
    }
    awaitDone(before + 200);
  }

  private void tandem() throws Exception {
    // the dead-letter topics the consumers write to, created like the consumed one
    String prefix = "bench-e2e-cl-" + UUID.randomUUID().toString().substring(0, 8);
    regions.createNamedTopic(KafkaDeadLetterSink.topicFor(topic), SHARDS);
    List<Counter> followerAcks = new ArrayList<>();
    AtomicLong handled = new AtomicLong();
    for (String r : List.of(RegionsProcess.A, RegionsProcess.B)) {
      int index = r.equals(RegionsProcess.A) ? 0 : 1;
      MeterRegistry meters = new SimpleMeterRegistry();
      countMeters(meters);
      Map<String, String> bootstrap = new LinkedHashMap<>();
      bootstrap.put(RegionsProcess.A, regions.bootstrap(RegionsProcess.A));
      bootstrap.put(RegionsProcess.B, regions.bootstrap(RegionsProcess.B));
      TandemRegion region = TandemRegion.builder()
          .regions(bootstrap)
          .localRegion(r)
          .stateDir(dir.resolve(r))
          .shards(SHARDS)
          .groupId("bench-e2e")
          .config("tandem.changelog.topic.prefix", prefix)
          .config(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
          .meterRegistry(meters)
          .build();
      closeables.add(0, region);
      region.store().addListener(new StoreStamps(index));
      TandemKafkaConsumer<byte[], byte[]> consumer = region.kafkaConsumer(topic,
          new ByteArrayDeserializer(), new ByteArrayDeserializer(),
          (rec, ctx) -> {
            long start = System.nanoTime();
            if (FollowerStages.enabled) {
              FollowerStages.handlerStarted(ctx.id(), start);
            }
            E2E.add(start - ByteBuffer.wrap(rec.value()).getLong(0));
            OWNER.put(ctx.id(), index);
            RECEIVED.get(index).remove(ctx.id()); // the owner is no follower of it
            handled.incrementAndGet();
            HANDLED.incrementAndGet();
          },
          Map.of(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG, ReceiveStamp.class.getName(),
              ReceiveStamp.REGION_INDEX, Integer.toString(index)),
          b -> {});
      consumer.start();
      followerAcks.add(meters.counter("tandem.consumer.follower.acknowledged", "region", r));
    }
    TandemKafkaProducer<byte[], byte[]> producer =
        TandemKafkaProducer.builder(new ByteArraySerializer(), new ByteArraySerializer())
            .region(RegionId.of(RegionsProcess.A), regions.producer(RegionsProcess.A))
            .region(RegionId.of(RegionsProcess.B), regions.producer(RegionsProcess.B))
            .publisher(o -> o.spoolDirectory(dir.resolve("spool")))
            .build();
    closeables.add(0, producer);
    sender = (k, v) -> producer.send(new ProducerRecord<>(topic, k, v));
    done = () -> Math.min(handled.get(),
        (long) (followerAcks.get(0).count() + followerAcks.get(1).count()));
  }

  private void raw(int regionCount) {
    List<String> names = List.of(RegionsProcess.A, RegionsProcess.B).subList(0, regionCount);
    List<KafkaProducer<byte[], byte[]>> producers = new ArrayList<>();
    List<AtomicLong> counts = new ArrayList<>();
    for (String r : names) {
      KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(regions.producer(r));
      producers.add(p);
      closeables.add(0, p);
      AtomicLong count = new AtomicLong();
      counts.add(count);
      KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(regions.consumer(r, "bench-e2e"));
      Thread loop = new Thread(() -> {
        try (c) {
          c.subscribe(List.of(topic));
          while (running) {
            ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(100));
            for (ConsumerRecord<byte[], byte[]> rec : records) {
              E2E.add(System.nanoTime() - ByteBuffer.wrap(rec.value()).getLong(0));
              count.incrementAndGet();
            }
            if (!records.isEmpty()) {
              c.commitSync(); // at-least-once: the poll's offsets after its records were handled
            }
          }
        }
      }, "raw-loop-" + r);
      loops.add(loop);
      loop.start();
    }
    sender = (k, v) -> {
      for (KafkaProducer<byte[], byte[]> p : producers) {
        p.send(new ProducerRecord<>(topic, k, v));
      }
    };
    done = () -> {
      long min = Long.MAX_VALUE;
      for (AtomicLong c : counts) {
        min = Math.min(min, c.get());
      }
      return min;
    };
  }

  private void sendOne() {
    long n = sent++;
    byte[] value = new byte[VALUE_BYTES];
    ByteBuffer.wrap(value).putLong(0, System.nanoTime());
    sender.send(Long.toString(n).getBytes(StandardCharsets.US_ASCII), value);
  }

  private void awaitDone(long target) {
    long start = System.nanoTime();
    while (done.count() < target) {
      if (System.nanoTime() - start > STALL_NANOS) {
        throw new IllegalStateException(pipeline + ": " + done.count() + " of " + target
            + " records done after " + TimeUnit.NANOSECONDS.toSeconds(STALL_NANOS) + " s");
      }
      LockSupport.parkNanos(200_000);
    }
  }

  @Setup(Level.Iteration)
  public void schedule() {
    windowEnd = null;
    windowStart = window();
    period = TimeUnit.SECONDS.toNanos(1) / rate;
    nextDue = System.nanoTime();
  }

  /** Ends the iteration's window (before the trial teardown of the last iteration closes anything). */
  @TearDown(Level.Iteration)
  public void endWindow() {
    windowEnd = window();
  }

  private Window window() {
    ProcessCpu c = cpu;
    return new Window(tandemCounts(), done.count(), c == null ? null : c.sample());
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    running = false;
    FollowerStages.reset();
    for (Thread t : loops) {
      t.join(10_000);
    }
    for (AutoCloseable c : closeables) {
      try {
        c.close();
      } catch (Exception e) {
        System.err.println("close " + c + ": " + e);
      }
    }
    regions.close();
    StoreBenchmark.deleteQuietly(dir);
  }

  /** Records/s at saturation: {@value #BATCH} sends, then wait until all but one batch is done. */
  @Benchmark
  @OperationsPerInvocation(BATCH)
  public void saturation() {
    for (int i = 0; i < BATCH; i++) {
      sendOne();
    }
    awaitDone(sent - BATCH);
  }

  /** One send per slot of an open-loop schedule at {@code rate}/s; latencies via the profiler. */
  @Benchmark
  public void openLoop() {
    long wait;
    while ((wait = nextDue - System.nanoTime()) > 0) {
      LockSupport.parkNanos(wait);
    }
    nextDue += period;
    sendOne();
  }

  /**
   * Region {@code index}'s store writes, stamped: the owner's LOCAL COMPLETED ({@code COMPLETED_AT}),
   * a follower's REMOTE COMPLETED (the {@code replication} and {@code follower} samples) and, for the
   * stage split ({@link FollowerStages}), the owner's LOCAL CLAIMED too. A store listener is told on
   * the writing thread once RocksDB accepted the write.
   */
  static final class StoreStamps implements StoreListener {
    private final int index;

    StoreStamps(int index) {
      this.index = index;
    }

    @Override
    public void onRecord(IdRecord record, WriteOrigin origin) {
      boolean stages = FollowerStages.enabled;
      if (record.phase() == Phase.CLAIMED && origin == WriteOrigin.LOCAL && stages) {
        FollowerStages.claimWritten(index, record.id(), System.nanoTime());
      }
      if (record.phase() != Phase.COMPLETED) {
        return;
      }
      long now = System.nanoTime();
      String id = record.id();
      Integer owner = OWNER.get(id);
      if (origin == WriteOrigin.LOCAL) {
        COMPLETED_AT.putIfAbsent(id, now);
        if (stages) {
          FollowerStages.completedWritten(id, now);
        }
        return;
      }
      if (stages) {
        FollowerStages.applied(index, id, now); // ignores the owner's own view itself
      }
      if (owner == null || owner == index) {
        return; // not a follower's view of this id
      }
      Long completed = COMPLETED_AT.remove(id);
      if (completed != null) {
        REPLICATION.add(now - completed);
      }
      Long received = RECEIVED.get(index).remove(id);
      if (received != null) {
        FOLLOWER.add(Math.max(0, now - received));
      } else {
        APPLIED_FIRST.get(index).put(id, now);
      }
    }
  }

  /**
   * Stamps when a copy was polled in a region (Kafka calls {@code onConsume} inside {@code poll},
   * before the Tandem loop sees the records). Configured on both regions' consumers.
   */
  public static final class ReceiveStamp implements ConsumerInterceptor<byte[], byte[]> {
    static final String REGION_INDEX = "bench.region.index";
    private int index;

    @Override
    public void configure(Map<String, ?> configs) {
      index = Integer.parseInt(configs.get(REGION_INDEX).toString());
    }

    @Override
    public ConsumerRecords<byte[], byte[]> onConsume(ConsumerRecords<byte[], byte[]> records) {
      long now = System.nanoTime();
      if (!records.isEmpty()) {
        POLLS.incrementAndGet();
        POLLED_RECORDS.addAndGet(records.count());
        PARTITION_BATCHES.addAndGet(records.partitions().size());
      }
      for (ConsumerRecord<byte[], byte[]> r : records) {
        Header h = r.headers().lastHeader(TandemHeaders.ID);
        if (h == null) {
          continue;
        }
        String id = new String(h.value(), StandardCharsets.UTF_8);
        if (APPLIED_FIRST.get(index).remove(id) != null) {
          FOLLOWER.add(0); // the owner's completion was here before the copy: nothing added
        } else {
          if (FollowerStages.enabled) {
            FollowerStages.polled(index, id, now); // both regions: the owner's poll is a point too
          }
          Integer owner = OWNER.get(id);
          if (owner == null || owner != index) {
            RECEIVED.get(index).put(id, now);
          }
        }
      }
      return records;
    }

    @Override
    public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {
      COMMITS.incrementAndGet(); // one successful offset commit of a Tandem consumer
    }

    @Override
    public void close() {}
  }

  /** A growable array of nanosecond samples, drained once per iteration by the profiler. */
  static final class Samples {
    private long[] values = new long[1 << 14];
    private int size;

    synchronized void add(long nanos) {
      if (size == values.length) {
        values = java.util.Arrays.copyOf(values, size * 2);
      }
      values[size++] = nanos;
    }

    synchronized void clear() {
      size = 0;
    }

    /** The samples since the last clear, sorted, and clears. */
    synchronized long[] drainSorted() {
      long[] out = java.util.Arrays.copyOf(values, size);
      size = 0;
      java.util.Arrays.sort(out);
      return out;
    }
  }
}
