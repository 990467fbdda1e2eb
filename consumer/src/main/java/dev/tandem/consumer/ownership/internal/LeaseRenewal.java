package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.CatchUpResult;
import dev.tandem.store.replication.ReplicationLog;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lease renewal by the owner (not API): heartbeats, telling the policy the owner is alive, and
 * re-reading the changelogs after a silence. Who may renew when is decided by {@code OwnerLiveness};
 * this writes. A heartbeat is a merge under the store's lock, and a renewal of an older epoch never
 * wins over a takeover or handover, so it may run on any thread.
 */
public final class LeaseRenewal {

  private static final Logger log = LoggerFactory.getLogger(ShardOwnership.class);

  private final OwnershipContext ctx;
  private final LeaseView leases;
  private final ReplicationWindow window;
  private final Duration revalidateAfter;

  public LeaseRenewal(OwnershipContext ctx, LeaseView leases, ReplicationWindow window,
      Duration revalidateAfter) {
    this.ctx = ctx;
    this.leases = leases;
    this.window = window;
    this.revalidateAfter = revalidateAfter;
  }

  /**
   * Renews this region's lease of {@code shard} with a heartbeat carrying position, W, the changes
   * the peer has not acknowledged, whether the peer is reachable, and the attributes a follower and
   * failback read (window lifted, evacuated from). Does nothing if this region does not own it.
   */
  public void heartbeat(int shard, long position) {
    ShardLease l = leases.lease(shard);
    if (!l.owner().equals(ctx.self())) {
      return;
    }
    Map<String, String> attributes = new TreeMap<>();
    if (window.lifted()) {
      attributes.put(ReplicationWindow.WINDOW_ATTRIBUTE, ReplicationWindow.WINDOW_LIFTED);
    }
    String evacuatedFrom = l.attributes().get(ShardOwnership.EVACUATED_FROM_ATTRIBUTE);
    if (evacuatedFrom != null) {
      // an operator's evacuation holds until a return writes a new lease (Failback)
      attributes.put(ShardOwnership.EVACUATED_FROM_ATTRIBUTE, evacuatedFrom);
    }
    ReplicationLog replication = ctx.replication();
    ctx.store().mergeLease(l.renewed(ctx.store().tickHlc(), position, window.size(),
        replication.unackedByPeers(shard), replication.peerReachable(), attributes));
    ctx.policy().ownerAlive(shard);
  }

  /** Tells the policy this region is alive as the owner of {@code shard}, if its lease says so. */
  public void ownerAlive(int shard) {
    if (leases.leaseNamesSelf(shard)) {
      ctx.policy().ownerAlive(shard);
    }
  }

  /**
   * Re-reads this region's changelog to its end and each other region's where its broker answers,
   * for {@code shards}: a follower may have taken them over during this owner's silence.
   *
   * @return false when this region's own changelog could not be read
   */
  public boolean revalidate(Set<Integer> shards) {
    if (shards.isEmpty()) {
      return true;
    }
    CatchUpResult own = ctx.replication().catchUp(ctx.self(), shards, ctx.catchUpTimeout());
    if (!own.complete()) {
      log.warn("Tandem owner {} cannot re-read its own changelog for {}: {}", ctx.self(), shards,
          own);
      return false;
    }
    for (RegionId peer : ctx.regions()) {
      if (!peer.equals(ctx.self())) {
        CatchUpResult r = ctx.replication().catchUp(peer, shards, ctx.catchUpTimeout());
        log.warn("Tandem owner {} revalidated shards {} after a silence: {}", ctx.self(), shards, r);
      }
    }
    return true;
  }

  /** How long an owner may go without a heartbeat before it must {@link #revalidate} first. */
  public Duration revalidateAfter() {
    return revalidateAfter;
  }
}
