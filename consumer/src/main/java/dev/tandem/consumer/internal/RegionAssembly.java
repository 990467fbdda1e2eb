package dev.tandem.consumer.internal;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.consumer.witness.KafkaTopicWitness;
import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.KafkaRegionalSink;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import dev.tandem.store.replication.RegionAuthenticationException;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wires one region's parts from its validated configuration, the one correct way: the RocksDB store,
 * the changelog publisher (one sink per region), the replication log over every region's changelog,
 * its replicated (gated) view, and — unless {@code tandem.guarantee=detect-only} — the takeover
 * policy (with its witness) and the shard ownership over the replicated view. If any step fails, what
 * was opened is closed in reverse order; a region's cluster refusing this process's credentials is
 * reported as a {@link ConfigException} naming the keys to check.
 *
 * <p>The rules it applies (see {@code TandemRegion}'s class Javadoc): the ownership's leases live in
 * the replicated view, never the raw store; one heartbeat interval for the log and the consumers;
 * {@code revalidateAfter} derived from the policy ({@link #revalidateAfter}); the log's revoke
 * bound is half the consumer's.
 */
public final class RegionAssembly {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.TandemRegion.class);

  /** Objects a region builder may give instead of keys (any may be null). */
  public record Given(EnvelopeSigner changelogSigner,
      BiFunction<RegionId, RegionalSink, RegionalSink> changelogSinks,
      Consumer<KafkaReplicationLog.Builder> logOptions, TakeoverWitness witness,
      WitnessPolicy witnessPolicy) {}

  public final IdempotencyStore rawStore;
  public final DualPublisher changelogPublisher;
  public final KafkaReplicationLog replicationLog;
  /** The one gated view every consumer, processor and the ownership use. */
  public final IdempotencyStore replicated;
  /** Null under {@code tandem.guarantee=detect-only}. */
  public final ShardOwnership ownership;
  /** The WITNESS policy in use (its renewals run in this process), else null. */
  public final WitnessPolicy witnessPolicy;
  /** The witness, if any (closed with the region). */
  public final TakeoverWitness witness;

  /**
   * Opens the parts. {@code opened} holds what the caller opened before (the state directory lock):
   * on failure it is closed too.
   */
  public RegionAssembly(TandemRegionConfig c, String instance, Path stateDir, MeterRegistry meters,
      Given g, List<AutoCloseable> opened) {
    RegionId region = c.region();
    try {
      rawStore = IdempotencyStore.builder().region(region).instance(instance)
          .directory(stateDir.resolve("store"))
          .ttl(c.duration(TandemRegionConfig.RECORD_TTL_MS_CONFIG))
          .maxAttempts(c.getInt(TandemRegionConfig.MAX_ATTEMPTS_CONFIG))
          .sync(c.getBoolean(TandemRegionConfig.STORE_SYNC_CONFIG))
          .meterRegistry(meters)
          .build();
      opened.add(rawStore);
      DualPublisher.Builder pb = DualPublisher.builder()
          .name("changelog-" + region.name() + "-" + instance)
          .ackPolicy(AckPolicy.ANY) // the copies of a region that is down wait in the spool
          .timeout(c.duration(TandemRegionConfig.CHANGELOG_PUBLISH_TIMEOUT_MS_CONFIG))
          .spoolDirectory(stateDir.resolve("changelog-spool"))
          .meterRegistry(meters);
      if (g.changelogSigner() != null) {
        pb.signer(g.changelogSigner());
      }
      List<AutoCloseable> sinks = new ArrayList<>();
      for (RegionId r : c.regions()) {
        KafkaRegionalSink sink = KafkaRegionalSink.create(r, changelogProducer(c, instance, r));
        // each sink owns a running producer: closed if a later region or the publisher fails
        opened.add(sink);
        sinks.add(sink);
        RegionalSink given =
            g.changelogSinks() != null ? g.changelogSinks().apply(r, sink) : sink;
        if (given != sink) {
          opened.add(given);
          sinks.add(given);
        }
        pb.sink(given);
      }
      changelogPublisher = pb.build();
      // the publisher closes its sinks from here on
      opened.removeAll(sinks);
      opened.add(changelogPublisher);
      KafkaReplicationLog.Builder lb = KafkaReplicationLog.builder().store(rawStore)
          .publisher(changelogPublisher)
          .shards(c.getInt(TandemRegionConfig.SHARDS_CONFIG))
          .topicPrefix(c.getString(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG))
          .retention(c.changelogRetention())
          .replicationFactor(c.getShort(TandemRegionConfig.CHANGELOG_REPLICATION_FACTOR_CONFIG))
          // one heartbeat interval: the replica's heartbeats and the owners' lease renewals
          .heartbeatInterval(c.duration(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG))
          // the log's own revoke runs inside the consumer's revoke callback, after the consumer's
          // barrier wait (at most half of its bound): half of the consumer's bound is left for it
          .revokeTimeout(c.duration(TandemRegionConfig.REVOKE_TIMEOUT_MS_CONFIG).dividedBy(2))
          .meterRegistry(meters);
      for (RegionId r : c.regions()) {
        lb.region(r, c.regionClientProperties(r));
      }
      if (g.changelogSigner() != null) {
        lb.authenticate(g.changelogSigner());
      }
      if (c.allShards()) {
        lb.materializeAllShards();
      }
      if (g.logOptions() != null) {
        g.logOptions().accept(lb);
      }
      replicationLog = lb.build();
      opened.add(replicationLog);
      replicated = replicationLog.replicatedStore();
      if (c.detectOnly()) {
        ownership = null;
        witnessPolicy = null;
        witness = g.witness();
        log.warn("Tandem region {} ({}) runs"
            + " with tandem.guarantee=detect-only: no shard ownership; a message both regions"
            + " receive may run in both, each such duplicate is detected and counted"
            + " (tandem.store.detected.duplicates), not prevented", region, instance);
      } else {
        OwnershipPolicy policy;
        switch (c.policyName()) {
          case "witness" -> {
            witness = g.witness() != null ? g.witness() : kafkaWitness(c);
            opened.add(witness);
            witnessPolicy = g.witnessPolicy() != null ? g.witnessPolicy()
                : WitnessPolicy.builder(witness).build();
            // its renewer thread runs from construction: stopped if the ownership fails to build
            opened.add(witnessPolicy);
            policy = witnessPolicy;
          }
          case "manual" -> {
            witness = g.witness();
            witnessPolicy = null;
            policy = OwnershipPolicy.manual();
          }
          default -> {
            witness = g.witness();
            witnessPolicy = null;
            policy = OwnershipPolicy.automatic(
                c.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG),
                c.duration(TandemRegionConfig.TAKEOVER_MARGIN_MS_CONFIG),
                c.duration(TandemRegionConfig.STUCK_AFTER_MS_CONFIG));
          }
        }
        ShardOwnership.Builder ob = ShardOwnership.builder().region(region).regions(c.regions())
            // the leases live in the replicated view, never in the raw store
            .store(replicated).replicationLog(replicationLog)
            .policy(policy)
            .window(c.getInt(TandemRegionConfig.WINDOW_CONFIG))
            .catchUpTimeout(c.duration(TandemRegionConfig.CATCH_UP_TIMEOUT_MS_CONFIG))
            // an owner silent for as long as the policy in use lets the peer take over re-reads
            // the changelogs before it processes again: derived, never set apart from the policy
            .revalidateAfter(revalidateAfter(policy, c))
            .meterRegistry(meters);
        Duration failback = c.duration(TandemRegionConfig.FAILBACK_AFTER_MS_CONFIG);
        if (failback != null) {
          ob.failbackAfter(failback);
        }
        ownership = ob.build();
      }
    } catch (RuntimeException | Error e) {
      for (int i = opened.size() - 1; i >= 0; i--) {
        closeQuietly(opened.get(i));
      }
      if (e instanceof RegionAuthenticationException refused) {
        throw authenticationRefused(refused);
      }
      throw e;
    }
  }

  /**
   * How long an owner may be silent before it re-reads the changelogs: as long as the policy in use
   * lets the peer take a shard over — AUTOMATIC's L, WITNESS's witness lease (the peer may be granted
   * the shard once the owner's grant lapsed), and for a policy that answers neither (MANUAL, a
   * custom one) {@code tandem.lease.timeout.ms}.
   */
  public static Duration revalidateAfter(OwnershipPolicy policy, TandemRegionConfig c) {
    if (policy.leaseTimeout().isPresent()) {
      return policy.leaseTimeout().get();
    }
    if (policy instanceof WitnessPolicy w) {
      Duration lease = w.witness().leaseDuration();
      Duration l = c.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG);
      return lease.compareTo(l) < 0 ? lease : l;
    }
    return c.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG);
  }

  /**
   * The WITNESS policy's Kafka witness from the keys: {@code tandem.witness.topic}, {@code
   * tandem.witness.lease.ms}, and every {@code tandem.witness.<kafka key>} as a client setting of its
   * producer and consumer ({@code bootstrap.servers}, {@code security.protocol}, {@code sasl.*},
   * {@code ssl.*}: a witness cluster behind SASL/TLS is reached like a region's).
   */
  private static KafkaTopicWitness kafkaWitness(TandemRegionConfig c) {
    KafkaTopicWitness.Builder wb = KafkaTopicWitness.builder()
        .bootstrapServers(c.getString(TandemRegionConfig.WITNESS_BOOTSTRAP_CONFIG))
        .topic(c.getString(TandemRegionConfig.WITNESS_TOPIC_CONFIG))
        .lease(c.duration(TandemRegionConfig.WITNESS_LEASE_MS_CONFIG));
    c.witnessClientProperties().forEach((k, v) -> wb.clientProperty(k.toString(), v.toString()));
    return wb.build();
  }

  /**
   * The client settings of the changelog producer toward region {@code to} (package-private for its
   * test).
   */
  static Properties changelogProducer(TandemRegionConfig c, String instance, RegionId to) {
    Properties p = c.regionClientProperties(to);
    // send runs under the publisher's ordering lock: never block long on missing metadata
    p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
    // 1 ms, as the replication log's own producers (ChangelogSetup), not 5: these producers carry
    // every changelog write of the region, and each is awaited - the poll loop waits for a batch's
    // claims (own region) before its handlers, the follower holds its copy until the COMPLETED
    // arrives - so linger is added to every loop turn, to every completion's replication lag and,
    // through the longer turn, to the end-to-end latency (issue 20). A batch's claims and
    // completions are appended within well under 1 ms, so they still leave as one request.
    p.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "1");
    p.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG,
        "tandem-changelog-" + c.region() + "-" + instance + "-to-" + to);
    return p;
  }

  /**
   * A region's cluster refused this process's credentials or TLS handshake while the region was
   * built: a configuration mistake, reported as one, naming the keys to check (never their values:
   * {@code sasl.jaas.config} holds the password). The replication log counted it ({@code
   * tandem.region.authentication.failures}) and logged it.
   */
  private static ConfigException authenticationRefused(RegionAuthenticationException e) {
    String prefix = TandemRegionConfig.REGION_PREFIX + e.region().name() + ".";
    String keys = e.tls()
        ? prefix + "ssl.truststore.location (and the other " + prefix + "ssl.* settings)"
        : prefix + "sasl.jaas.config (and " + prefix + "sasl.mechanism, " + prefix
            + "security.protocol)";
    ConfigException c = new ConfigException("region " + e.region().name() + " refused this "
        + "process's " + (e.tls() ? "TLS handshake" : "SASL authentication") + ": check " + keys
        + ". The cluster answered: " + e.getCause().getMessage());
    c.initCause(e);
    return c;
  }

  /** Closes {@code c}, logging (not throwing) a failure. */
  public static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("closing {} failed", c, e);
    }
  }
}
