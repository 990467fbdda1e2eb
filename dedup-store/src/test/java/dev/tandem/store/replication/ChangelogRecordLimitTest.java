package dev.tandem.store.replication;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.Shards;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.PublishException;
import dev.tandem.store.ClaimResult;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The changelog record size limit on real brokers: a record larger than the changelog topic's {@code
 * max.message.bytes} is rejected by Kafka; the writer does not retry it forever or drop it silently:
 * it is counted ({@code tandem.replication.publish.failures}, {@code reason=rejected}), its barrier
 * fails with the broker's reason and later barriers of its shard fail too (it is retried slowly), while
 * smaller records keep replicating.
 */
@TandemClusters
class ChangelogRecordLimitTest {

  static TwoRegions regions;

  @Test
  void anOversizedChangelogRecordIsRejectedCountedAndItsBarrierFails(@TempDir Path dir)
      throws Exception {
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), "limit",
        b -> b.topicConfig("max.message.bytes", "4096").heartbeatInterval(Duration.ZERO))) {
      assertTrue(a.log.awaitRestored(Duration.ofSeconds(30)));
      String big = "big-result";
      int shard = Shards.forKey(big, Replica.SHARDS);
      assertInstanceOf(ClaimResult.Acquired.class, a.store.claim(big, shard,
          PayloadDigest.of(big.getBytes(UTF_8)), 0, Duration.ofMinutes(1)));
      a.store.complete(big, shard, new byte[16 * 1024]); // within the store's 64 KiB, over 4 KiB
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> a.log.barrier(shard, TestRegions.A).get(30, TimeUnit.SECONDS));
      PublishException pe = assertInstanceOf(PublishException.class, e.getCause());
      assertTrue(pe.failures().values().stream().anyMatch(t -> t instanceof MessageRejectedException),
          "rejected, not retried: " + pe);
      assertTrue(pe.toString().contains("RecordTooLarge") || pe.toString().contains("too large"),
          "says why: " + pe);
      await().atMost(Duration.ofSeconds(10)).until(() ->
          a.counter("tandem.replication.publish.failures", "reason", "rejected") >= 1.0);

      // the rejected change holds back every later barrier of its shard (no commit passes it) ...
      ExecutionException later = assertThrows(ExecutionException.class,
          () -> a.log.barrier(shard, TestRegions.A).get(30, TimeUnit.SECONDS));
      assertInstanceOf(UnshippedChangeException.class, later.getCause());
      // ... while a record within the limit still replicates, on another shard
      String small = "small-result";
      int s2 = Shards.forKey(small, Replica.SHARDS);
      assertNotEquals(shard, s2);
      a.store.claim(small, s2, PayloadDigest.of(small.getBytes(UTF_8)), 0, Duration.ofMinutes(1));
      a.store.complete(small, s2, new byte[16]);
      a.log.barrier(s2, TestRegions.A).get(30, TimeUnit.SECONDS);
    }
  }
}
