package dev.tandem.benchmarks;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.TandemKafkaProducer;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Diagnosis for {@link PublisherBenchmark} (a plain main, not a benchmark): how a fresh JVM's dual
 * publish warms up, round by round, for {@code TandemKafkaProducer} and the hand fan-out alternately
 * in one process against the same regions, so both meet the same machine load. Each round sends
 * {@code batches} batches of 200 records (every acknowledgement awaited, as the benchmark does) and
 * prints records/s, the send and the wait time per batch (p50/p90), and the process CPU per record.
 * Run it with {@code -XX:+CITime} to see how much of the first rounds goes to the JIT.
 *
 * <pre>
 * java -XX:+CITime -cp benchmarks/target/benchmarks.jar dev.tandem.benchmarks.PublisherWarmupMain \
 *     300 5 tandem,fanout [valueBytes] [ANY|ALL]
 * </pre>
 *
 * Regions come from {@code TANDEM_BENCH_REGION_A/B} when set (see {@link RegionsProcess}).
 */
public final class PublisherWarmupMain {

  private static final int BATCH = PublisherBenchmark.BATCH;

  private PublisherWarmupMain() {}

  public static void main(String[] args) throws Exception {
    int batches = Integer.parseInt(args[0]);
    int rounds = Integer.parseInt(args[1]);
    String[] modes = args[2].split(",");
    byte[] value = new byte[args.length > 3 ? Integer.parseInt(args[3]) : 100];
    AckPolicy policy = AckPolicy.valueOf(args.length > 4 ? args[4] : "ANY");
    byte[][] keys = new byte[1024][];
    for (int i = 0; i < keys.length; i++) {
      keys[i] = ("key-" + i).getBytes();
    }
    com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    Path spool = Files.createTempDirectory("tandem-warmup-spool");
    try (RegionsProcess regions = RegionsProcess.start()) {
      String topic = regions.createTopic("warmup", PublisherBenchmark.PARTITIONS);
      try (TandemKafkaProducer<byte[], byte[]> tandem =
              TandemKafkaProducer.builder(new ByteArraySerializer(), new ByteArraySerializer())
                  .region(RegionId.of(RegionsProcess.A), regions.producer(RegionsProcess.A))
                  .region(RegionId.of(RegionsProcess.B), regions.producer(RegionsProcess.B))
                  .publisher(p -> p.spoolDirectory(spool).ackPolicy(policy))
                  .build();
          KafkaProducer<byte[], byte[]> rawA = new KafkaProducer<>(regions.producer(RegionsProcess.A));
          KafkaProducer<byte[], byte[]> rawB = new KafkaProducer<>(regions.producer(RegionsProcess.B))) {
        int next = 0;
        // metadata and the partition-count check, as the benchmark's setup does
        tandem.send(new ProducerRecord<>(topic, keys[0], value)).get();
        rawA.send(new ProducerRecord<>(topic, keys[0], value)).get();
        rawB.send(new ProducerRecord<>(topic, keys[0], value)).get();
        for (int round = 0; round < rounds; round++) {
          for (String mode : modes) {
            boolean isTandem = mode.equals("tandem");
            long[] sendNanos = new long[batches];
            long[] waitNanos = new long[batches];
            long cpu0 = os.getProcessCpuTime();
            long t0 = System.nanoTime();
            for (int b = 0; b < batches; b++) {
              long s = System.nanoTime();
              @SuppressWarnings("unchecked")
              Future<RecordMetadata>[] acks = new Future[isTandem ? BATCH : 2 * BATCH];
              for (int i = 0; i < BATCH; i++) {
                next = (next + 1) & (keys.length - 1);
                ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, keys[next], value);
                if (isTandem) {
                  acks[i] = tandem.send(r);
                } else {
                  acks[2 * i] = rawA.send(r);
                  acks[2 * i + 1] = rawB.send(r);
                }
              }
              long w = System.nanoTime();
              for (Future<RecordMetadata> f : acks) {
                f.get();
              }
              sendNanos[b] = w - s;
              waitNanos[b] = System.nanoTime() - w;
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            double cpuMicrosPerRecord = (os.getProcessCpuTime() - cpu0) / 1e3 / ((double) batches * BATCH);
            Arrays.sort(sendNanos);
            Arrays.sort(waitNanos);
            System.out.printf(
                "ROUND %d %-7s %8.0f rec/s  send p50 %.2f ms p90 %.2f  wait p50 %.2f ms p90 %.2f  cpu %.1f us/rec%n",
                round, mode, batches * BATCH / seconds, sendNanos[batches / 2] / 1e6,
                sendNanos[batches * 9 / 10] / 1e6, waitNanos[batches / 2] / 1e6,
                waitNanos[batches * 9 / 10] / 1e6, cpuMicrosPerRecord);
          }
        }
      }
    } finally {
      StoreBenchmark.deleteQuietly(spool);
    }
  }
}
