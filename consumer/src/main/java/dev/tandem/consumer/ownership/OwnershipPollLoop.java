package dev.tandem.consumer.ownership;

import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/**
 * The calls of {@link ShardOwnership} that only the loop driving it makes — the Kafka poll loop and
 * its background renewer, the Spring listener's ticker, a function app's heartbeat timer, and {@link
 * OwnerLiveness} for them: the handover gate around each batch, the replication window, lease
 * renewal, revalidation after a silence, the follower's observation, failback. Obtained from {@link
 * ShardOwnership#pollLoop()}; an application or an operator uses {@link ShardOwnership} itself
 * ({@code handOver}, {@code move}, {@code fence}, the observations).
 *
 * <p>Thread-safe, as {@link ShardOwnership}: a lease write is a merge under the store's lock, and a
 * renewal of an older epoch never wins over a takeover or handover.
 */
public interface OwnershipPollLoop {

  /**
   * Before the loop processes a batch of {@code shard} it owns; {@link #endWork} after: a planned
   * handover waits for these batches. False (do not process; read the records again later) while a
   * handover drains the shard.
   */
  boolean beginWork(int shard);

  /** Ends a batch begun with {@link #beginWork} (call it in a finally block). */
  void endWork(int shard);

  /**
   * How many more changes of {@code shard} this owner may make before the window is full: W minus
   * the changes the peer has not acknowledged, or {@link Long#MAX_VALUE} while the window is lifted.
   * The loop admits at most as many messages as fit (each makes a claim and a completion), so the
   * peer never trails by more than W changes — the W in the duplicate bound.
   */
  long windowRoom(int shard);

  /**
   * Whether the owner must pause {@code shard}: W changes unacknowledged, and the peer reachable or
   * the policy keeping the window while it is not ({@link
   * OwnershipPolicy#liftsWindowWhenPeerUnreachable}).
   */
  boolean windowFull(int shard);

  /**
   * Renews this region's lease of {@code shard} with a heartbeat. Call it only after a successful
   * fetch from the own region's broker ({@link OwnerLiveness} decides). Does nothing if this region
   * does not own it.
   */
  void heartbeat(int shard, long position);

  /**
   * The owner's loop runs and this region's broker answered: tells the policy that this region is
   * alive as the owner of {@code shard} (its lease names this region), even while the policy does not
   * let it process yet (WITNESS before its first grant). Does nothing for a shard this region does
   * not own.
   */
  void ownerAlive(int shard);

  /**
   * Re-reads what the other regions wrote about {@code shards} before an owner processes again after
   * its heartbeats stopped for a while (its own broker was down, or the instance just started): a
   * follower may have taken the shards over meanwhile. Reads this region's changelog to its end and
   * each other region's where its broker answers.
   *
   * @return false when this region's own changelog could not be read (do not process yet); true
   *     otherwise — under AUTOMATIC an unreachable peer does not stop the owner (availability first)
   */
  boolean revalidate(Set<Integer> shards);

  /**
   * A follower's periodic look at {@code shard}: tracks the lease on this machine's monotonic clock,
   * asks the policy, and takes the shard over if it says so.
   *
   * @param heldFor how long the follower has held an uncompleted message of the shard (zero if none)
   * @return the takeover report if a takeover happened now
   */
  Optional<TakeoverReport> observe(int shard, Duration heldFor);

  /** Forgets what this instance tracked of {@code shard} (it was revoked from this instance). */
  void forget(int shard);

  /**
   * Automatic failback of {@code shard}, decided and run on the calling thread: see {@link
   * ShardOwnership.Builder#failbackAfter}. The planned handover waits up to the ownership's {@code
   * catchUpTimeout}: call it where no lease renewal waits for it — {@link
   * OwnerLiveness#failBackOne} runs it on a thread of its own.
   *
   * @return the handover report when a failback was attempted now
   */
  Optional<HandoverReport> failBackIfDue(int shard);
}
