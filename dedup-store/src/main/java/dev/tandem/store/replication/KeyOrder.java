package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import java.util.List;
import java.util.function.Function;

/**
 * The copies of ONE changelog key ({@code (origin region, incarnation, id)} or a lease key) that are
 * still in flight, so the writer can see when an older copy may land after a newer one.
 *
 * <p>Why: compaction keeps a key's last copy, so the last copy of a key in each region's changelog
 * must carry its newest state. The publisher keeps one order per region, with one gap: a copy that
 * fails or times out is spooled and replayed once no direct copy is in flight, so a NEWER copy that
 * was already sent directly when the older one failed lands first, and the replay of the older one
 * lands after it ({@code [v1, v2, v1]}: compaction would keep v1, e.g. CLAIMED over COMPLETED).
 *
 * <p>Landing order in one region, per key: direct copies land in publish order; spooled copies land
 * in publish order, after every direct copy published before their replay; a direct copy published
 * after the replay was seen delivered lands after it. So the last copy to land is the newest one
 * unless the newest copy (of those that reach the main key) was acknowledged <em>directly</em> while
 * an older one was spooled and its replay was not seen delivered before the newest was published.
 * Then, once every such replay is seen delivered, the writer publishes the key's newest value once
 * more ({@link #needsRepublish}); it is published after those replays landed, so it lands after them.
 *
 * <p>Versions are numbered per key in publish order: the caller begins a version and publishes it
 * under this object's lock, so version order is publish order. All methods are called under the
 * object's monitor.
 */
final class KeyOrder {

  enum Kind {
    /** Outcome not known yet. */
    PENDING,
    /** Acknowledged directly by the region's broker. */
    DIRECT,
    /** Spooled: lands when replayed ({@code deliveredBefore} tells when that was seen). */
    SPOOLED,
    /** Never lands under this key (lost and retried under a retry key, rejected, publisher closed). */
    GONE
  }

  final int shard;
  final String what;
  final String key;
  /** The key a retry of a copy goes under, for a writer key ({@code <incarnation>~<n>}). */
  final Function<String, String> keyForWriter;
  private long next;
  private byte[] newest;
  /**
   * The copies, per region (index in {@link #regions}) and version: versions are numbered 0, 1, ...
   * per key and never forgotten while the object lives, so a version is its array index. Arrays, not
   * a map of sorted maps: a key has one or two versions in flight in the common case, and this
   * object is made for every change shipped (issue 20: the maps were 2 % of the client's allocation).
   */
  private final List<RegionId> regions;
  private Kind[][] kinds;
  /** For SPOOLED: versions from this one on were published after its delivery was seen; -1 not yet. */
  private long[][] deliveredBefore;
  /** A republish was decided and not yet begun: decide no second one meanwhile. */
  boolean republishing;
  /** Removed from the writer's map: a new write of the key starts a new object. */
  boolean dead;

  KeyOrder(int shard, String what, String key, Function<String, String> keyForWriter,
      List<RegionId> regions) {
    this.shard = shard;
    this.what = what;
    this.key = key;
    this.keyForWriter = keyForWriter;
    this.regions = regions; // the writer's, shared and immutable
    this.kinds = new Kind[regions.size()][2];
    this.deliveredBefore = new long[regions.size()][2];
  }

  private int index(RegionId region) {
    for (int i = 0; i < regions.size(); i++) {
      RegionId r = regions.get(i);
      if (r == region || r.equals(region)) {
        return i;
      }
    }
    throw new IllegalArgumentException("no region " + region + " in this key's order");
  }

  /** Registers the next version, whose value is {@code value}; returns its number. */
  long begin(byte[] value) {
    long v = next++;
    newest = value;
    republishing = false;
    int i = (int) v;
    for (int r = 0; r < kinds.length; r++) {
      if (i == kinds[r].length) {
        kinds[r] = java.util.Arrays.copyOf(kinds[r], i * 2);
        deliveredBefore[r] = java.util.Arrays.copyOf(deliveredBefore[r], i * 2);
      }
      kinds[r][i] = Kind.PENDING;
      deliveredBefore[r][i] = -1;
    }
    return v;
  }

  /** The value of the newest version (the join of every change of the key: writes are ordered). */
  byte[] newest() {
    return newest;
  }

  /** Records how {@code version}'s copy for {@code region} ended (a spooled copy may still be GONE). */
  void outcome(RegionId region, long version, Kind kind) {
    if (version < 0 || version >= next) {
      return;
    }
    Kind[] k = kinds[index(region)];
    int v = (int) version;
    if (k[v] == Kind.PENDING || (k[v] == Kind.SPOOLED && kind == Kind.GONE)) {
      k[v] = kind;
    }
  }

  void delivered(RegionId region, long version) {
    if (version < 0 || version >= next) {
      return;
    }
    int r = index(region);
    int v = (int) version;
    if (kinds[r][v] == Kind.SPOOLED && deliveredBefore[r][v] < 0) {
      deliveredBefore[r][v] = next;
    }
  }

  /**
   * Whether the key's newest value must be published once more for {@code region} (see the class
   * comment); if so, marks the republish as decided. Forgets copies that can no longer matter.
   */
  boolean needsRepublish(RegionId region) {
    if (republishing) {
      return false;
    }
    int r = index(region);
    Kind[] k = kinds[r];
    long[] d = deliveredBefore[r];
    int top = -1;
    for (int v = (int) next - 1; v >= 0; v--) {
      if (k[v] == Kind.PENDING) {
        return false; // a newer copy's outcome decides: wait for it
      }
      if (k[v] != Kind.GONE) {
        top = v;
        break;
      }
    }
    if (top < 0) {
      return false;
    }
    if (k[top] == Kind.SPOOLED) {
      return false; // a spooled newest copy lands after every older one
    }
    boolean hazard = false;
    for (int v = 0; v < top; v++) {
      if (k[v] == Kind.SPOOLED) {
        if (d[v] < 0) {
          return false; // republish only once the replay is seen landed, so the new copy follows it
        }
        hazard |= d[v] > top;
      }
    }
    if (hazard) {
      republishing = true;
    }
    return hazard;
  }

  /**
   * At close: whether a spooled copy that has not landed yet may land after a newer copy (one
   * acknowledged directly, or still pending), or a republish was decided and will not run now. The
   * spool outlives this writer (the next publisher on it replays the copy), so the newest value must
   * be queued behind it before the publisher closes.
   */
  boolean staleCopyMayOutliveClose() {
    if (republishing) {
      return true;
    }
    for (int r = 0; r < kinds.length; r++) {
      Kind[] k = kinds[r];
      long[] d = deliveredBefore[r];
      long oldestUnlanded = Long.MAX_VALUE;
      for (int v = 0; v < next; v++) {
        if (k[v] == Kind.SPOOLED && d[v] < 0) {
          oldestUnlanded = Math.min(oldestUnlanded, v);
        } else if ((k[v] == Kind.DIRECT || k[v] == Kind.PENDING) && v > oldestUnlanded) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * Whether no copy tracked here can ever call for a republish, in any region: the entry may go. A
   * region is clear when no outcome is pending and its newest landing copy is spooled (it lands
   * after every older one, and any version begun after its outcome was known is spooled behind it
   * or sent once the spool drained), or is direct with every older spooled copy seen delivered
   * before it was published. So a region that is down for hours keeps no entry per key: memory is
   * bounded by the copies whose outcome is still open, not by the spool.
   */
  boolean settled() {
    if (republishing) {
      return false;
    }
    for (int r = 0; r < kinds.length; r++) {
      Kind[] k = kinds[r];
      long[] d = deliveredBefore[r];
      int top = -1;
      for (int v = (int) next - 1; v >= 0; v--) {
        if (k[v] == Kind.PENDING) {
          return false;
        }
        if (top < 0 && k[v] != Kind.GONE) {
          top = v;
        }
      }
      if (top < 0 || k[top] == Kind.SPOOLED) {
        continue;
      }
      for (int v = 0; v < top; v++) {
        if (k[v] == Kind.SPOOLED && (d[v] < 0 || d[v] > top)) {
          return false;
        }
      }
    }
    return true;
  }
}
