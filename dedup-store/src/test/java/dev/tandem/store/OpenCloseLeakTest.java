package dev.tandem.store;

import static dev.tandem.store.Stores.A;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** close() releases native handles: many open/close cycles do not grow the open file count. */
class OpenCloseLeakTest {

  static final int CYCLES = 200;

  @TempDir Path dir;

  @Test
  void openingAndClosingManyTimesDoesNotLeakFileDescriptors() throws IOException {
    ManualClock clock = new ManualClock(Stores.START);
    cycle(clock, 0); // warm up: library load, JIT, the first files
    long before = openFds();
    for (int i = 1; i <= CYCLES; i++) {
      cycle(clock, i);
    }
    long after = openFds();
    assertTrue(after - before <= 5,
        "open file descriptors grew from " + before + " to " + after + " over " + CYCLES + " cycles");
  }

  private void cycle(ManualClock clock, int i) {
    try (IdempotencyStore store = Stores.open(dir, A, "a1", clock)) {
      store.claim("m" + i, i % 3, Stores.digest("p"), 0, Stores.LEASE);
      store.complete("m" + i, i % 3, null);
      assertEquals(Phase.COMPLETED, store.get("m" + i, i % 3).orElseThrow().phase());
    }
  }

  private static long openFds() throws IOException {
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      return fds.count();
    }
  }
}
