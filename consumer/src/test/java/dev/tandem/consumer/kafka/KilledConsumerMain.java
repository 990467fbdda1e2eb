package dev.tandem.consumer.kafka;

import dev.tandem.testkit.History;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A region-a consumer instance in a child JVM, for the SIGKILL test. Prints {@code handled <id>
 * <epoch>} for every handler run and {@code hanging <id>} when its {@code hangAt}-th handler run
 * blocks forever, once everything it wrote before is acknowledged by the changelog (the parent then
 * kills it). Completions not yet acknowledged by the changelog at a kill are redone by the next
 * instance (their offsets were not committed either); this test isolates the killed handler.
 *
 * <p>Args: bootstrapA bootstrapB topic prefix dir instance hangAt claimLeaseMillis
 */
public final class KilledConsumerMain {

  private KilledConsumerMain() {}

  public static void main(String[] args) throws Exception {
    int hangAt = Integer.parseInt(args[6]);
    Duration lease = Duration.ofMillis(Long.parseLong(args[7]));
    AtomicInteger runs = new AtomicInteger();
    java.util.concurrent.atomic.AtomicReference<RegionNode> self = new java.util.concurrent.atomic.AtomicReference<>();
    CountDownLatch never = new CountDownLatch(1);
    RegionNode node = new RegionNode(args[0], args[1], RegionNode.A, args[5], Path.of(args[4]),
        args[2], args[3], new History(), o -> {
          o.ownership = false;
          o.allShards = false;
          o.claimLease = lease;
          o.handler = (rec, ctx) -> {
            System.out.println("handled " + ctx.id() + " " + ctx.epoch());
            System.out.flush();
            if (runs.incrementAndGet() == hangAt) {
              // the work before this message (claims, completions) is in the changelog first, so
              // the only thing the kill leaves undone is this handler (the property under test)
              for (int s = 0; s < 4; s++) {
                self.get().log.barrier(s, RegionNode.A).get(30, java.util.concurrent.TimeUnit.SECONDS);
              }
              System.out.println("hanging " + ctx.id());
              System.out.flush();
              never.await();
            }
          };
        });
    self.set(node);
    node.start();
    System.out.println("started");
    System.out.flush();
    never.await();
  }
}
