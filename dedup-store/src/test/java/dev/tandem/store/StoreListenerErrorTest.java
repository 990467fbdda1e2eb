package dev.tandem.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.tandem.core.PayloadDigest;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store listener that throws must not keep the write from the listeners after it — the changelog
 * writer is one: a change it never hears of is never replicated, and its shard's barriers do not wait
 * for it. Listener failures are counted and logged and the write stands; an Error (a listener's
 * StackOverflowError, an ExceptionInInitializerError) as much as a RuntimeException. Real RocksDB.
 */
class StoreListenerErrorTest {

  @Test
  void aListenerThatThrowsAnErrorDoesNotHideTheWriteFromTheNextListener(@TempDir Path dir) {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    List<String> seen = new CopyOnWriteArrayList<>();
    try (IdempotencyStore store = IdempotencyStore.builder().region(TestRegions.A).instance("i-a")
        .directory(dir).meterRegistry(meters).build()) {
      store.addListener((record, origin) -> {
        throw new StackOverflowError("a user's store listener");
      });
      store.addListener((record, origin) -> seen.add(record.id()));
      ClaimResult r = store.claim("m-1", 0, PayloadDigest.of("m-1".getBytes(StandardCharsets.UTF_8)), 0,
          Duration.ofMinutes(1));
      assertInstanceOf(ClaimResult.Acquired.class, r, "the write stands and the claim is answered");
      assertEquals(List.of("m-1"), seen, "the listener after the throwing one heard of the write");
      assertEquals(1.0, meters.get(StoreMeterNames.LISTENER_ERRORS).counter().count());
    }
  }
}
