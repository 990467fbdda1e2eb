package dev.tandem.consumer.ownership;

import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Optional;
import java.util.function.IntFunction;

/**
 * The seam where a takeover policy plugs in ({@code docs/design.md#policies}). {@link
 * ShardOwnership} asks it, for every shard this region follows, whether to take the shard over now;
 * the processing code never knows which policy runs: {@code AUTOMATIC} ({@link #automatic}),
 * {@code WITNESS} ({@link #witness}, {@link WitnessPolicy}) and {@code MANUAL} ({@link #manual}).
 *
 * <table>
 *   <caption>What each policy does</caption>
 *   <tr><th></th><th>region crash</th><th>partition (both alive)</th><th>planned move</th></tr>
 *   <tr><td>AUTOMATIC</td><td>follower takes over after L + margin; duplicates &le; reported
 *       bound</td><td>both may process; every duplicate detected and counted when the link
 *       heals</td><td>handover, zero duplicates</td></tr>
 *   <tr><td>WITNESS</td><td>follower takes over once the witness lease ran out</td><td>only the
 *       witness holder processes</td><td>handover, zero duplicates</td></tr>
 *   <tr><td>MANUAL</td><td>nothing moves until an operator's fenced move</td><td>nothing
 *       moves</td><td>handover, zero duplicates</td></tr>
 * </table>
 */
public interface OwnershipPolicy {

  /**
   * Whether this region should take {@code observation.shard()} over now, and on what basis (the
   * reason goes into the {@link TakeoverReport}); empty to keep following.
   */
  Optional<TakeoverDecision> shouldTakeOver(ShardObservation observation);

  /**
   * Whether this region, holding {@code lease} as its owner, may process the shard now. The default
   * (AUTOMATIC) says yes: availability first, an owner keeps processing even when the peer is
   * unreachable. A witness-based policy answers from its witness lease.
   */
  default boolean mayProcess(int shard, long epoch) {
    return true;
  }

  /**
   * Whether an owner keeps processing past the replication window W while the peer region is
   * unreachable. AUTOMATIC and MANUAL say yes (availability first: a partition costs detected
   * duplicates, not a stalled shard). WITNESS says no: an owner never runs more than W changes ahead
   * of what the peer acknowledged, so the bound reported when the peer later takes over holds even if
   * the old owner's changelog cannot be read then. (A region that took a shard over from a peer it
   * could not read lifts the window of all its shards under every policy while that peer stays
   * unreachable: the peer is presumed gone, and keeping the window would stall the survivor until
   * the dead region returns.)
   */
  default boolean liftsWindowWhenPeerUnreachable() {
    return true;
  }

  /**
   * Whether a takeover this policy decided proves that the old owner had stopped processing the
   * shard, so the duplicate bound reported holds even when the old owner's changelog could not be
   * read. AUTOMATIC and MANUAL say no: silence cannot tell a dead owner from one behind a partition,
   * so such a bound is reported as {@link TakeoverReport.BoundKind#HOLDS_IF_OLD_OWNER_STOPPED}.
   * WITNESS says yes: the witness grants the next epoch only after the owner stopped renewing its
   * grant, and an owner processes only within its grant.
   */
  default boolean takeoverProvesOwnerStopped() {
    return false;
  }

  /**
   * Called once by {@link ShardOwnership} when it is built: the region this policy decides for, where
   * its meters go, and a view of the newest lease of any shard in this region's replica (it may throw
   * a {@code StoreException} for a shard not restored here). A policy that keeps state per region
   * refuses a second region.
   */
  default void attach(RegionId region, MeterRegistry registry, IntFunction<ShardLease> leases) {}

  /**
   * The owner's processing loop runs and its own region answered (a fetch or a probe succeeded) for
   * {@code shard}, whose lease names this region — whether or not the policy lets it process now.
   * A policy that holds an outside lease (WITNESS) renews it only while this keeps coming, so an owner
   * whose consumers stopped or whose broker is down lets its lease lapse and the peer take over.
   */
  default void ownerAlive(int shard) {}

  /**
   * Called by {@link ShardOwnership#handOver} after the lease of {@code shard} was written for the
   * new owner: a witness-based policy gives its witness lease up so the new owner need not wait for
   * it to run out.
   */
  default void released(int shard) {}

  /** The policy's name for logs and metric tags. */
  String name();

  /**
   * AUTOMATIC's L (the lease timeout), from which an owner's {@code revalidateAfter} is derived;
   * empty for the other policies.
   */
  default Optional<Duration> leaseTimeout() {
    return Optional.empty();
  }

  /** AUTOMATIC's margin added to L before a takeover; empty for the other policies. */
  default Optional<Duration> takeoverMargin() {
    return Optional.empty();
  }

  /** AUTOMATIC's no-progress threshold; empty for the other policies. */
  default Optional<Duration> stuckAfter() {
    return Optional.empty();
  }

  /**
   * AUTOMATIC: take over when no heartbeat arrived for {@code leaseTimeout + margin}, or when the owner
   * heartbeats without progress for {@code stuckAfter} while this follower holds a message it never
   * sees completed.
   */
  static OwnershipPolicy automatic(Duration leaseTimeout, Duration margin, Duration stuckAfter) {
    return new AutomaticPolicy(leaseTimeout, margin, stuckAfter);
  }

  /**
   * WITNESS with defaults (see {@link WitnessPolicy}): only the holder of the witness lease processes
   * a shard; a follower takes over only after the witness granted it the next epoch. For other
   * settings use {@link WitnessPolicy#builder}. Build one per region.
   */
  static WitnessPolicy witness(TakeoverWitness witness) {
    return WitnessPolicy.builder(witness).build();
  }

  /**
   * MANUAL: never takes over on its own, whatever the silence; shards move only by an operator's
   * {@link ShardOwnership#move} or the owner's planned {@link ShardOwnership#handOver}.
   */
  static OwnershipPolicy manual() {
    return ManualPolicy.INSTANCE;
  }
}
