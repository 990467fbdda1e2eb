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
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates a region's changelog topic if absent ({@code partitions} = shard count, {@code
 * cleanup.policy=compact,delete}, {@code retention.ms}) and checks an existing one has exactly one
 * partition per shard: shard n ↔ partition n is the replication invariant.
 */
final class ChangelogTopics {

  private static final org.slf4j.Logger LOG =
      org.slf4j.LoggerFactory.getLogger(ChangelogTopics.class);

  private ChangelogTopics() {}

  /**
   * Ensures the topic in one region.
   *
   * @throws IllegalStateException if the topic exists with another partition count
   * @throws RegionAuthenticationException if the region refused the credentials or the TLS handshake
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
    try {
      ensureTopic(region, clientProperties, topic, partitions, replicationFactor, configs, timeout);
    } catch (RuntimeException e) {
      org.apache.kafka.common.errors.AuthenticationException auth =
          RegionAuthenticationException.authenticationCause(e);
      if (auth == null || e instanceof RegionAuthenticationException) {
        throw e;
      }
      // a refusal, not an outage: the same settings get the same answer on every retry
      throw new RegionAuthenticationException(region, "region " + region + " refused this "
          + "process's " + (auth instanceof org.apache.kafka.common.errors.SslAuthenticationException
              ? "TLS handshake (check its ssl.* settings, e.g. the truststore)"
              : "SASL authentication (check its sasl.* settings, e.g. sasl.jaas.config)")
          + " while the changelog topic " + topic + " was ensured: " + auth.getMessage(), auth);
    }
  }

  private static void ensureTopic(
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
        awaitServed(admin, region, topic, partitions, timeout);
        return;
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          throw new IllegalStateException(
              "could not create changelog topic " + topic + " in " + region + ": " + e.getCause(),
              e.getCause());
        }
      }
      TopicDescription d = describeExisting(admin, region, topic, timeout);
      if (d.partitions().size() != partitions) {
        throw new IllegalStateException(
            "changelog topic " + topic + " in " + region + " has " + d.partitions().size()
                + " partitions but the store has " + partitions
                + " shards; shard n must be partition n (create it with " + partitions + ")");
      }
      checkConfigs(admin, region, topic, configs, timeout);
      // created a moment ago by another process (the peer region starting at the same time) as
      // likely as long ago: wait for its leaders as after creating it
      awaitServed(admin, region, topic, partitions, timeout);
    }
  }

  /**
   * Describes a topic whose creation was refused as existing. Why a retry: when the peer region
   * starts at the same time, its creation of this topic is committed by the controller (so ours is
   * refused with TOPIC_ALREADY_EXISTS) before the broker that answers the describe has applied it,
   * and that broker answers UNKNOWN_TOPIC_OR_PARTITION for a moment (seen by ChangelogStartRaceTest
   * under load). Only that answer is retried, with a bounded back-off, until {@code timeout}.
   */
  private static TopicDescription describeExisting(Admin admin, RegionId region, String topic,
      Duration timeout) throws TimeoutException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
      try {
        return admin.describeTopics(Set.of(topic)).allTopicNames()
            .get(left, TimeUnit.MILLISECONDS).get(topic);
      } catch (ExecutionException e) {
        boolean notYetApplied =
            e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
        if (!notYetApplied || System.nanoTime() >= deadline) {
          throw new IllegalStateException(
              "could not describe changelog topic " + topic + " in " + region, e.getCause());
        }
        Thread.sleep(Math.min(100, left)); // a bounded back-off between asks of the broker
      }
    }
  }

  /**
   * Waits until the leader of every partition serves it: a ListOffsets for every partition answered
   * (the broker answers it only as the partition's leader, once it has applied the topic's creation).
   *
   * <p>Why: {@code createTopics} completes when the controller has committed the topic, before its
   * broker has applied it. An idempotent producer's first produce request to a partition in that
   * window fails NOT_LEADER_OR_FOLLOWER while a later request of it may already be appended (the
   * broker accepts any first sequence from a producer it has no state for); the first request then
   * spins on OUT_OF_ORDER_SEQUENCE_NUMBER until {@code delivery.timeout.ms} and the changelog lane
   * stalls (KAFKA-15591, fixed by the broker only from Kafka 4.5). Sending only to served partitions
   * closes that window.
   */
  static void awaitServed(Admin admin, RegionId region, String topic, int partitions,
      Duration timeout) throws TimeoutException, InterruptedException {
    Map<org.apache.kafka.common.TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> all =
        new java.util.HashMap<>();
    for (int p = 0; p < partitions; p++) {
      all.put(new org.apache.kafka.common.TopicPartition(topic, p),
          org.apache.kafka.clients.admin.OffsetSpec.latest());
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    Throwable last = null;
    while (System.nanoTime() < deadline) {
      long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
      try {
        admin.listOffsets(all, new org.apache.kafka.clients.admin.ListOffsetsOptions()
                .timeoutMs((int) Math.min(left, Integer.MAX_VALUE)))
            .all().get(left, TimeUnit.MILLISECONDS);
        return;
      } catch (ExecutionException e) {
        // not served yet (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE)
        last = e.getCause();
        if (last instanceof org.apache.kafka.common.errors.AuthenticationException auth) {
          throw auth; // a refusal, reported as such by ensure
        }
        if (last instanceof org.apache.kafka.common.errors.AuthorizationException) {
          LOG.warn("cannot check that the partitions of changelog topic {} in {} are served ({});"
              + " sending to them at once", topic, region, last.toString());
          return;
        }
        Thread.sleep(Math.min(100, left)); // a bounded back-off between polls of the broker
      }
    }
    throw new TimeoutException("the " + partitions + " partitions of changelog topic " + topic
        + " in " + region + " had no serving leader within " + timeout
        + (last == null ? "" : " (last: " + last + ")"));
  }

  /**
   * An existing changelog must keep records at least as long as this log needs (retention ≥ record
   * TTL + tolerated lag) and be compacted: a shorter retention or a delete-only policy would let the
   * broker drop records a restore still needs, silently. Refused with the command that fixes it.
   */
  private static void checkConfigs(Admin admin, RegionId region, String topic,
      Map<String, String> wanted, Duration timeout) throws TimeoutException, InterruptedException {
    ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
    Config actual;
    try {
      actual = admin.describeConfigs(Set.of(res)).all()
          .get(timeout.toMillis(), TimeUnit.MILLISECONDS).get(res);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof org.apache.kafka.common.errors.AuthorizationException) {
        // a locked-down cluster may deny DESCRIBE_CONFIGS: say so, do not refuse to start
        LOG.warn("cannot check the configs of changelog topic {} in {} ({}); make sure it is"
            + " compacted and keeps records at least {} ms", topic, region, e.getCause().toString(),
            wanted.get(TopicConfig.RETENTION_MS_CONFIG));
        return;
      }
      throw new IllegalStateException(
          "could not read the configs of changelog topic " + topic + " in " + region, e.getCause());
    }
    String want = wanted.get(TopicConfig.RETENTION_MS_CONFIG);
    ConfigEntry have = actual.get(TopicConfig.RETENTION_MS_CONFIG);
    ConfigEntry cleanup = actual.get(TopicConfig.CLEANUP_POLICY_CONFIG);
    boolean deletes = cleanup == null || cleanup.value() == null
        || cleanup.value().contains(TopicConfig.CLEANUP_POLICY_DELETE);
    // retention.ms applies only where the policy deletes: a compact-only topic keeps every key
    if (deletes && want != null && have != null && have.value() != null) {
      long w = Long.parseLong(want);
      long h = Long.parseLong(have.value());
      if (h >= 0 && (w < 0 || h < w)) {
        throw new IllegalStateException("changelog topic " + topic + " in " + region
            + " has retention.ms=" + h + ", shorter than the " + (w < 0 ? "unlimited" : w + " ms")
            + " this log needs (record TTL + tolerated lag): the broker could delete records a"
            + " restore still needs. Raise it: kafka-configs --alter --entity-type topics"
            + " --entity-name " + topic + " --add-config retention.ms=" + w);
      }
    }
    ConfigEntry policy = actual.get(TopicConfig.CLEANUP_POLICY_CONFIG);
    if (policy != null && policy.value() != null && !policy.value().contains("compact")) {
      throw new IllegalStateException("changelog topic " + topic + " in " + region
          + " has cleanup.policy=" + policy.value() + "; a changelog must be compacted"
          + " (cleanup.policy=compact,delete), or it grows without bound or loses records");
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
