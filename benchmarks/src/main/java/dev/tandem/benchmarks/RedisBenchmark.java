package dev.tandem.benchmarks;

import java.util.concurrent.TimeUnit;
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
import redis.clients.jedis.Jedis;
import redis.clients.jedis.params.SetParams;

/**
 * The peer most teams reach for: Redis {@code SET key 1 NX PX ttl} through Jedis against a local
 * {@code redis-server} (started by {@code benchmarks/run.sh}, port from {@code TANDEM_REDIS_PORT},
 * default 6379). Compare with {@code StoreBenchmark.tandemClaimComplete} in the same run. When no
 * server answers, the set-up fails with a message saying so, and the other benchmarks run on.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class RedisBenchmark {

  @State(Scope.Thread)
  public static class Client {
    @Param({"16", "36"})
    public int idLength;

    Jedis jedis;
    final SetParams nxPx = SetParams.setParams().nx().px(TimeUnit.DAYS.toMillis(7));
    long next;
    int thread;

    @Setup(Level.Trial)
    public void setUp() {
      int port = Integer.parseInt(System.getenv().getOrDefault("TANDEM_REDIS_PORT", "6379"));
      jedis = new Jedis("127.0.0.1", port);
      try {
        jedis.ping();
      } catch (RuntimeException e) {
        System.out.println("SKIPPED RedisBenchmark: no redis-server on 127.0.0.1:" + port
            + " (benchmarks/run.sh starts one from Debian's redis-server package): " + e.getMessage());
        throw e;
      }
      thread = (int) (Thread.currentThread().getId() & 0xff);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      jedis.flushDB();
      jedis.close();
    }
  }

  @Benchmark
  public String redisSetNx(Client c) {
    return c.jedis.set(Ids.id(c.idLength, c.thread, c.next++), "1", c.nxPx);
  }
}
