package dev.tandem.store.replication;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import io.micrometer.core.instrument.Meter;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every {@code tandem.*} meter a running store with Kafka replication registers (claims, completes,
 * remote applies, restore, heartbeats and lag, a hand-off, a catch-up of the peer) is named in
 * {@link StoreMeterNames} — the one place of the module's meter names. Names of other modules
 * ({@code tandem.publisher.*}: the changelog's own publisher) are not this module's.
 */
@TandemClusters
class StoreMeterNamesTest {

  static TwoRegions regions;

  @TempDir Path dir;

  static Set<String> declared() throws IllegalAccessException {
    Set<String> names = new TreeSet<>();
    for (Field f : StoreMeterNames.class.getDeclaredFields()) {
      if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
        names.add((String) f.get(null));
      }
    }
    return names;
  }

  @Test
  void aRunningStoreWithReplicationRegistersOnlyDeclaredNames() throws Exception {
    String prefix = "meters-" + System.nanoTime();
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), prefix);
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), prefix)) {
      PayloadDigest d = PayloadDigest.of("x".getBytes(StandardCharsets.UTF_8));
      String id = "meter-id";
      int shard = KafkaReplicationLogTest.shardOf(id);
      assertTrue(a.gated.claim(id, shard, d, 0, Duration.ofMinutes(1))
          instanceof ClaimResult.Acquired);
      a.gated.complete(id, shard, null);
      // b applies a's change from the changelog (remote apply, lag, applied counters)
      await().atMost(Duration.ofSeconds(30))
          .until(() -> b.store.get(id, shard).map(r -> r.isTerminal()).orElse(false));
      a.log.handOff(shard);
      b.log.catchUp(TestRegions.A, Set.of(shard), Duration.ofSeconds(10));
      a.log.barrier(shard, TestRegions.A).get();
      await().atMost(Duration.ofSeconds(10)).until(() ->
          a.meters.find(StoreMeterNames.REPLICATION_HANDOFFS).counter() != null);

      Set<String> declared = declared();
      Set<String> missing = new TreeSet<>();
      for (Replica r : new Replica[] {a, b}) {
        for (Meter m : r.meters.getMeters()) {
          String name = m.getId().getName();
          if (!name.startsWith("tandem.") || name.startsWith("tandem.publisher.")) {
            continue;
          }
          // Micrometer's Caffeine binder names the cache's meters under the declared prefix
          boolean cacheBinder = name.startsWith(StoreMeterNames.CACHE + ".");
          if (!declared.contains(name) && !cacheBinder) {
            missing.add(name);
          }
        }
      }
      assertEquals(Set.of(), missing, "tandem.* meters registered but not in StoreMeterNames");
      assertTrue(a.meters.find(StoreMeterNames.CLAIMS).counters().size() > 0, "claims counted");
      assertTrue(b.meters.find(StoreMeterNames.REPLICATION_APPLIED).counters().size() > 0,
          "remote applies counted");
    }
  }
}
