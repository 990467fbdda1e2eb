package dev.tandem.examples.demo;

import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.core.RegionId;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Region A's consumer side of the demo in a child JVM, for the chaos suite's SIGKILL scenario. It is
 * wired exactly as {@link TwoRegionDemo} wires a region ({@link DemoRegion}, policy AUTOMATIC with the
 * demo's lease timeout) against the test's clusters, and prints one line per handler start and end so
 * the parent records the history:
 *
 * <pre>
 * STARTED
 * START &lt;id&gt; &lt;region&gt; &lt;epoch&gt; &lt;shard&gt;
 * END &lt;id&gt; &lt;region&gt; &lt;epoch&gt;
 * IN-HANDLER &lt;id&gt; &lt;shard&gt;     (the hangAt-th handler run, which then blocks until the SIGKILL)
 * </pre>
 *
 * <p>Args: bootstrapA bootstrapB topic dir hangAt
 */
public final class ChaosConsumerMain {

  private ChaosConsumerMain() {}

  public static void main(String[] args) throws Exception {
    String bootstrapA = args[0];
    String bootstrapB = args[1];
    String topic = args[2];
    Path dir = Path.of(args[3]);
    int hangAt = Integer.parseInt(args[4]);
    AtomicInteger runs = new AtomicInteger();
    // never counted down: the blocked handler ends only with the process (the parent's SIGKILL)
    CountDownLatch killed = new CountDownLatch(1);
    RegionId a = TwoRegionDemo.A;
    DemoRegion region = new DemoRegion(a, bootstrapA, bootstrapB, TwoRegionDemo.B, dir, topic,
        TwoRegionDemo.SHARDS,
        OwnershipPolicy.automatic(TwoRegionDemo.LEASE_TIMEOUT, TwoRegionDemo.MARGIN, Duration.ofSeconds(60)),
        (rec, ctx) -> {
          System.out.println("START " + ctx.id() + " " + a.name() + " " + ctx.epoch() + " " + ctx.shard());
          if (runs.incrementAndGet() == hangAt) {
            System.out.println("IN-HANDLER " + ctx.id() + " " + ctx.shard());
            System.out.flush();
            killed.await();
          }
          System.out.println("END " + ctx.id() + " " + a.name() + " " + ctx.epoch());
        });
    region.start();
    System.out.println("STARTED");
    System.out.flush();
    killed.await();
  }
}
