package dev.tandem.store;

import dev.tandem.core.PayloadDigest;
import dev.tandem.store.spi.ReplicaStore;
import dev.tandem.testkit.TestRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Child-JVM writer for {@link CrashSafetyTest}: claims and completes ids with {@code sync=true} and
 * prints "acked &lt;id&gt;" after each completion returned, forever, until it is SIGKILLed.
 */
public final class CrashWriterMain {

  private CrashWriterMain() {}

  public static void main(String[] args) {
    if (args.length > 1 && args[1].equals("remote-batches")) {
      remoteBatches(Path.of(args[0]));
      return;
    }
    Path dir = Path.of(args[0]);
    IdempotencyStore store = RocksIdempotencyStore.builder()
        .region(TestRegions.A)
        .instance("crash-writer")
        .directory(dir)
        .sync(true)
        .build();
    System.out.println("open");
    System.out.flush();
    for (long i = 0; ; i++) {
      String id = "id-" + i;
      PayloadDigest d = PayloadDigest.of(id.getBytes(StandardCharsets.UTF_8));
      store.claim(id, (int) (i % 4), d, 0, Duration.ofMinutes(1));
      store.complete(id, (int) (i % 4), ("result-" + i).getBytes(StandardCharsets.UTF_8));
      System.out.println("acked " + id);
      System.out.flush();
    }
  }

  /**
   * Applies batches of 10 remote records with checkpoint {@code "changelog/0" -> n + 1} (sync=false:
   * a process crash must still keep data and checkpoint together) and prints "acked batch n".
   */
  static void remoteBatches(Path dir) {
    IdempotencyStore store = RocksIdempotencyStore.builder()
        .region(TestRegions.A)
        .instance("crash-replica")
        .directory(dir)
        .build();
    Owner remote = Owner.of("region-b", "b1");
    System.out.println("open");
    System.out.flush();
    for (long n = 0; ; n++) {
      java.util.List<IdRecord> batch = new java.util.ArrayList<>();
      for (int i = 0; i < 10; i++) {
        String id = "b" + n + "-" + i;
        java.util.TreeSet<PayloadDigest> d = new java.util.TreeSet<>();
        d.add(PayloadDigest.of(id.getBytes(StandardCharsets.UTF_8)));
        java.util.TreeSet<Completer> c = new java.util.TreeSet<>();
        c.add(Completer.of(remote, 1));
        batch.add(new IdRecord(id, 0, 0, Phase.COMPLETED, 1, 0, remote, 0, n * 10 + i + 1,
            System.currentTimeMillis(), d, c, null, null));
      }
      ReplicaStore.of(store).applyRemoteBatch(batch, java.util.Map.of("changelog/0", n + 1));
      System.out.println("acked batch " + n);
      System.out.flush();
    }
  }
}
