package dev.tandem.consumer.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.tandem.core.PayloadDigest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A claim's lease is renewed by a periodic task while its handler runs. A renewal that throws an
 * Error (OutOfMemoryError, a LinkageError from the store's native library) must cost that renewal
 * only: escaping, it cancels the claim's every later renewal without a word, the lease runs out under
 * the running handler, and another instance may claim and run the message again. Real RocksDB store
 * behind a proxy whose first renew throws.
 */
class ClaimRenewerErrorTest {

  @Test
  void aRenewalThatThrowsAnErrorDoesNotEndTheClaimsRenewals(@TempDir Path dir) {
    AtomicInteger renewals = new AtomicInteger();
    try (IdempotencyStore real = IdempotencyStore.builder().region(TestRegions.A).instance("i-a")
        .directory(dir).build()) {
      IdempotencyStore store = (IdempotencyStore) Proxy.newProxyInstance(
          IdempotencyStore.class.getClassLoader(), new Class<?>[] {IdempotencyStore.class},
          (proxy, method, args) -> {
            if (method.getName().equals("renew") && renewals.incrementAndGet() == 1) {
              throw new OutOfMemoryError("Java heap space (the first renewal)");
            }
            try {
              return method.invoke(real, args);
            } catch (InvocationTargetException e) {
              throw e.getCause();
            }
          });
      ClaimResult.Acquired a = assertInstanceOf(ClaimResult.Acquired.class, store.claim("m-1", 0,
          PayloadDigest.of("m-1".getBytes(StandardCharsets.UTF_8)), 0, Duration.ofSeconds(30)));
      ClaimRenewer renewer = new ClaimRenewer(store, Duration.ofSeconds(30), Duration.ofMillis(50));
      try {
        ClaimRenewer.LiveClaim live = renewer.start("m-1", 0, a);
        await("renewals after the one that threw").atMost(Duration.ofSeconds(10))
            .until(() -> renewals.get() >= 3);
        assertFalse(live.lost(), "still this claim's");
        live.stop();
      } finally {
        renewer.shutdownNow();
      }
    }
  }
}
