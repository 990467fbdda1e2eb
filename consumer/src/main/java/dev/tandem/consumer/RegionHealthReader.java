package dev.tandem.consumer;

import dev.tandem.consumer.internal.RegionAssembly;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.RegionStatus;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreException;
import dev.tandem.store.replication.ReplicationLag;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Reads a region's {@link RegionHealth} from the objects that own each figure (the poll loops, the
 * changelog publisher, the replication log, the ownership, the raw store); never sends a request to
 * a broker. Not API: {@link TandemRegion#health()} is.
 */
final class RegionHealthReader {

  private final TandemRegionConfig config;
  private final RegionId region;
  private final String instance;
  private final RegionAssembly parts;
  private final Supplier<List<TandemKafkaConsumer<?, ?>>> consumers;
  private final BooleanSupplier closed;
  private final Map<String, Supplier<Optional<Boolean>>> brokerEvidence;
  /** Why the owning side of remote ownership requests stopped for good (DEGRADED), if it did. */
  private final Supplier<Optional<String>> ownershipRequestsFailure;

  RegionHealthReader(TandemRegionConfig config, String instance, RegionAssembly parts,
      Supplier<List<TandemKafkaConsumer<?, ?>>> consumers, BooleanSupplier closed,
      Map<String, Supplier<Optional<Boolean>>> brokerEvidence,
      Supplier<Optional<String>> ownershipRequestsFailure) {
    this.brokerEvidence = brokerEvidence;
    this.ownershipRequestsFailure = ownershipRequestsFailure;
    this.config = config;
    this.region = config.region();
    this.instance = instance;
    this.parts = parts;
    this.consumers = consumers;
    this.closed = closed;
  }

  /** See {@link TandemRegion#health()}. */
  RegionHealth read() {
    RegionHealth.Facts f = new RegionHealth.Facts();
    f.region = region.name();
    f.instance = instance;
    f.policy = parts.ownership == null
        ? TandemRegionConfig.GUARANTEE_DETECT_ONLY : config.policyName();
    f.lagLimit = config.duration(TandemRegionConfig.LEASE_TIMEOUT_MS_CONFIG);
    if (closed.getAsBoolean()) {
      f.storeOpen = false;
      return f.build();
    }
    try {
      readConsumers(f);
      readPeersAndShards(f);
      if (parts.ownership != null) {
        List<TakeoverReport> reports = parts.ownership.reports();
        f.takeovers = reports.size();
        if (!reports.isEmpty()) {
          TakeoverReport t = reports.get(reports.size() - 1);
          f.lastTakeover = new RegionHealth.Takeover(t.shard(), t.from().name(), t.to().name(),
              t.newEpoch(), t.boundKind().name(),
              t.bound().isPresent() ? t.bound().getAsLong() : null, t.reason());
        }
      }
      f.detectedDuplicates = parts.rawStore.detectedDuplicates();
    } catch (RuntimeException e) {
      if (closed.getAsBoolean()) {
        // closed while reading: the snapshot says so rather than failing the caller
        RegionHealth.Facts c = new RegionHealth.Facts();
        c.region = f.region;
        c.instance = f.instance;
        c.policy = f.policy;
        c.storeOpen = false;
        return c.build();
      }
      throw e;
    }
    return f.build();
  }

  /** The poll loops (their liveness evidence first: a failed probe after the last answer is DOWN). */
  private void readConsumers(RegionHealth.Facts f) {
    Boolean loops = null;
    for (TandemKafkaConsumer<?, ?> c : consumers.get()) {
      Optional<Boolean> answers = c.ownBrokerAnswers();
      if (answers.isPresent() && c.isRunning()) {
        loops = loops == null ? answers.get() : loops && answers.get();
      }
      f.heldRecords += c.heldRecords();
      if (c.isRunning()) {
        f.consumersRunning++;
      } else if (c.stopped().isCompletedExceptionally()) {
        String cause;
        try {
          c.stopped().getNow(null);
          cause = "unknown";
        } catch (CompletionException e) {
          cause = String.valueOf(e.getCause());
        } catch (CancellationException e) {
          cause = e.toString();
        }
        f.consumerFailures.add("topic " + c.topic() + ": " + cause);
      }
    }
    f.ownershipRequestsFailure = ownershipRequestsFailure.get().orElse(null);
    RegionStatus ownLane = parts.changelogPublisher.status(region);
    if (loops != null) {
      f.ownBrokerReachable = loops;
      f.ownBrokerEvidence = loops ? "a poll loop's fetch or probe answered recently"
          : "a poll loop's end-offset probe failed after its last answer";
    } else {
      boolean laneOk = ownLane.circuit() == CircuitBreaker.State.CLOSED && !ownLane.spooling();
      f.ownBrokerReachable = laneOk;
      f.ownBrokerEvidence = laneOk ? "the changelog lane to the own region writes"
          : "the changelog lane to the own region is " + ownLane.circuit()
              + (ownLane.spooling() ? ", spooling" : "");
    }
    // evidence from outside the poll loops (a Functions heartbeat's trigger probes): a failure
    // counts as the poll loop's would; an answer does not vouch for the brokers above
    for (Map.Entry<String, Supplier<Optional<Boolean>>> e
        : new TreeMap<>(brokerEvidence).entrySet()) {
      if (!Boolean.FALSE.equals(f.ownBrokerReachable)
          && Boolean.FALSE.equals(e.getValue().get().orElse(null))) {
        f.ownBrokerReachable = false;
        f.ownBrokerEvidence = "the heartbeat's broker probe " + e.getKey()
            + " failed after its last answer";
      }
    }
  }

  /** Spool depths, peer lags, and each shard's restore state and owner. */
  private void readPeersAndShards(RegionHealth.Facts f) {
    for (RegionId r : config.regions()) {
      f.spoolDepth.put(r.name(), parts.changelogPublisher.status(r).spoolDepth());
      if (!r.equals(region)) {
        ReplicationLag lag = parts.replicationLog.lag(r);
        f.peers.add(new RegionHealth.PeerLag(r.name(), lag.timeLag(), lag.recordsBehind(),
            lag.sinceLastHeartbeat()));
        f.peerReachable.put(r.name(), parts.replicationLog.peerReachable());
      }
    }
    boolean restored = true;
    for (int s : new TreeSet<>(parts.replicationLog.shards())) {
      boolean shardRestored = parts.replicationLog.isRestored(s);
      restored &= shardRestored;
      String owner = null;
      long epoch = -1;
      boolean owned = false;
      if (shardRestored) {
        try {
          if (parts.ownership == null) {
            epoch = 0;
            owned = true; // detect-only: every region processes every shard
          } else {
            ShardLease l = parts.ownership.lease(s);
            owner = l.owner().name();
            epoch = l.epoch();
            // the lease alone, not owns(): a policy's mayProcess may ask its witness for a renewal,
            // and a health check must change nothing (nor keep a grant for a loop that stopped)
            owned = l.owner().equals(region);
          }
        } catch (StoreException e) {
          shardRestored = false;
          restored = false;
        }
      }
      f.shards.add(new RegionHealth.ShardState(s, owner, epoch, owned, shardRestored));
    }
    f.storeRestored = restored;
  }
}
