package dev.tandem.store;

import dev.tandem.core.RegionId;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The lease of one shard: which region owns it, under which epoch, and its owner's latest heartbeat.
 * The second lattice type of the store: {@link #merge} is the max under a total order that compares
 * the {@code epoch} first, then the heartbeat's HLC stamp (a renewal). So a takeover (epoch + 1)
 * beats every renewal of the old epoch, however late or often those renewals arrive.
 *
 * <p>The heartbeat fields are filled by the consumer's owner loop ({@code
 * docs/design.md#owner-liveness-heartbeats-with-probes}):
 *
 * @param shard the shard, {@code >= 0}
 * @param epoch the lease epoch; a takeover writes {@code epoch + 1}
 * @param owner the owning region
 * @param heartbeatHlc HLC stamp of the owner's latest heartbeat (its physical part is the sent-at
 *     wall time used for lag); a renewal writes a newer stamp under the same epoch
 * @param position the owner's consumer position in the shard at the heartbeat (-1 if unknown)
 * @param window the replication window W the owner runs with (0 if unknown)
 * @param unacked the owner's count of changes the peer region has not acknowledged yet
 * @param peerReachable whether the owner could reach the peer region (if not, its window was lifted
 *     and the takeover bound is unknown)
 * @param attributes anything else the consumer wants to carry (sorted, unmodifiable; may be empty)
 */
public record ShardLease(
    int shard,
    long epoch,
    RegionId owner,
    long heartbeatHlc,
    long position,
    int window,
    long unacked,
    boolean peerReachable,
    SortedMap<String, String> attributes)
    implements Comparable<ShardLease> {

  private static final Comparator<ShardLease> ORDER =
      Comparator.comparingLong(ShardLease::epoch)
          .thenComparingLong(ShardLease::heartbeatHlc)
          .thenComparing(ShardLease::owner)
          // the rest only makes the order total, so merge stays commutative for equal stamps
          .thenComparingLong(ShardLease::position)
          .thenComparingInt(ShardLease::window)
          .thenComparingLong(ShardLease::unacked)
          .thenComparing(ShardLease::peerReachable)
          .thenComparing(ShardLease::attributes, ShardLease::compareMaps);

  /** Validates the numbers and copies the attributes (sorted, unmodifiable). */
  public ShardLease {
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    if (epoch < 0) {
      throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
    }
    Objects.requireNonNull(owner, "owner");
    if (window < 0 || unacked < 0) {
      throw new IllegalArgumentException("window and unacked must be >= 0");
    }
    attributes =
        attributes == null || attributes.isEmpty()
            ? Collections.emptySortedMap()
            : Collections.unmodifiableSortedMap(new TreeMap<>(attributes));
  }

  /** A lease with only the ownership fields set (position -1, window 0, unacked 0, peer reachable). */
  public static ShardLease of(int shard, long epoch, RegionId owner, long heartbeatHlc) {
    return new ShardLease(shard, epoch, owner, heartbeatHlc, -1, 0, 0, true, null);
  }

  /** The same lease renewed: same epoch and owner, a newer heartbeat with the given fields. */
  public ShardLease renewed(
      long newHeartbeatHlc, long newPosition, int newWindow, long newUnacked, boolean reachable,
      Map<String, String> newAttributes) {
    return new ShardLease(shard, epoch, owner, newHeartbeatHlc, newPosition, newWindow, newUnacked,
        reachable, newAttributes == null ? null : new TreeMap<>(newAttributes));
  }

  /** A takeover of this lease by {@code newOwner}: epoch + 1. */
  public ShardLease takenOverBy(RegionId newOwner, long heartbeat) {
    return ShardLease.of(shard, epoch + 1, newOwner, heartbeat);
  }

  /** The join: the greater lease under the epoch-first order. Both must be of the same shard. */
  public ShardLease merge(ShardLease other) {
    if (shard != other.shard) {
      throw new IllegalArgumentException(
          "cannot merge leases of shards " + shard + " and " + other.shard);
    }
    return compareTo(other) >= 0 ? this : other;
  }

  @Override
  public int compareTo(ShardLease o) {
    return ORDER.compare(this, o);
  }

  private static int compareMaps(SortedMap<String, String> a, SortedMap<String, String> b) {
    Iterator<Map.Entry<String, String>> ia = a.entrySet().iterator();
    Iterator<Map.Entry<String, String>> ib = b.entrySet().iterator();
    while (ia.hasNext() && ib.hasNext()) {
      Map.Entry<String, String> ea = ia.next();
      Map.Entry<String, String> eb = ib.next();
      int c = ea.getKey().compareTo(eb.getKey());
      if (c != 0) {
        return c;
      }
      c = ea.getValue().compareTo(eb.getValue());
      if (c != 0) {
        return c;
      }
    }
    return Boolean.compare(ia.hasNext(), ib.hasNext());
  }
}
