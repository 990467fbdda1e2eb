package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.SharedStores;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.ReplicatedStore;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.apache.kafka.common.config.ConfigException;

/**
 * The replica a {@code TandemConsumerInterceptor} reads and completes in: a detect-only {@link
 * TandemRegion} of the interceptor's keys (store, changelog publisher, replication log, replicated
 * view, wired and closed the region's way), one per state directory in the process — every
 * interceptor of the directory shares it, the last close ({@link SharedStores#release}) closes it. A
 * directory is one replica of one configuration: a second consumer with another shard count, region
 * list, TTL, ... would read and write a replica that is not what its keys say (a partition beyond the
 * real shard count fails every lookup and completion), so it is refused, naming the key.
 *
 * @param directory the replica's store directory ({@code <tandem.state.dir>/store})
 * @param store the shared replicated store
 * @param shards the shared replica's shard count
 */
public record InterceptorReplica(Path directory, IdempotencyStore store, int shards) {

  /**
   * Acquires the replica of {@code c}'s state directory: opened by {@code open} if no interceptor of
   * the process holds it yet, else shared after {@link #requireSameReplica}.
   */
  public static InterceptorReplica acquire(TandemRegionConfig c, Supplier<TandemRegion> open) {
    Path stateDir = Path.of(c.getString(TandemRegionConfig.STATE_DIR_CONFIG));
    Path dir = stateDir.resolve("store");
    String instance = c.getString(TandemRegionConfig.INSTANCE_CONFIG);
    int[] shardCount = new int[1];
    IdempotencyStore shared = SharedStores.acquireOwned(dir, c.region(),
        instance == null ? null : instance.trim(), TandemRegion.class, open,
        (TandemRegion r) -> {
          shardCount[0] = r.shardCount();
          return r.store();
        },
        (TandemRegion r) -> {
          requireSameReplica(r.config(), c);
          shardCount[0] = r.shardCount();
        });
    if (!(shared instanceof ReplicatedStore)) {
      SharedStores.release(dir);
      throw new ConfigException(TandemRegionConfig.STATE_DIR_CONFIG, stateDir.toString(),
          "its store is already open in this process without replication; the interceptor needs "
          + "its region's replica (store + replication log)");
    }
    return new InterceptorReplica(dir, shared, shardCount[0]);
  }

  /**
   * Refuses {@code mine} if a key of the region's table has another value than in the configuration
   * that opened the shared replica ({@code shared}), naming the first such key.
   */
  public static void requireSameReplica(TandemRegionConfig shared, TandemRegionConfig mine) {
    Map<String, ?> theirs = shared.values();
    Map<String, ?> ours = mine.values();
    for (String key : new TreeSet<>(TandemRegionConfig.configDef().names())) {
      if (!Objects.equals(theirs.get(key), ours.get(key))) {
        throw new ConfigException(key, ours.get(key), "the replica in "
            + mine.getString(TandemRegionConfig.STATE_DIR_CONFIG) + " is already open in this "
            + "process with " + key + "=" + theirs.get(key) + "; every consumer of a state directory "
            + "shares one replica: give them the same tandem.* keys, or another "
            + TandemRegionConfig.STATE_DIR_CONFIG);
      }
    }
  }
}
