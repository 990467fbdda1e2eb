package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.spi.ReplicaStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads ANOTHER region's changelog partitions to their current end offsets and applies them (before a
 * takeover, when the old owner region's broker still answers). A temporary consumer with short API
 * timeouts, so an unreachable region answers "not read" within about {@code apiTimeout}, not after
 * the Kafka default of a minute. Resumable: progress is checkpointed under {@code <region>/<topic>/<p>}.
 */
final class RegionCatchUp {

  private static final Logger LOG = LoggerFactory.getLogger(RegionCatchUp.class);

  private final RegionId region;
  private final Properties clientProperties;
  private final String topic;
  /** The replica view: replication merges remote changes and drops shards through the SPI. */
  private final ReplicaStore store;
  private final BatchApplier applier;
  private final TandemClock clock;
  private final Duration apiTimeout;

  RegionCatchUp(
      RegionId region,
      Properties clientProperties,
      String topic,
      IdempotencyStore store,
      BatchApplier applier,
      TandemClock clock,
      Duration apiTimeout) {
    this.region = region;
    this.clientProperties = clientProperties;
    this.topic = topic;
    this.store = ReplicaStore.of(store);
    this.applier = applier;
    this.clock = clock;
    this.apiTimeout = apiTimeout;
  }

  static String checkpointKey(RegionId region, String topic, int partition) {
    return region.name() + "/" + topic + "/" + partition;
  }

  CatchUpResult run(Set<Integer> shards, Duration timeout) {
    long start = clock.nanoTime();
    long deadline = start + timeout.toNanos();
    Set<Integer> asked = new TreeSet<>(shards);
    Duration api = min(apiTimeout, timeout);
    Properties p = new Properties();
    p.putAll(clientProperties);
    p.remove(ConsumerConfig.GROUP_ID_CONFIG);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.CLIENT_ID_CONFIG,
        "tandem-catch-up-" + store.owner().region() + "-from-" + region);
    // an unreachable region must answer quickly: every blocking call is bounded by api
    p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(api.toMillis()));
    p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(api.toMillis()));
    p.put(ConsumerConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MS_CONFIG,
        String.valueOf(Math.min(api.toMillis(), 1000)));
    p.put(ConsumerConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS_CONFIG,
        String.valueOf(Math.min(api.toMillis(), 2000)));
    p.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
    long records = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int shard : asked) {
        tps.add(new TopicPartition(topic, shard));
      }
      consumer.assign(tps);
      Map<TopicPartition, Long> ends;
      try {
        ends = consumer.endOffsets(tps, api);
      } catch (KafkaException e) {
        return CatchUpResult.notRead(region, asked, 0, since(start),
            "unreachable: " + region + " did not answer within " + api.toMillis() + " ms ("
                + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
      }
      Map<String, Long> checkpoints = store.checkpoints();
      for (TopicPartition tp : tps) {
        Long next = checkpoints.get(checkpointKey(region, topic, tp.partition()));
        if (next != null) {
          consumer.seek(tp, next);
        } else {
          consumer.seekToBeginning(List.of(tp));
        }
      }
      while (true) {
        long behind = 0;
        for (TopicPartition tp : tps) {
          behind += Math.max(0, ends.get(tp) - consumer.position(tp, api));
        }
        if (behind == 0) {
          CatchUpResult ok = CatchUpResult.ok(region, asked, records, since(start));
          LOG.info("{}", ok);
          return ok;
        }
        long left = deadline - clock.nanoTime();
        if (left <= 0) {
          return CatchUpResult.notRead(region, asked, records, since(start),
              "timed out after " + timeout.toMillis() + " ms with " + behind
                  + " records of " + region + "'s changelog not read");
        }
        ConsumerRecords<byte[], byte[]> batch =
            consumer.poll(min(Duration.ofNanos(left), Duration.ofMillis(200)));
        applier.apply(batch, tp -> checkpointKey(region, topic, tp.partition()));
        records += batch.count();
      }
    } catch (KafkaException e) {
      return CatchUpResult.notRead(region, asked, records, since(start),
          "unreachable during catch-up: " + e.getClass().getSimpleName() + ": " + e.getMessage());
    }
  }

  private Duration since(long startNanos) {
    return Duration.ofNanos(clock.nanoTime() - startNanos);
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }
}
