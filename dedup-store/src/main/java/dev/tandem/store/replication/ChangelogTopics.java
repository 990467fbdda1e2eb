package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates a region's changelog topic if absent ({@code partitions} = shard count, {@code
 * cleanup.policy=compact,delete}, {@code retention.ms}) and checks an existing one has exactly one
 * partition per shard: shard n ↔ partition n is the replication invariant.
 */
final class ChangelogTopics {

  private ChangelogTopics() {}

  /**
   * Ensures the topic in one region.
   *
   * @throws IllegalStateException if the topic exists with another partition count
   * @throws TimeoutException if the region did not answer within {@code timeout}
   */
  static void ensure(
      RegionId region,
      Properties clientProperties,
      String topic,
      int partitions,
      short replicationFactor,
      Map<String, String> configs,
      Duration timeout)
      throws TimeoutException, InterruptedException {
    Properties p = new Properties();
    for (String key : AdminClientConfig.configNames()) {
      if (clientProperties.containsKey(key)) {
        p.put(key, clientProperties.get(key));
      }
    }
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(timeout.toMillis()));
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG,
        String.valueOf(Math.min(timeout.toMillis(), 30_000)));
    try (Admin admin = Admin.create(p)) {
      try {
        admin.createTopics(Set.of(new NewTopic(topic, partitions, replicationFactor).configs(configs)))
            .all()
            .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        return;
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          throw new IllegalStateException(
              "could not create changelog topic " + topic + " in " + region + ": " + e.getCause(),
              e.getCause());
        }
      }
      TopicDescription d;
      try {
        d = admin.describeTopics(Set.of(topic)).allTopicNames()
            .get(timeout.toMillis(), TimeUnit.MILLISECONDS).get(topic);
      } catch (ExecutionException e) {
        throw new IllegalStateException(
            "could not describe changelog topic " + topic + " in " + region, e.getCause());
      }
      if (d.partitions().size() != partitions) {
        throw new IllegalStateException(
            "changelog topic " + topic + " in " + region + " has " + d.partitions().size()
                + " partitions but the store has " + partitions
                + " shards; shard n must be partition n (create it with " + partitions + ")");
      }
    }
  }

  /** The topic configs of a changelog: compacted and deleted after {@code retention}. */
  static Map<String, String> configs(Duration retention, Map<String, String> extra) {
    java.util.HashMap<String, String> c = new java.util.HashMap<>();
    c.put(TopicConfig.CLEANUP_POLICY_CONFIG,
        TopicConfig.CLEANUP_POLICY_COMPACT + "," + TopicConfig.CLEANUP_POLICY_DELETE);
    c.put(TopicConfig.RETENTION_MS_CONFIG, String.valueOf(retention.toMillis()));
    c.putAll(extra);
    return Map.copyOf(c);
  }
}
