package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.store.StoreMeterNames;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The barriers of the {@link ChangelogWriter}: per shard and region, the changes not acknowledged
 * yet (one future each, completed by the writer's publish callback), and per shard the changes that
 * are not in the changelog at all (rejected, or written while closing). A barrier completes once
 * every change of the shard written so far is acknowledged by the region; it fails while the shard
 * has an unshipped change ({@link UnshippedChangeException}) and after {@link #failAll} — a consumer
 * commits offsets behind barriers, so a barrier must never pass a change the changelog does not hold.
 * Logs under {@code ChangelogWriter}'s category.
 */
final class ShardBarriers {

  private static final Logger LOG = LoggerFactory.getLogger(ChangelogWriter.class);

  /** One change that was not shipped (identity: two changes of one id are two entries). */
  static final class Unshipped {
    final String what;
    final Throwable cause;

    Unshipped(String what, Throwable cause) {
      this.what = what;
      this.cause = cause;
    }
  }

  private final RegionId localRegion;
  private final List<RegionId> regions;
  /** Changes not yet acknowledged, per shard, per region: the futures complete on acknowledgement. */
  private final Map<Integer, Map<RegionId, Set<CompletableFuture<Void>>>> pending =
      new ConcurrentHashMap<>();
  /** Per shard, changes that are not in the changelog: while any is here, the shard's barriers fail. */
  private final Map<Integer, Set<Unshipped>> unshipped = new ConcurrentHashMap<>();
  /** Set once pending changes were failed at close: every later barrier fails. */
  private volatile boolean failedAll;

  ShardBarriers(RegionId localRegion, List<RegionId> regions, MeterRegistry meters) {
    this.localRegion = localRegion;
    this.regions = regions;
    Gauge.builder(StoreMeterNames.REPLICATION_UNSHIPPED, unshipped,
            m -> m.values().stream().mapToInt(Set::size).sum())
        .tag("region", localRegion.name())
        .description("local changes not in the changelog (rejected, or written while closing); "
            + "their shards' barriers fail")
        .register(meters);
  }

  /**
   * Per-region completion futures for one change of {@code shard}, registered as pending. Each leaves
   * its pending set when it completes, however it completes ({@link Pending}). Made for every change
   * shipped, so allocation counts (issue 20): no dependent stage per future, and an immutable map for
   * one or two regions.
   */
  Map<RegionId, CompletableFuture<Void>> track(int shard) {
    Map<RegionId, Set<CompletableFuture<Void>>> byRegion =
        pending.computeIfAbsent(shard, s -> new ConcurrentHashMap<>());
    int n = regions.size();
    if (n == 1) {
      RegionId r = regions.get(0);
      return Map.of(r, pending(byRegion, r));
    }
    if (n == 2) {
      RegionId r0 = regions.get(0);
      RegionId r1 = regions.get(1);
      return Map.of(r0, pending(byRegion, r0), r1, pending(byRegion, r1));
    }
    Map<RegionId, CompletableFuture<Void>> t = new HashMap<>();
    for (int i = 0; i < n; i++) {
      RegionId r = regions.get(i);
      t.put(r, pending(byRegion, r));
    }
    return t;
  }

  private static Pending pending(Map<RegionId, Set<CompletableFuture<Void>>> byRegion,
      RegionId region) {
    Set<CompletableFuture<Void>> set =
        byRegion.computeIfAbsent(region, r -> ConcurrentHashMap.newKeySet());
    Pending f = new Pending(set);
    set.add(f);
    return f;
  }

  /**
   * A change's future for one region that removes itself from its pending set once completed, by
   * {@link #complete} or {@link #completeExceptionally} (the only ways the writer and {@link
   * #failAll} complete it), instead of a {@code whenComplete} stage per future. Added to the set
   * before it is handed out, so it cannot complete before it is in the set.
   */
  private static final class Pending extends CompletableFuture<Void> {
    private final Set<CompletableFuture<Void>> set;

    Pending(Set<CompletableFuture<Void>> set) {
      this.set = set;
    }

    @Override
    public boolean complete(Void value) {
      boolean done = super.complete(value);
      set.remove(this);
      return done;
    }

    @Override
    public boolean completeExceptionally(Throwable ex) {
      boolean done = super.completeExceptionally(ex);
      set.remove(this);
      return done;
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      boolean done = super.cancel(mayInterruptIfRunning);
      set.remove(this);
      return done;
    }
  }

  /** Registers a change of {@code shard} that is not shipped: the shard's barriers fail. */
  Unshipped block(int shard, String what, Throwable cause) {
    Unshipped u = new Unshipped(what, cause);
    Set<Unshipped> set = unshipped.computeIfAbsent(shard, s -> ConcurrentHashMap.newKeySet());
    if (set.isEmpty()) {
      LOG.error("changelog: the change of {} (shard {}) is not in the changelog ({}); every barrier"
          + " of shard {} fails until it is shipped, so no offset is committed past it", what, shard,
          cause.toString(), shard);
    }
    set.add(u);
    return u;
  }

  /** The change {@code u} of {@code shard} was shipped after all. */
  void unblock(int shard, Unshipped u) {
    Set<Unshipped> set = unshipped.get(shard);
    if (set != null && set.remove(u)) {
      LOG.info("changelog: the change of {} (shard {}) is shipped after all; {} change(s) of the "
          + "shard still unshipped", u.what, shard, set.size());
    }
  }

  /** Completes when every change of {@code shard} written so far is acknowledged by {@code region}. */
  CompletableFuture<Void> barrier(int shard, RegionId region) {
    if (!regions.contains(region)) {
      return CompletableFuture.failedFuture(
          new IllegalArgumentException("no changelog in region " + region + "; regions: " + regions));
    }
    Set<Unshipped> notShipped = unshipped.get(shard);
    if (notShipped != null) {
      for (Unshipped u : notShipped) {
        return CompletableFuture.failedFuture(new UnshippedChangeException(shard, u.what, u.cause));
      }
    }
    if (failedAll) {
      return CompletableFuture.failedFuture(new IllegalStateException(
          "the replication log closed: no change of shard " + shard + " is acknowledged any more"));
    }
    Map<RegionId, Set<CompletableFuture<Void>>> byRegion = pending.get(shard);
    Set<CompletableFuture<Void>> set = byRegion == null ? null : byRegion.get(region);
    if (set == null || set.isEmpty()) {
      return CompletableFuture.completedFuture(null);
    }
    return CompletableFuture.allOf(new ArrayList<>(set).toArray(CompletableFuture[]::new));
  }

  /** Changes of {@code shard} not yet acknowledged by some region other than the local one. */
  long unackedByPeers(int shard) {
    Map<RegionId, Set<CompletableFuture<Void>>> byRegion = pending.get(shard);
    if (byRegion == null) {
      return 0;
    }
    long n = 0;
    for (Map.Entry<RegionId, Set<CompletableFuture<Void>>> e : byRegion.entrySet()) {
      if (!e.getKey().equals(localRegion)) {
        n = Math.max(n, e.getValue().size());
      }
    }
    return n;
  }


  /** Every pending change fails its barriers, and so does every later barrier (at close). */
  void failAll() {
    failedAll = true;
    IllegalStateException e = new IllegalStateException(
        "the replication log closed before the change was acknowledged (it may still be in the "
            + "publisher's spool)");
    for (Map<RegionId, Set<CompletableFuture<Void>>> byRegion : pending.values()) {
      for (Set<CompletableFuture<Void>> set : byRegion.values()) {
        for (CompletableFuture<Void> f : new ArrayList<>(set)) {
          f.completeExceptionally(e);
        }
      }
    }
  }
}
