package dev.tandem.store;

import static dev.tandem.store.Stores.A;
import static dev.tandem.store.Stores.LEASE;
import static dev.tandem.store.Stores.START;
import static dev.tandem.store.Stores.digest;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.core.ManualClock;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link IdempotencyStore#removeListener}: a removed listener is told of no later write. */
class StoreListenerRemovalTest {

  @TempDir Path dir;
  final ManualClock clock = new ManualClock(START);

  @Test
  void aRemovedListenerIsNoLongerToldAndTheOthersStillAre() {
    try (IdempotencyStore a = Stores.open(dir, A, "a1", clock)) {
      List<String> removed = new ArrayList<>();
      List<String> kept = new ArrayList<>();
      StoreListener gone = (r, o) -> removed.add(r.id());
      a.addListener(gone);
      a.addListener((r, o) -> kept.add(r.id()));
      a.claim("m1", 0, digest("p"), 0, LEASE);
      a.removeListener(gone);
      a.removeListener((r, o) -> { }); // never added: ignored
      a.claim("m2", 0, digest("p"), 0, LEASE);
      assertEquals(List.of("m1"), removed);
      assertEquals(List.of("m1", "m2"), kept);
    }
  }
}
