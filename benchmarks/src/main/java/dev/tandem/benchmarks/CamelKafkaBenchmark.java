package dev.tandem.benchmarks;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.camel.CamelContext;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.camel.processor.idempotent.kafka.KafkaIdempotentRepository;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Apache Camel's {@link KafkaIdempotentRepository}: {@code add} of a fresh id (an in-memory LRU
 * plus a synchronous send of the id to a Kafka topic, Camel's own settings: acks=1, no batching)
 * against a real broker in a separate JVM ({@link RegionsProcess}). Compare with {@code
 * StoreBenchmark.tandemClaimComplete} in the same run. Needs a {@link CamelContext}, as in Camel.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
public class CamelKafkaBenchmark {

  @State(Scope.Benchmark)
  public static class Repository {
    @Param({"16", "36"})
    public int idLength;

    RegionsProcess regions;
    CamelContext camel;
    KafkaIdempotentRepository repo;
    final AtomicInteger threads = new AtomicInteger();

    @Setup(Level.Trial)
    public void setUp() throws Exception {
      regions = RegionsProcess.start();
      String topic = regions.createTopic("camel-idempotent", 1);
      camel = new DefaultCamelContext();
      camel.start();
      repo = new KafkaIdempotentRepository(topic, regions.bootstrap(RegionsProcess.A));
      repo.setCamelContext(camel);
      repo.setMaxCacheSize(10_000_000);
      repo.start();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
      try {
        repo.stop();
      } catch (java.util.ConcurrentModificationException e) {
        // Camel 4.10 closes its KafkaConsumer while its background sync thread may still be inside
        // poll(); Kafka refuses that. The measurement is over and this fork exits next.
        System.out.println("Camel KafkaIdempotentRepository.stop: " + e.getMessage());
      }
      camel.stop();
      regions.close();
    }
  }

  @State(Scope.Thread)
  public static class Cursor {
    int thread;
    long next;

    @Setup(Level.Trial)
    public void setUp(Repository r) {
      thread = r.threads.getAndIncrement();
    }
  }

  @Benchmark
  public boolean camelKafkaAdd(Repository r, Cursor c) {
    return r.repo.add(Ids.id(r.idLength, c.thread, c.next++));
  }
}
