package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.store.StoreMeterNames;
import io.micrometer.core.instrument.Counter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@link KafkaReplicationLog.Builder#build()} sets up before the log runs: the changelog topic
 * in every region (created or checked; a peer that does not answer is retried in the background, a
 * refusal — wrong partition count, unsafe configs, refused credentials — fails the build), the
 * publisher with one {@link ChangelogSink} per region when the log builds its own, its producers'
 * partition leaders, and the reader's consumer. Logs under {@code KafkaReplicationLog}'s category.
 */
final class ChangelogSetup {

  private static final Logger LOG = LoggerFactory.getLogger(KafkaReplicationLog.class);

  private final KafkaReplicationLog.Builder b;

  ChangelogSetup(KafkaReplicationLog.Builder b) {
    this.b = b;
  }

  void createTopics(RegionId local, ScheduledExecutorService scheduler) {
    Map<String, String> configs = ChangelogTopics.configs(b.retention, b.topicConfigs);
    for (Map.Entry<RegionId, Properties> e : b.regions.entrySet()) {
      RegionId region = e.getKey();
      Runnable ensure = () -> {
        try {
          ChangelogTopics.ensure(region, e.getValue(), b.topic(), b.shards, b.replicationFactor,
              configs, b.topicTimeout);
        } catch (RegionAuthenticationException ex) {
          // where an operator looks: one count and one ERROR line per refusal, naming the region
          Counter.builder(StoreMeterNames.REGION_AUTHENTICATION_FAILURES)
              .tag("region", local.name())
              .tag("target", region.name())
              .tag("client", "changelog-admin")
              .description("Refusals of this process's credentials or TLS handshake by a "
                  + "region's cluster (a wrong password, an untrusted certificate)")
              .register(b.meterRegistry)
              .increment();
          LOG.error("{}", ex.getMessage());
          throw ex;
        } catch (TimeoutException ex) {
          throw new IllegalStateException(
              region + " did not answer within " + b.topicTimeout, ex);
        } catch (InterruptedException ex) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted", ex);
        }
      };
      if (region.equals(local)) {
        ensure.run();
        ensured.add(region);
      } else {
        try {
          ensure.run();
          ensured.add(region);
        } catch (IllegalStateException ex) {
          // a wrong partition count, unsafe configs or refused credentials are refusals, not an
          // unreachable peer
          if (ex instanceof RegionAuthenticationException) {
            throw ex;
          }
          if (ex.getMessage() != null && (ex.getMessage().contains("partitions but the store has")
              || ex.getMessage().contains("has retention.ms=")
              || ex.getMessage().contains("has cleanup.policy="))) {
            throw ex;
          }
          LOG.warn("changelog topic {} in {} not ensured ({}); retrying in the background",
              b.topic(), region, ex.getMessage());
          retryEnsure(ensure, region, scheduler);
        }
      }
    }
  }

  private void retryEnsure(Runnable ensure, RegionId region, ScheduledExecutorService scheduler) {
    scheduler.schedule(() -> {
      try {
        ensure.run();
        LOG.info("changelog topic {} in {} ensured", b.topic(), region);
      } catch (RuntimeException ex) {
        retryEnsure(ensure, region, scheduler);
      }
    }, 5, TimeUnit.SECONDS);
  }

  /** The sinks of the publisher this log built, per region (empty with a given publisher). */
  private final Map<RegionId, ChangelogSink> sinks = new LinkedHashMap<>();
  /** Regions whose changelog topic was ensured (with served partitions) during build. */
  private final Set<RegionId> ensured = new java.util.HashSet<>();

  /**
   * Before the first copy: the producers of the regions whose topic was ensured learn a leader for
   * every partition (their first requests go straight to a serving leader; see {@link
   * ChangelogTopics#awaitServed}). A producer that does not within {@code topicTimeout} only gets a
   * WARN: its sink's reset is the safety net.
   */
  void awaitProducerLeaders() {
    for (Map.Entry<RegionId, ChangelogSink> e : sinks.entrySet()) {
      if (!ensured.contains(e.getKey())) {
        continue;
      }
      try {
        if (!e.getValue().awaitLeaders(b.topic(), b.shards, b.topicTimeout)) {
          LOG.warn("the changelog producer to {} learned no leader for every partition of {} "
              + "within {}; sending anyway", e.getKey(), b.topic(), b.topicTimeout);
        }
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", ex);
      }
    }
  }

  DualPublisher buildPublisher() {
    if (b.spoolDirectory == null) {
      throw new IllegalStateException("give a publisher(...) or a spoolDirectory(...) for the "
          + "changelog's own publisher");
    }
    DualPublisher.Builder pb = DualPublisher.builder()
        .ackPolicy(AckPolicy.ANY)
        .timeout(b.publishTimeout)
        .spoolDirectory(b.spoolDirectory)
        .meterRegistry(b.meterRegistry);
    if (b.changelogSigner != null) {
      pb.signer(b.changelogSigner);
    }
    for (Map.Entry<RegionId, Properties> e : b.regions.entrySet()) {
      Properties p = new Properties();
      p.putAll(e.getValue());
      // send runs under the publisher's ordering lock: never block long on missing metadata
      p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
      // 1 ms, not Kafka's 5: every changelog write is awaited synchronously somewhere - the poll
      // loop waits for its batch's claims (barrier, own region) before any handler runs, the
      // follower holds its copy until the COMPLETED arrives - so linger is pure added latency on
      // both paths (issue 20: 5 ms per claim wait and 5 ms more replication lag). A batch's claims
      // and completions are appended within well under 1 ms, so they still leave as one request
      // per region.
      p.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "1");
      p.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG,
          "tandem-changelog-" + b.store.owner().region() + "-to-" + e.getKey());
      // replaces its producer when it is out of order with its broker (KAFKA-15591)
      ChangelogSink sink =
          new ChangelogSink(b.store.owner().region(), e.getKey(), p, b.meterRegistry);
      sinks.put(e.getKey(), sink);
      pb.sink(sink);
    }
    return pb.build();
  }

  /** The reader's consumer: manual assignment, offsets in the store (no group, no commits). */
  KafkaConsumer<byte[], byte[]> newReaderConsumer(RegionId localRegion) {
    Properties p = new Properties();
    p.putAll(b.regions.get(localRegion));
    p.remove(ConsumerConfig.GROUP_ID_CONFIG); // manual assign, offsets live in the store
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG,
        "tandem-changelog-" + b.store.owner().region() + "-" + b.store.owner().instance());
    return new KafkaConsumer<>(p);
  }
}
