package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
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

  static final class Copy {
    Kind kind = Kind.PENDING;
    /** For SPOOLED: versions from this one on were published after its delivery was seen; -1 not yet. */
    long deliveredBefore = -1;
  }

  final int shard;
  final String what;
  final String key;
  /** The key a retry of a copy goes under, for a writer key ({@code <incarnation>~<n>}). */
  final Function<String, String> keyForWriter;
  private long next;
  private byte[] newest;
  private final Map<RegionId, NavigableMap<Long, Copy>> copies = new HashMap<>();
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
    for (RegionId r : regions) {
      copies.put(r, new TreeMap<>());
    }
  }

  /** Registers the next version, whose value is {@code value}; returns its number. */
  long begin(byte[] value) {
    long v = next++;
    newest = value;
    republishing = false;
    for (NavigableMap<Long, Copy> m : copies.values()) {
      m.put(v, new Copy());
    }
    return v;
  }

  /** The value of the newest version (the join of every change of the key: writes are ordered). */
  byte[] newest() {
    return newest;
  }

  /** Records how {@code version}'s copy for {@code region} ended (a spooled copy may still be GONE). */
  void outcome(RegionId region, long version, Kind kind) {
    Copy c = copies.get(region).get(version);
    if (c != null && (c.kind == Kind.PENDING || (c.kind == Kind.SPOOLED && kind == Kind.GONE))) {
      c.kind = kind;
    }
  }

  void delivered(RegionId region, long version) {
    Copy c = copies.get(region).get(version);
    if (c != null && c.kind == Kind.SPOOLED && c.deliveredBefore < 0) {
      c.deliveredBefore = next;
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
    NavigableMap<Long, Copy> m = copies.get(region);
    Map.Entry<Long, Copy> newestLanding = null;
    for (Map.Entry<Long, Copy> e : m.descendingMap().entrySet()) {
      Kind k = e.getValue().kind;
      if (k == Kind.PENDING) {
        return false; // a newer copy's outcome decides: wait for it
      }
      if (k != Kind.GONE) {
        newestLanding = e;
        break;
      }
    }
    if (newestLanding == null) {
      return false;
    }
    long top = newestLanding.getKey();
    if (newestLanding.getValue().kind == Kind.SPOOLED) {
      return false; // a spooled newest copy lands after every older one
    }
    boolean hazard = false;
    for (Copy c : m.headMap(top, false).values()) {
      if (c.kind == Kind.SPOOLED) {
        if (c.deliveredBefore < 0) {
          return false; // republish only once the replay is seen landed, so the new copy follows it
        }
        hazard |= c.deliveredBefore > top;
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
    for (NavigableMap<Long, Copy> m : copies.values()) {
      long oldestUnlanded = Long.MAX_VALUE;
      for (Map.Entry<Long, Copy> e : m.entrySet()) {
        Copy c = e.getValue();
        if (c.kind == Kind.SPOOLED && c.deliveredBefore < 0) {
          oldestUnlanded = Math.min(oldestUnlanded, e.getKey());
        } else if ((c.kind == Kind.DIRECT || c.kind == Kind.PENDING) && e.getKey() > oldestUnlanded) {
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
    for (NavigableMap<Long, Copy> m : copies.values()) {
      Map.Entry<Long, Copy> top = null;
      for (Map.Entry<Long, Copy> e : m.descendingMap().entrySet()) {
        if (e.getValue().kind == Kind.PENDING) {
          return false;
        }
        if (top == null && e.getValue().kind != Kind.GONE) {
          top = e;
        }
      }
      if (top == null || top.getValue().kind == Kind.SPOOLED) {
        continue;
      }
      for (Copy c : m.headMap(top.getKey(), false).values()) {
        if (c.kind == Kind.SPOOLED && (c.deliveredBefore < 0 || c.deliveredBefore > top.getKey())) {
          return false;
        }
      }
    }
    return true;
  }
}
