package dev.tandem.store;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
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
    Path dir = Path.of(args[0]);
    IdempotencyStore store = RocksIdempotencyStore.builder()
        .region(RegionId.of("region-a"))
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
}
