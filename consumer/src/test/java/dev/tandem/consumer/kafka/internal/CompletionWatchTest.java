package dev.tandem.consumer.kafka.internal;

import static dev.tandem.consumer.kafka.internal.FollowerHoldTest.stored;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link CompletionWatch} without Kafka: counted watches, the signal, the listener's lifetime. */
class CompletionWatchTest {

  private final CompletionWatch watch = new CompletionWatch();

  private void apply(String id, Phase phase) {
    watch.listener().onRecord(stored(id, phase), WriteOrigin.REMOTE);
  }

  @Test
  void aWatchedIdsCompletionSetsTheMarkAndWakesItsWaiterOnly() throws Exception {
    apply("x", Phase.COMPLETED);
    assertFalse(watch.applied(), "nothing watched: nothing marked");

    watch.watch("x");
    var waiting = CompletableFuture.supplyAsync(() -> {
      try {
        return watch.await("x", 60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    apply("y", Phase.COMPLETED);
    apply("x", Phase.CLAIMED);
    assertFalse(watch.applied(), "another id, or not terminal");
    assertFalse(watch.await("x", 0, TimeUnit.NANOSECONDS), "x not completed yet");
    apply("x", Phase.DEAD_LETTERED);
    assertTrue(watch.applied(), "dead-lettered is terminal");
    assertTrue(waiting.get(30, TimeUnit.SECONDS), "the waiter of x woken by its completion");
    assertTrue(watch.await("x", 0, TimeUnit.NANOSECONDS), "applied before the wait: no wait");

    watch.clearApplied();
    assertFalse(watch.applied());
    assertFalse(watch.await("y", 0, TimeUnit.NANOSECONDS), "an id not watched is never waited on");
  }

  @Test
  void anIdStaysWatchedUntilItsLastHolderUnwatchesIt() {
    watch.watch("x");
    watch.watch("x");
    watch.watch("z");
    assertEquals(2, watch.watchedIds());
    watch.unwatch("x");
    assertTrue(watch.watches("x"), "the second holder of x still waits");
    apply("x", Phase.COMPLETED);
    assertTrue(watch.applied(), "so its completion still marks");
    watch.unwatch("x");
    watch.unwatch("x"); // one too many: no effect on others, no negative count
    assertFalse(watch.watches("x"));
    assertEquals(1, watch.watchedIds());
    watch.watch("x");
    assertTrue(watch.watches("x"), "watched again from a fresh count");
    watch.clear();
    assertEquals(0, watch.watchedIds());
  }

  @Test
  void attachAddsTheListenerAndCloseRemovesItAndEndsTheWatches() {
    List<StoreListener> listeners = new ArrayList<>();
    IdempotencyStore store = (IdempotencyStore) Proxy.newProxyInstance(
        getClass().getClassLoader(), new Class<?>[] {IdempotencyStore.class}, (p, m, args) -> {
          switch (m.getName()) {
            case "addListener" -> listeners.add((StoreListener) args[0]);
            case "removeListener" -> listeners.remove((StoreListener) args[0]);
            default -> throw new UnsupportedOperationException(m.getName());
          }
          return null;
        });
    watch.attach(store);
    assertEquals(List.of(watch.listener()), listeners);
    assertThrows(IllegalStateException.class, () -> watch.attach(store));
    watch.watch("x");
    watch.close();
    assertEquals(List.of(), listeners, "the store outlives the watch: its listener removed");
    assertEquals(0, watch.watchedIds());
    watch.close(); // twice: nothing more to remove
    assertEquals(List.of(), listeners);
  }
}
