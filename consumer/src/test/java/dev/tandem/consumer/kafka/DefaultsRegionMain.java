package dev.tandem.consumer.kafka;

import dev.tandem.testkit.History;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Region A's consumer in its own JVM, with the library's default ownership settings (AUTOMATIC L,
 * margin, revalidateAfter, heartbeat interval, handlerTimeout), for {@link DefaultTakeoverTimeTest}:
 * prints {@code handled <id> <epoch>} per handler run (each takes {@code handlerMillis}), and
 * {@code started}; the parent kills it.
 *
 * <p>Args: bootstrapA bootstrapB topic prefix dir instance handlerMillis
 */
public final class DefaultsRegionMain {

  private DefaultsRegionMain() {}

  public static void main(String[] args) throws Exception {
    long handlerMillis = Long.parseLong(args[6]);
    RegionNode node = new RegionNode(args[0], args[1], RegionNode.A, args[5], Path.of(args[4]),
        args[2], args[3], new History(), o -> {
          o.libraryDefaults = true;
          o.shards = 2;
          o.handler = (rec, ctx) -> {
            System.out.println("handled " + ctx.id() + " " + ctx.epoch());
            System.out.flush();
            TimeUnit.MILLISECONDS.sleep(handlerMillis); // the handler's work
          };
        });
    node.start();
    System.out.println("started");
    System.out.flush();
    new CountDownLatch(1).await();
  }
}
