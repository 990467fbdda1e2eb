package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.PublishException;
import dev.tandem.publisher.PublishResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ships every LOCAL write of the store to every region's changelog through the {@link
 * DualPublisher}'s fan-out and spool, and tracks, per shard and region, the changes not acknowledged
 * yet (for {@link ReplicationLog#barrier} and {@link ReplicationLog#unackedByPeers}).
 *
 * <p>Order: the store calls {@link #onRecord} under the id's stripe lock, in write order, and {@code
 * publish} only enqueues (the publisher keeps one order for every region), so the changelog receives
 * one writer's records of an id in write order: compaction then keeps that writer's largest record.
 *
 * <p>A publish that leaves a region's copy neither acknowledged nor spooled (the spool is full) is
 * retried after {@code retryBackoff} until it succeeds or this writer closes, under a <em>retry
 * key</em> ({@code <incarnation>~<n>}) of its own: the retried, older record then never shadows a
 * newer record of the main key in a compacted topic. Copies that are in the spool are never
 * re-published (that would only pile duplicates into the spool). A copy a region rejects outright (too large) is not retried: it is
 * logged, counted ({@code tandem.replication.publish.failures}, reason {@code rejected}) and its
 * barrier fails.
 */
final class ChangelogWriter implements StoreListener {

  private static final Logger LOG = LoggerFactory.getLogger(ChangelogWriter.class);

  private final IdempotencyStore store;
  private final DualPublisher publisher;
  private final RegionId localRegion;
  private final String incarnation;
  private final String topic;
  private final List<RegionId> regions;
  private final TandemClock clock;
  private final ScheduledExecutorService scheduler;
  private final Duration retryBackoff;
  private final AtomicLong retryKeys = new AtomicLong();
  /** Changes not yet acknowledged, per shard, per region: the futures complete on acknowledgement. */
  private final Map<Integer, Map<RegionId, Set<CompletableFuture<Void>>>> pending =
      new ConcurrentHashMap<>();
  private volatile boolean closed;

  private final Counter sentRecords;
  private final Counter sentLeases;
  private final Counter sentHeartbeats;
  private final Counter retries;
  private final Counter rejected;
  private final Counter heartbeatFailures;

  ChangelogWriter(
      IdempotencyStore store,
      DualPublisher publisher,
      String incarnation,
      String topic,
      TandemClock clock,
      ScheduledExecutorService scheduler,
      Duration retryBackoff,
      MeterRegistry meters) {
    this.store = store;
    this.publisher = publisher;
    this.localRegion = store.owner().region();
    this.incarnation = incarnation;
    this.topic = topic;
    this.regions = List.copyOf(publisher.regions());
    this.clock = clock;
    this.scheduler = scheduler;
    this.retryBackoff = retryBackoff;
    String r = localRegion.name();
    this.sentRecords = meters.counter("tandem.replication.sent", "region", r, "type", "record");
    this.sentLeases = meters.counter("tandem.replication.sent", "region", r, "type", "lease");
    this.sentHeartbeats = meters.counter("tandem.replication.sent", "region", r, "type", "heartbeat");
    this.retries = meters.counter("tandem.replication.publish.retries", "region", r);
    this.rejected =
        meters.counter("tandem.replication.publish.failures", "region", r, "reason", "rejected");
    this.heartbeatFailures =
        meters.counter("tandem.replication.publish.failures", "region", r, "reason", "heartbeat");
  }

  @Override
  public void onRecord(IdRecord record, WriteOrigin origin) {
    if (origin != WriteOrigin.LOCAL || closed) {
      return;
    }
    sentRecords.increment();
    ship(record.shard(), record.id(), keyFor(record, incarnation), ChangelogCodec.encode(record),
        trackers(record.shard()), () -> ChangelogCodec.encode(record), k -> keyFor(record, k), 1);
  }

  @Override
  public void onLease(ShardLease lease, WriteOrigin origin) {
    if (origin != WriteOrigin.LOCAL || closed) {
      return;
    }
    sentLeases.increment();
    byte[] value = ChangelogCodec.encode(lease);
    ship(lease.shard(), "lease-" + lease.shard(),
        ChangelogCodec.leaseKey(localRegion, incarnation, lease.shard()), value,
        trackers(lease.shard()), () -> value,
        k -> ChangelogCodec.leaseKey(localRegion, k, lease.shard()), 1);
  }

  private String keyFor(IdRecord record, String writerKey) {
    return ChangelogCodec.recordKey(localRegion, writerKey, record.id());
  }

  /** Writes one heartbeat per shard into every region's changelog (lag measurement only). */
  void heartbeat(int shards) {
    if (closed) {
      return;
    }
    for (int shard = 0; shard < shards; shard++) {
      var hb = new ChangelogEntry.Heartbeat(
          localRegion, incarnation, shard, clock.wallMillis(), store.tickHlc());
      OutboundMessage m = message(shard, ChangelogCodec.heartbeatKey(localRegion, incarnation),
          ChangelogCodec.encode(hb));
      try {
        publisher.publish(m).whenComplete((r, e) -> {
          if (e != null) {
            // the next heartbeat replaces it; nothing to retry, but never silent
            heartbeatFailures.increment();
            LOG.debug("heartbeat of shard {} not published: {}", hb.shard(), e.toString());
          }
        });
        sentHeartbeats.increment();
      } catch (IllegalStateException closedPublisher) {
        return;
      }
    }
  }

  /** Per-region completion futures for one change of {@code shard}, registered as pending. */
  private Map<RegionId, CompletableFuture<Void>> trackers(int shard) {
    Map<RegionId, Set<CompletableFuture<Void>>> byRegion =
        pending.computeIfAbsent(shard, s -> new ConcurrentHashMap<>());
    Map<RegionId, CompletableFuture<Void>> t = new HashMap<>();
    for (RegionId region : regions) {
      CompletableFuture<Void> f = new CompletableFuture<>();
      Set<CompletableFuture<Void>> set =
          byRegion.computeIfAbsent(region, r -> ConcurrentHashMap.newKeySet());
      set.add(f);
      f.whenComplete((v, e) -> set.remove(f));
      t.put(region, f);
    }
    return t;
  }

  private void ship(
      int shard,
      String what,
      String key,
      byte[] value,
      Map<RegionId, CompletableFuture<Void>> done,
      java.util.function.Supplier<byte[]> valueAgain,
      java.util.function.Function<String, String> keyForWriter,
      int attempt) {
    CompletableFuture<PublishResult> f;
    try {
      f = publisher.publish(message(shard, key, value));
    } catch (RuntimeException e) {
      fail(done, e);
      return;
    }
    f.whenComplete((result, error) -> {
      if (result != null) {
        for (Map.Entry<RegionId, CompletableFuture<Void>> e : done.entrySet()) {
          CompletableFuture<Void> d = e.getValue();
          result.delivery(e.getKey()).whenComplete((ack, x) -> {
            if (x == null) {
              d.complete(null);
            } else {
              d.completeExceptionally(x);
            }
          });
        }
        return;
      }
      Throwable cause = error instanceof CompletionException && error.getCause() != null
          ? error.getCause() : error;
      Map<RegionId, CompletableFuture<Void>> lost = new HashMap<>(done);
      if (cause instanceof PublishException pe) {
        boolean rejectedSomewhere =
            pe.failures().values().stream().anyMatch(t -> t instanceof MessageRejectedException);
        if (rejectedSomewhere) {
          rejected.increment();
          LOG.error("changelog copy of {} (shard {}) rejected; it is not replicated: {}",
              what, shard, pe.getMessage());
          fail(done, pe);
          return;
        }
        for (RegionId region : pe.acknowledged()) {
          CompletableFuture<Void> d = lost.remove(region);
          if (d != null) {
            d.complete(null);
          }
        }
        for (RegionId region : pe.spooled()) {
          // safe in the spool, replayed in order; re-publishing would only add spooled duplicates
          CompletableFuture<Void> d = lost.remove(region);
          if (d != null) {
            completeWhenDrained(region, d);
          }
        }
      }
      if (lost.isEmpty()) {
        return;
      }
      if (closed) {
        fail(lost, cause);
        return;
      }
      retries.increment();
      if (attempt == 1) {
        LOG.warn("changelog copy of {} (shard {}) not stored for {} ({}); retrying every {}",
            what, shard, lost.keySet(), cause.toString(), retryBackoff);
      } else {
        LOG.debug("changelog copy of {} (shard {}) still not stored for {} after {} attempts",
            what, shard, lost.keySet(), attempt);
      }
      scheduler.schedule(
          () -> ship(shard, what, keyForWriter.apply(incarnation + "~" + retryKeys.incrementAndGet()),
              valueAgain.get(), lost, valueAgain, keyForWriter, attempt + 1),
          retryBackoff.toMillis(), TimeUnit.MILLISECONDS);
    });
  }

  /**
   * A copy spooled by a publish that failed its ack policy carries no delivery future: it counts as
   * delivered once the region's spool has drained (the spool replays in order, so every copy spooled
   * before that moment is on the region's broker).
   */
  private void completeWhenDrained(RegionId region, CompletableFuture<Void> d) {
    if (closed) {
      d.completeExceptionally(new IllegalStateException("the changelog writer closed"));
      return;
    }
    if (!publisher.status(region).spooling()) {
      d.complete(null);
      return;
    }
    scheduler.schedule(() -> completeWhenDrained(region, d), retryBackoff.toMillis(),
        TimeUnit.MILLISECONDS);
  }

  private static void fail(Map<RegionId, CompletableFuture<Void>> done, Throwable e) {
    for (CompletableFuture<Void> d : done.values()) {
      d.completeExceptionally(e);
    }
  }

  private OutboundMessage message(int shard, String key, byte[] value) {
    // the envelope id of a changelog copy is per change (it is not the record's id, which would
    // exceed 128 characters once region and incarnation are added; the key carries those)
    return OutboundMessage.builder(topic, shard)
        .key(key.getBytes(StandardCharsets.UTF_8))
        .value(value)
        .build();
  }

  /** Completes when every change of {@code shard} written so far is acknowledged by {@code region}. */
  CompletableFuture<Void> barrier(int shard, RegionId region) {
    if (!regions.contains(region)) {
      return CompletableFuture.failedFuture(
          new IllegalArgumentException("no changelog in region " + region + "; regions: " + regions));
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

  /** Whether no peer region's copies currently go to the spool (its circuit closed, spool empty). */
  boolean peerReachable() {
    for (RegionId region : regions) {
      if (!region.equals(localRegion) && publisher.status(region).spooling()) {
        return false;
      }
    }
    return true;
  }

  List<RegionId> regions() {
    return regions;
  }

  String incarnation() {
    return incarnation;
  }

  /** Stops shipping new changes. */
  void stop() {
    closed = true;
  }

  /** Changes still waiting for an acknowledgement fail their barriers (after the publisher closed). */
  void failPending() {
    closed = true;
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
