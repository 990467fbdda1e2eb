package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The operator's remote control of shard ownership: evacuate a region before maintenance and give
 * its shards back after, from any machine that reaches both regions' clusters, with zero duplicates
 * ({@code docs/design.md#remote-ownership-requests}).
 *
 * <p>A request travels as a record on the owning region's ownership request topic ({@code
 * <tandem.changelog.topic.prefix>.ownership}); the process that currently runs the shard's work
 * (the Kafka poll loop of the instance assigned the partition, or a Functions / Service Bus /
 * Spring heartbeat tick through {@code OwnershipRequests}) performs the planned handover ({@link
 * ShardOwnership#handOver}: drain, the destination acknowledges every change, epoch + 1) and writes
 * a result record; this client waits for each shard's result. A shard whose owner does not answer
 * before the deadline is reported {@link ShardMoveResult.Outcome#NOT_ANSWERED} and never moved,
 * unless {@code force} is given: then it is moved by a fenced move ({@link ShardOwnership#move}),
 * reported {@link ShardMoveResult.Outcome#FORCED} with its duplicate bound.
 *
 * <p>Made from the same configuration as the region's consumers ({@link
 * dev.tandem.consumer.TandemRegionConfig}); it opens its own replica in its own working directory
 * (never the region's {@code tandem.state.dir}, whose lock a running instance holds), as a MANUAL
 * member of the destination region: it takes no ownership and acts on no request by itself.
 *
 * <pre>{@code
 * try (OwnershipAdmin admin = OwnershipAdmin.create(TandemRegion.load(Path.of("tandem.properties")),
 *     Path.of("/var/lib/tandem-admin"))) {
 *   List<ShardMoveResult> out = admin.evacuate(RegionId.of("westeurope"), Duration.ofSeconds(30), false);
 *   // ... maintenance ...
 *   admin.returnTo(RegionId.of("westeurope"), Duration.ofSeconds(30));
 * }
 * }</pre>
 *
 * <p>Thread-safe (calls are serialised).
 */
public final class OwnershipAdmin implements AutoCloseable {

  private OwnershipAdmin() {}

  /**
   * An admin client for the regions of {@code regionConfig} (the key table of {@link
   * dev.tandem.consumer.TandemRegionConfig}; {@code tandem.region}, {@code tandem.state.dir} and
   * {@code tandem.instance} are ignored).
   *
   * @param workDir this client's own directory for its replicas (one sub-directory per region it
   *     acts as); must not be a running instance's state directory
   * @throws org.apache.kafka.common.config.ConfigException on a bad key, naming it
   */
  public static OwnershipAdmin create(Map<?, ?> regionConfig, Path workDir) {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /** As {@link #create(Map, Path)} with a temporary working directory deleted on {@link #close()}. */
  public static OwnershipAdmin create(Map<?, ?> regionConfig) {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /** Every region of the configuration, sorted. */
  public List<RegionId> regions() {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /** The number of shards ({@code tandem.shards}). */
  public int shardCount() {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /** Every shard's lease as this client's replica holds it (restored from the changelogs). */
  public List<ShardLease> leases() {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /**
   * Moves every shard {@code region} owns to the other region by planned handover and waits for
   * each shard's result, at most {@code timeout} (then the request expires: an owner that reads it
   * later ignores it).
   *
   * @param force move the shards whose owner did not answer (or failed) by a fenced move, reported
   *     {@link ShardMoveResult.Outcome#FORCED} with its bound; without it they are reported and stay
   * @return one result per shard {@code region} owned, by shard; empty when it owns none
   * @throws IllegalArgumentException for an unknown region, or a deployment of other than two regions
   */
  public List<ShardMoveResult> evacuate(RegionId region, Duration timeout, boolean force) {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /**
   * Hands back to {@code region} every shard whose initial owner it is ({@link
   * ShardOwnership#initialOwner}) and that another region owns now, by planned handover; shards
   * whose owner does not answer are reported, never forced.
   *
   * @return one result per shard to return, by shard; empty when there is none
   */
  public List<ShardMoveResult> returnTo(RegionId region, Duration timeout) {
    return returnTo(region, timeout, false);
  }

  /** As {@link #returnTo(RegionId, Duration)}; with {@code force}, unanswered shards are fenced. */
  public List<ShardMoveResult> returnTo(RegionId region, Duration timeout, boolean force) {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /**
   * Moves one shard to {@code to} by planned handover, through its owner as {@link #evacuate} does.
   *
   * @throws IllegalArgumentException when {@code to} already owns {@code shard} or is unknown
   */
  public ShardMoveResult move(int shard, RegionId to, Duration timeout, boolean force) {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /**
   * A fenced move of {@code shard} to {@code to} without asking its owner ({@link
   * ShardOwnership#move}): the new epoch is written first, then the old owner's acknowledgement is
   * waited for up to {@code ackWait} (zero: not at all, for an owner known to be down). Reported
   * {@link ShardMoveResult.Outcome#FORCED} with the bound (empty: detected, not bounded).
   *
   * @throws IllegalArgumentException when {@code to} already owns {@code shard} or is unknown
   */
  public ShardMoveResult fence(int shard, RegionId to, Duration ackWait) {
    throw new UnsupportedOperationException("not yet implemented");
  }

  /** Closes the replicas and clients this admin opened. */
  @Override
  public void close() {}
}
