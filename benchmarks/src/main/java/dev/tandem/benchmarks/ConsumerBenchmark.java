package dev.tandem.benchmarks;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.consumer.kafka.TandemConsumerInterceptor;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.IdempotencyStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Consumption of a pre-filled topic ({@value #RECORDS} records of 100 bytes, published with {@link
 * TandemKafkaProducer} so each carries an envelope), records/s, side by side:
 *
 * <ul>
 *   <li>{@code rawPoll}: a plain {@link KafkaConsumer} poll loop;
 *   <li>{@code interceptorPoll}: the same loop with {@link TandemConsumerInterceptor} configured (each
 *       record's id looked up in the local store; none is completed, so every record passes);
 *   <li>{@code handlerWrapper}: the full {@link TandemKafkaConsumer} (claim in a batch, handler,
 *       complete, commit) over a fresh store, no replication log and no cross-region ownership.
 * </ul>
 *
 * One operation reads the whole topic with a new consumer group (created before the operation; the
 * group join is inside it for every variant alike). The brokers run in a separate JVM.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
public class ConsumerBenchmark {

  static final int RECORDS = 50_000;
  static final RegionId REGION = RegionId.of(RegionsProcess.A);

  RegionsProcess regions;
  String topic;
  Path dir;
  KafkaProducer<byte[], byte[]> dlqProducer;
  final AtomicInteger groups = new AtomicInteger();

  // per invocation
  KafkaConsumer<byte[], byte[]> consumer;
  IdempotencyStore store;
  TandemKafkaConsumer<byte[], byte[]> wrapper;
  final AtomicInteger handled = new AtomicInteger();
  CompletableFuture<Void> allHandled;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    regions = RegionsProcess.start();
    topic = regions.createTopic("bench-consume", 4);
    dir = Files.createTempDirectory("tandem-bench-consume");
    byte[] value = new byte[100];
    new SplittableRandom(5).nextBytes(value);
    try (TandemKafkaProducer<byte[], byte[]> p =
        TandemKafkaProducer.builder(new ByteArraySerializer(), new ByteArraySerializer())
            .region(REGION, regions.producer(RegionsProcess.A))
            .region(RegionId.of(RegionsProcess.B), regions.producer(RegionsProcess.B))
            .publisher(o -> o.spoolDirectory(dir.resolve("spool")))
            .build()) {
      for (int i = 0; i < RECORDS; i++) {
        p.send(new ProducerRecord<>(topic, ("key-" + i).getBytes(), value));
      }
      p.flush();
    }
    dlqProducer = new KafkaProducer<>(regions.producer(RegionsProcess.A));
    // the first group of a fresh cluster creates __consumer_offsets and waits for its coordinator:
    // done here once, so no measured operation pays it
    try (KafkaConsumer<byte[], byte[]> warm = new KafkaConsumer<>(consumerConfig())) {
      warm.subscribe(List.of(topic));
      while (warm.poll(Duration.ofMillis(100)).isEmpty()) {
        // until the group is joined and the first records arrive
      }
      warm.commitSync(Duration.ofSeconds(60));
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    dlqProducer.close();
    regions.close();
    StoreBenchmark.deleteQuietly(dir);
  }

  private Properties consumerConfig() {
    Properties p = regions.consumer(RegionsProcess.A, "bench-" + groups.incrementAndGet());
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "500");
    return p;
  }

  /** A new consumer (with or without the interceptor) or a new wrapper over a fresh store. */
  @Setup(Level.Invocation)
  public void newConsumer(org.openjdk.jmh.infra.BenchmarkParams params) {
    Properties p = consumerConfig();
    String method = params.getBenchmark();
    if (method.endsWith("interceptorPoll")) {
      p.put(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG, TandemConsumerInterceptor.class.getName());
      // the interceptor's replica (store + replication log) from the region's key table
      p.put(TandemRegionConfig.GUARANTEE_CONFIG, TandemRegionConfig.GUARANTEE_DETECT_ONLY);
      p.put(TandemRegionConfig.REGION_CONFIG, REGION.name());
      p.put(TandemRegionConfig.REGIONS_CONFIG, RegionsProcess.A + "," + RegionsProcess.B);
      for (String r : List.of(RegionsProcess.A, RegionsProcess.B)) {
        p.put(TandemRegionConfig.REGION_PREFIX + r + ".bootstrap.servers", regions.bootstrap(r));
      }
      p.put(TandemRegionConfig.STATE_DIR_CONFIG, dir.resolve("interceptor-state").toString());
      p.put(TandemRegionConfig.SHARDS_CONFIG, "4");
    }
    consumer = new KafkaConsumer<>(p);
    if (method.endsWith("handlerWrapper")) {
      handled.set(0);
      allHandled = new CompletableFuture<>();
      store = IdempotencyStore.builder().region(REGION).instance("bench")
          .directory(dir.resolve("store-" + groups.get())).build();
      wrapper = TandemKafkaConsumer.builder(topic, new ByteArrayDeserializer(), new ByteArrayDeserializer())
          .consumer(consumer)
          .store(store)
          .deadLetterSink(KafkaDeadLetterSink.create(dlqProducer, REGION))
          .handler((record, context) -> {
            if (handled.incrementAndGet() == RECORDS) {
              allHandled.complete(null);
            }
          })
          .build();
    } else {
      consumer.subscribe(List.of(topic));
    }
  }

  @TearDown(Level.Invocation)
  public void closeConsumer() {
    if (wrapper != null) {
      wrapper.close();
      wrapper = null;
    }
    consumer.close(Duration.ofSeconds(5));
    if (store != null) {
      store.close();
      store = null;
    }
  }

  private int drain(Blackhole bh) {
    int seen = 0;
    while (seen < RECORDS) {
      ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
      for (ConsumerRecord<byte[], byte[]> r : records) {
        bh.consume(r.value());
        seen++;
      }
    }
    return seen;
  }

  @Benchmark
  @OperationsPerInvocation(RECORDS)
  public int rawPoll(Blackhole bh) {
    return drain(bh);
  }

  @Benchmark
  @OperationsPerInvocation(RECORDS)
  public int interceptorPoll(Blackhole bh) {
    return drain(bh);
  }

  @Benchmark
  @OperationsPerInvocation(RECORDS)
  public void handlerWrapper() throws Exception {
    wrapper.start();
    allHandled.get(120, TimeUnit.SECONDS);
  }
}
