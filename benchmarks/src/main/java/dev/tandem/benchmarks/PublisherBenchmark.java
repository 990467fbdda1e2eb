package dev.tandem.benchmarks;

import dev.tandem.core.Envelope;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemIds;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.KafkaEnvelopeHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.header.internals.RecordHeaders;
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

/**
 * Publishing to two regions, side by side with what a user would write instead, in one run:
 *
 * <ul>
 *   <li>{@code tandem*}: {@link TandemKafkaProducer} over two regions with its default ack policy
 *       ({@link AckPolicy#ANY}: the callback fires at the first region's acknowledgement, the other
 *       copy completes in the background or is spooled); {@code tandemAll*} the same with {@link
 *       AckPolicy#ALL} (waits for both regions, like the raw fan-out);
 *   <li>{@code fanOut*}: two raw {@link KafkaProducer}s driven in parallel by hand — send to both,
 *       wait for both acknowledgements: the ideal fan-out, Tandem's ceiling; {@code
 *       fanOutEnvelopeBatch} the same with a Tandem envelope computed and written per record (what
 *       the wire format alone costs);
 *   <li>{@code naive*}: two raw producers one after the other, each send waited for before the next
 *       (the naive wrapper);
 *   <li>{@code single*}: one raw producer to one region (the floor for any dual publish).
 * </ul>
 *
 * {@code *Batch} methods send {@value #BATCH} records and wait for all their acknowledgements
 * (records/s, Throughput mode); {@code *Latency} methods send one record and wait for it (SampleTime
 * mode: p50/p99/p99.9 of one acknowledged publish). Every producer has the same settings (acks=all,
 * idempotent, linger 1 ms). The brokers run in a separate JVM ({@link RegionsProcess}).
 */
@State(Scope.Benchmark)
// Tandem's path takes 60,000+ records to compile on 2 loaded cores (PublisherWarmupMain): a 1 s
// warm-up measures the JIT, not the publisher (benchmarks/README.md, "Where the time goes")
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
public class PublisherBenchmark {

  static final int BATCH = 200;
  static final int PARTITIONS = 4;

  @Param({"100", "1024"})
  public int valueBytes;

  RegionsProcess regions;
  String topic;
  Path spool;
  TandemKafkaProducer<byte[], byte[]> tandem;
  TandemKafkaProducer<byte[], byte[]> tandemAll;
  final SimpleMeterRegistry tandemMeters = new SimpleMeterRegistry();
  final SimpleMeterRegistry tandemAllMeters = new SimpleMeterRegistry();
  KafkaProducer<byte[], byte[]> rawA;
  KafkaProducer<byte[], byte[]> rawB;
  byte[][] keys;
  byte[] value;
  int next;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    regions = RegionsProcess.start();
    topic = regions.createTopic("bench-publish", PARTITIONS);
    spool = Files.createTempDirectory("tandem-bench-spool");
    tandem = tandem(AckPolicy.ANY, tandemMeters);
    tandemAll = tandem(AckPolicy.ALL, tandemAllMeters);
    rawA = new KafkaProducer<>(regions.producer(RegionsProcess.A));
    rawB = new KafkaProducer<>(regions.producer(RegionsProcess.B));
    keys = new byte[1024][];
    for (int i = 0; i < keys.length; i++) {
      keys[i] = ("key-" + i).getBytes();
    }
    value = new byte[valueBytes];
    new SplittableRandom(11).nextBytes(value);
    // first sends fetch metadata (and Tandem's partition-count check): not part of any measurement
    tandem.send(record()).get();
    tandemAll.send(record()).get();
    rawA.send(record()).get();
    rawB.send(record()).get();
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    // whether copies took the direct path or the spool/replay path during the run (diagnosis only)
    report("ANY", tandemMeters);
    report("ALL", tandemAllMeters);
    tandem.close();
    tandemAll.close();
    rawA.close();
    rawB.close();
    regions.close();
    StoreBenchmark.deleteQuietly(spool);
  }

  private TandemKafkaProducer<byte[], byte[]> tandem(AckPolicy policy, SimpleMeterRegistry meters) {
    return TandemKafkaProducer.builder(new ByteArraySerializer(), new ByteArraySerializer())
        .region(RegionId.of(RegionsProcess.A), regions.producer(RegionsProcess.A))
        .region(RegionId.of(RegionsProcess.B), regions.producer(RegionsProcess.B))
        .publisher(p -> p.spoolDirectory(spool.resolve(policy.name())).ackPolicy(policy)
            .meterRegistry(meters))
        .build();
  }

  private static void report(String policy, SimpleMeterRegistry meters) {
    StringBuilder line = new StringBuilder("TANDEM-PUBLISHER-METERS ack=" + policy);
    for (String name : new String[] {"tandem.publisher.sent", "tandem.publisher.acknowledged",
        "tandem.publisher.spooled", "tandem.publisher.replayed"}) {
      for (Counter c : meters.find(name).counters()) {
        line.append(' ').append(name.substring("tandem.publisher.".length())).append('[')
            .append(c.getId().getTag("region")).append("]=").append((long) c.count());
      }
    }
    System.out.println(line);
  }

  ProducerRecord<byte[], byte[]> record() {
    next = (next + 1) & (keys.length - 1);
    return new ProducerRecord<>(topic, keys[next], value);
  }

  private static void awaitAll(Future<RecordMetadata>[] acks) throws InterruptedException, ExecutionException {
    for (Future<RecordMetadata> f : acks) {
      f.get();
    }
  }

  @SuppressWarnings("unchecked")
  private static Future<RecordMetadata>[] futures(int n) {
    return new Future[n];
  }

  // ---- throughput: BATCH records per operation, every acknowledgement awaited ----

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @OperationsPerInvocation(BATCH)
  public void tandemBatch() throws Exception {
    Future<RecordMetadata>[] acks = futures(BATCH);
    for (int i = 0; i < BATCH; i++) {
      acks[i] = tandem.send(record());
    }
    awaitAll(acks);
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @OperationsPerInvocation(BATCH)
  public void tandemAllBatch() throws Exception {
    Future<RecordMetadata>[] acks = futures(BATCH);
    for (int i = 0; i < BATCH; i++) {
      acks[i] = tandemAll.send(record());
    }
    awaitAll(acks);
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @OperationsPerInvocation(BATCH)
  public void fanOutBatch() throws Exception {
    Future<RecordMetadata>[] acks = futures(2 * BATCH);
    for (int i = 0; i < BATCH; i++) {
      ProducerRecord<byte[], byte[]> r = record();
      acks[2 * i] = rawA.send(r);
      acks[2 * i + 1] = rawB.send(r);
    }
    awaitAll(acks);
  }

  /**
   * The hand fan-out a team would write to dedupe downstream (issue 20's baseline for the 0.9x goal):
   * every record carries a random UUID as an id header ({@code message-id}, 36 ASCII characters),
   * the same record sent to both regions and both acknowledgements awaited.
   */
  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @OperationsPerInvocation(BATCH)
  public void fanOutIdBatch() throws Exception {
    Future<RecordMetadata>[] acks = futures(2 * BATCH);
    for (int i = 0; i < BATCH; i++) {
      ProducerRecord<byte[], byte[]> r = record();
      r.headers().add("message-id", UUID.randomUUID().toString().getBytes(StandardCharsets.US_ASCII));
      acks[2 * i] = rawA.send(r);
      acks[2 * i + 1] = rawB.send(r);
    }
    awaitAll(acks);
  }

  /**
   * The hand fan-out again, but every record carries what Tandem's wire format costs at the least:
   * a new id and the SHA-256 of the value, written as the envelope headers, and the partition computed
   * once for both regions. Tandem's machinery (ack policy, spool routing, timeouts, circuit, futures)
   * is absent, so {@code tandemAllBatch / fanOutEnvelopeBatch} is what that machinery costs and
   * {@code fanOutEnvelopeBatch / fanOutBatch} what the envelope itself costs.
   */
  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @OperationsPerInvocation(BATCH)
  public void fanOutEnvelopeBatch() throws Exception {
    Future<RecordMetadata>[] acks = futures(2 * BATCH);
    for (int i = 0; i < BATCH; i++) {
      ProducerRecord<byte[], byte[]> r = envelopeRecord();
      acks[2 * i] = rawA.send(r);
      acks[2 * i + 1] = rawB.send(r);
    }
    awaitAll(acks);
  }

  /** A record with a fresh envelope (UUIDv7 id, SHA-256 digest, shard, time) in its headers. */
  ProducerRecord<byte[], byte[]> envelopeRecord() {
    next = (next + 1) & (keys.length - 1);
    byte[] key = keys[next];
    int partition = BuiltInPartitioner.partitionForKey(key, PARTITIONS);
    Envelope envelope = Envelope.forPayload(TandemIds.newId(), value, partition, System.currentTimeMillis());
    RecordHeaders headers = new RecordHeaders();
    KafkaEnvelopeHeaders.write(envelope, headers);
    return new ProducerRecord<>(topic, partition, key, value, headers);
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @OperationsPerInvocation(BATCH)
  public void naiveBatch() throws Exception {
    for (int i = 0; i < BATCH; i++) {
      ProducerRecord<byte[], byte[]> r = record();
      rawA.send(r).get();
      rawB.send(r).get();
    }
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @OperationsPerInvocation(BATCH)
  public void singleBatch() throws Exception {
    Future<RecordMetadata>[] acks = futures(BATCH);
    for (int i = 0; i < BATCH; i++) {
      acks[i] = rawA.send(record());
    }
    awaitAll(acks);
  }

  // ---- latency: one record, its acknowledgement(s) awaited ----

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public RecordMetadata tandemLatency() throws Exception {
    return tandem.send(record()).get();
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public RecordMetadata tandemAllLatency() throws Exception {
    return tandemAll.send(record()).get();
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public RecordMetadata fanOutLatency() throws Exception {
    ProducerRecord<byte[], byte[]> r = record();
    Future<RecordMetadata> a = rawA.send(r);
    Future<RecordMetadata> b = rawB.send(r);
    a.get();
    return b.get();
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public RecordMetadata naiveLatency() throws Exception {
    ProducerRecord<byte[], byte[]> r = record();
    rawA.send(r).get();
    return rawB.send(r).get();
  }

  /** One raw producer per region, each measured alone: the "slower region's raw producer". */
  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public RecordMetadata singleLatencyA() throws Exception {
    return rawA.send(record()).get();
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public RecordMetadata singleLatencyB() throws Exception {
    return rawB.send(record()).get();
  }
}
