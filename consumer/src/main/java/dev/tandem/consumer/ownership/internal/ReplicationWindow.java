package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.store.replication.ReplicationLog;

/**
 * The replication window W (not API): an owner makes at most W changes of a shard that the peer
 * has not acknowledged — the W in the duplicate bound of a takeover. The window is lifted while the
 * peer is unreachable when the policy says so ({@link
 * OwnershipPolicy#liftsWindowWhenPeerUnreachable}) or while the peer is presumed gone.
 */
public final class ReplicationWindow {

  /** Lease attribute an owner sets in its heartbeats while it runs a shard with its window lifted. */
  public static final String WINDOW_ATTRIBUTE = "window";
  /** The value of {@link #WINDOW_ATTRIBUTE} then. */
  public static final String WINDOW_LIFTED = "lifted";

  private final ReplicationLog replication;
  private final OwnershipPolicy policy;
  private final int window;
  /**
   * Set when this region took a shard over from a peer whose changelog it could not read (or an
   * operator moved one away from an unreachable peer): the peer is presumed gone, so this region lifts
   * the window of every shard it owns while the peer stays unreachable, under every policy. Cleared as
   * soon as the peer is reachable again. Under WITNESS the takeover was granted only after the peer
   * stopped renewing that shard's witness lease; availability in a region crash is bought with a
   * double-fault gap (see {@code WitnessPolicy}): duplicates beyond a later bound are then detected.
   */
  private volatile boolean peerPresumedGone;

  public ReplicationWindow(OwnershipContext ctx, int window) {
    this.replication = ctx.replication();
    this.policy = ctx.policy();
    this.window = window;
  }

  /** W: the owner pauses a shard while this many changes await the peer. */
  public int size() {
    return window;
  }

  /**
   * How many more changes of {@code shard} this owner may make before the window is full: W minus
   * the changes the peer has not acknowledged, or {@link Long#MAX_VALUE} while the window is lifted.
   */
  public long room(int shard) {
    long unacked = replication.unackedByPeers(shard);
    if (replication.peerReachable()) {
      peerPresumedGone = false; // the peer is back: the window holds again
    } else if (lifted()) {
      return Long.MAX_VALUE;
    }
    return Math.max(0, window - unacked);
  }

  /** Whether this owner runs its shards with the window lifted now (peer unreachable). */
  public boolean lifted() {
    return !replication.peerReachable()
        && (policy.liftsWindowWhenPeerUnreachable() || peerPresumedGone);
  }

  /** The peer could not be read at a takeover, or did not acknowledge a move: presume it gone. */
  public void presumePeerGone() {
    peerPresumedGone = true;
  }
}
