package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.PublishException;
import dev.tandem.publisher.PublishResult;
import dev.tandem.publisher.PublisherClosedException;
import dev.tandem.publisher.SinkAck;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreListener;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.store.WriteOrigin;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * (Why just over 500 lines: shipping a change, its retries under retry keys and its key's copy
 * order share one publish callback and its ordering rules; what could stand alone is apart — the
 * barriers and unshipped changes in {@link ShardBarriers}, the key order in {@link KeyOrder}.)
 *
 * <p>Ships every LOCAL write of the store to every region's changelog through the {@link
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
 * newer record of the main key in a compacted topic. Copies that are in the spool are not
 * re-published (that would only pile duplicates into the spool), except a key's newest value when an
 * older copy of the key lands after a newer one (below). A copy a region rejects outright (too large) is
 * logged, counted ({@code tandem.replication.publish.failures}, reason {@code rejected}) and tried
 * again only every {@code retryBackoff x} {@value #REJECTED_RETRY_FACTOR} (a raised broker limit then
 * heals it). So is a spooled copy the region refuses on replay: the publisher removes it from the
 * spool, so an empty spool never counts as its delivery — each spooled copy's own delivery future does.
 *
 * <p>Barriers never pass an unshipped change: a rejected change, or a local write that arrives once the
 * log is closing (reason {@code closing}), is registered per shard (gauge {@code
 * tandem.replication.unshipped}, an ERROR line), and every barrier of that shard fails with {@link
 * UnshippedChangeException} until the change is shipped. After {@link #failPending} every barrier fails.
 *
 * <p>A key's last copy is its newest state (compaction keeps only the last): see {@link KeyOrder}; a
 * key whose older copy was replayed after a newer one gets its newest value published once more
 * ({@code tandem.replication.republished}).
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
  /** Whether copies carry the envelope headers: only an authenticating reader looks at them. */
  private final boolean envelopeHeaders;
  private final AtomicLong retryKeys = new AtomicLong();
  /** Main keys with a copy in flight, for their order (see {@link KeyOrder}). */
  private final Map<String, KeyOrder> orders = new ConcurrentHashMap<>();
  /** What of each shard is not acknowledged or not shipped: the barriers. */
  private final ShardBarriers barriers;
  private volatile boolean closed;
  /** A rejected copy is tried again every retryBackoff times this. */
  static final int REJECTED_RETRY_FACTOR = 30;
  private final Counter sentRecords;
  private final Counter sentLeases;
  private final Counter sentHeartbeats;
  private final Counter retries;
  private final Counter rejected;
  private final Counter replayFailed;
  private final Counter heartbeatFailures;
  private final Counter republished;
  private final Counter closing;

  /**
   * {@code envelopeHeaders}: whether the copies carry the envelope as headers. Only a
   * reader that authenticates ({@link KafkaReplicationLog.Builder#authenticate}) reads them — and a
   * signed envelope is written anyway — so without authentication they are four headers per copy
   * (~170 B, more than a change's value) that the producer encodes and every reader parses for nothing.
   */
  ChangelogWriter(
      IdempotencyStore store,
      DualPublisher publisher,
      String incarnation,
      String topic,
      TandemClock clock,
      ScheduledExecutorService scheduler,
      Duration retryBackoff,
      MeterRegistry meters,
      boolean envelopeHeaders) {
    this.envelopeHeaders = envelopeHeaders;
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
    this.sentRecords =
        meters.counter(StoreMeterNames.REPLICATION_SENT, "region", r, "type", "record");
    this.sentLeases = meters.counter(StoreMeterNames.REPLICATION_SENT, "region", r, "type", "lease");
    this.sentHeartbeats =
        meters.counter(StoreMeterNames.REPLICATION_SENT, "region", r, "type", "heartbeat");
    this.retries = meters.counter(StoreMeterNames.REPLICATION_PUBLISH_RETRIES, "region", r);
    this.rejected = meters.counter(
        StoreMeterNames.REPLICATION_PUBLISH_FAILURES, "region", r, "reason", "rejected");
    this.replayFailed = meters.counter(
        StoreMeterNames.REPLICATION_PUBLISH_FAILURES, "region", r, "reason", "replay_failed");
    this.heartbeatFailures = meters.counter(
        StoreMeterNames.REPLICATION_PUBLISH_FAILURES, "region", r, "reason", "heartbeat");
    this.republished = meters.counter(StoreMeterNames.REPLICATION_REPUBLISHED, "region", r);
    this.closing = meters.counter(
        StoreMeterNames.REPLICATION_PUBLISH_FAILURES, "region", r, "reason", "closing");
    this.barriers = new ShardBarriers(localRegion, regions, meters);
  }

  @Override
  public void onRecord(IdRecord record, WriteOrigin origin) {
    if (origin != WriteOrigin.LOCAL) {
      return;
    }
    if (closed) {
      notShippedWhileClosing(record.shard(), record.id());
      return;
    }
    sentRecords.increment();
    shipInOrder(record.shard(), record.id(), keyFor(record, incarnation),
        ChangelogCodec.encode(record), k -> keyFor(record, k));
  }

  @Override
  public void onLease(ShardLease lease, WriteOrigin origin) {
    if (origin != WriteOrigin.LOCAL) {
      return;
    }
    if (closed) {
      notShippedWhileClosing(lease.shard(), "lease-" + lease.shard());
      return;
    }
    sentLeases.increment();
    shipInOrder(lease.shard(), "lease-" + lease.shard(),
        ChangelogCodec.leaseKey(localRegion, incarnation, lease.shard()), ChangelogCodec.encode(lease),
        k -> ChangelogCodec.leaseKey(localRegion, k, lease.shard()));
  }

  /**
   * A local write after the log began closing is not shipped: its shard's barriers fail from now on
   * (an empty, successful barrier would let an offset be committed past a change the changelog does
   * not hold).
   */
  private void notShippedWhileClosing(int shard, String what) {
    closing.increment();
    barriers.block(shard, what, new IllegalStateException(
        "written while the replication log was closing; it was not shipped"));
  }

  /**
   * Ships one change under its main key, registered in the key's {@link KeyOrder} (created if the key
   * has no copy in flight): the version is begun and published under the order's lock, so version
   * order is publish order.
   */
  private void shipInOrder(int shard, String what, String key, byte[] value,
      Function<String, String> keyForWriter) {
    while (true) {
      KeyOrder order =
          orders.computeIfAbsent(key, k -> new KeyOrder(shard, what, key, keyForWriter, regions));
      synchronized (order) {
        if (order.dead) {
          continue; // settled and removed meanwhile: start a new one
        }
        long version = order.begin(value);
        ship(shard, what, key, value, barriers.track(shard), () -> value, keyForWriter, 1, order,
            version, null);
        return;
      }
    }
  }

  /** Records the outcome of one copy of a tracked key; republishes the key's newest value if due. */
  private void onCopy(KeyOrder order, long version, RegionId region, KeyOrder.Kind kind,
      boolean delivered) {
    if (order == null) {
      return;
    }
    boolean republish;
    synchronized (order) {
      if (order.dead) {
        return; // it was clear when it went: no later outcome of its copies can call for a republish
      }
      if (delivered) {
        order.delivered(region, version);
      } else {
        order.outcome(region, version, kind);
      }
      republish = order.needsRepublish(region);
      if (!republish && order.settled()) {
        order.dead = true;
        orders.remove(order.key, order);
      }
    }
    if (republish) {
      try {
        // never on the caller's thread: it may be the producer's I/O thread or the replayer
        scheduler.execute(() -> republish(order, region));
      } catch (java.util.concurrent.RejectedExecutionException closing) {
        LOG.warn("changelog key {} (shard {}): an older copy landed after a newer one in {} and the "
            + "writer is closing; the newest is not published again", order.key, order.shard, region);
      }
    }
  }

  /**
   * Publishes the key's newest value again (same main key): an older copy of the key was replayed
   * from the spool after a newer one was acknowledged, so the key's last copy in {@code region}'s
   * changelog, the one compaction keeps, was stale. This copy is published after that replay was seen
   * delivered, so it lands after it (and if it is spooled itself, after it in the spool).
   */
  private void republish(KeyOrder order, RegionId region) {
    synchronized (order) {
      if (closed) {
        order.republishing = false;
        LOG.warn("changelog key {} (shard {}): an older copy landed after a newer one in {} and the "
            + "writer closed; the newest is not published again", order.key, order.shard, region);
        return;
      }
      republished.increment();
      LOG.info("changelog key {} (shard {}): an older copy was replayed after a newer one in {}; "
          + "publishing the newest again so compaction keeps it", order.key, order.shard, region);
      byte[] value = order.newest();
      long version = order.begin(value);
      ship(order.shard, order.what, order.key, value, barriers.track(order.shard), () -> value,
          order.keyForWriter, 1, order, version, null);
    }
  }

  /** Keys with a copy in flight (tracked for their order). */
  int keysInFlight() {
    return orders.size();
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

  private void ship(
      int shard,
      String what,
      String key,
      byte[] value,
      Map<RegionId, CompletableFuture<Void>> done,
      java.util.function.Supplier<byte[]> valueAgain,
      Function<String, String> keyForWriter,
      int attempt,
      KeyOrder order,
      long version,
      ShardBarriers.Unshipped blocker) {
    // every outcome is recorded in the key's order BEFORE the barrier future completes, so a barrier
    // taken after it also covers a republish that outcome triggers
    AtomicBoolean rejectedOnReplay = new AtomicBoolean(); // one block and retry per change
    // the outcome goes to a callback, not a future: one future and one stage less per change (it
    // runs where a whenComplete of the future ran: the thread settling the last copy, or this one
    // after the publisher's locks are released)
    BiConsumer<PublishResult, Throwable> outcome = (result, error) -> {
      if (result != null) {
        for (Map.Entry<RegionId, CompletableFuture<Void>> e : done.entrySet()) {
          RegionId region = e.getKey();
          CompletableFuture<Void> d = e.getValue();
          if (result.ack(region).isPresent()) {
            onCopy(order, version, region, KeyOrder.Kind.DIRECT, false);
            d.complete(null);
            continue;
          }
          onCopy(order, version, region, KeyOrder.Kind.SPOOLED, false);
          awaitReplay(result.delivery(region), region, d, order, version, shard, what, valueAgain,
              keyForWriter, attempt, blocker, rejectedOnReplay);
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
          gone(order, version, done.keySet());
          ShardBarriers.Unshipped b = blocker;
          if (b == null) {
            rejected.increment();
            LOG.error("changelog copy of {} (shard {}) rejected; it is not replicated: {}",
                what, shard, pe.getMessage());
            b = barriers.block(shard, what, pe);
          }
          fail(done, pe);
          if (!closed) {
            retryRejected(shard, what, valueAgain, keyForWriter, attempt, b);
          }
          return;
        }
        for (RegionId region : pe.acknowledged()) {
          CompletableFuture<Void> d = lost.remove(region);
          if (d != null) {
            onCopy(order, version, region, KeyOrder.Kind.DIRECT, false);
            d.complete(null);
          }
        }
        for (RegionId region : pe.spooled()) {
          // safe in the spool, replayed in order; re-publishing would only add spooled duplicates
          CompletableFuture<Void> d = lost.remove(region);
          if (d != null) {
            onCopy(order, version, region, KeyOrder.Kind.SPOOLED, false);
            awaitReplay(pe.delivery(region), region, d, order, version, shard, what, valueAgain,
                keyForWriter, attempt, blocker, rejectedOnReplay);
          }
        }
      }
      // what is left never lands under this key: it fails, or is retried under a retry key
      gone(order, version, lost.keySet());
      if (lost.isEmpty()) {
        return;
      }
      if (closed) {
        if (blocker == null) {
          barriers.block(shard, what, cause);
        }
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
              valueAgain.get(), lost, valueAgain, keyForWriter, attempt + 1, null, 0, blocker),
          retryBackoff.toMillis(), TimeUnit.MILLISECONDS);
    };
    try {
      publisher.publish(message(shard, key, value), outcome);
    } catch (RuntimeException e) {
      gone(order, version, done.keySet());
      if (blocker == null) {
        barriers.block(shard, what, e); // the publisher closed: nothing will ship it
      }
      fail(done, e);
    }
  }

  /**
   * Completes {@code d} when the spooled copy is on {@code region}'s broker: its own delivery future,
   * completed by the spool's replay (not an empty spool: a copy the region refuses on replay is
   * removed from the spool, and the spool drains without it). A copy refused on replay is in no
   * changelog: like a direct rejection it is counted, blocks its shard (before {@code d} fails, so no
   * later barrier passes it) and is retried slowly to every region — once per change, whichever of
   * its copies was refused first ({@code rejectedOnReplay}). Every other replay failure (a corrupt spool
   * record, {@link dev.tandem.publisher.SpoolRecordCorruptException}, or any cause not foreseen) is
   * handled the same way; only the publisher's close ({@link PublisherClosedException}, or this writer
   * stopped) just fails {@code d}: the copy stays in the spool for the next publisher.
   */
  private void awaitReplay(CompletableFuture<SinkAck> delivery, RegionId region,
      CompletableFuture<Void> d, KeyOrder order, long version, int shard, String what,
      java.util.function.Supplier<byte[]> valueAgain, Function<String, String> keyForWriter,
      int attempt, ShardBarriers.Unshipped blocker, AtomicBoolean rejectedOnReplay) {
    delivery.whenComplete((ack, x) -> {
      if (x == null) {
        onCopy(order, version, region, null, true);
        d.complete(null);
        return;
      }
      onCopy(order, version, region, KeyOrder.Kind.GONE, false);
      Throwable cause = x instanceof CompletionException && x.getCause() != null ? x.getCause() : x;
      boolean publisherClosed = closed || cause instanceof PublisherClosedException;
      if (!publisherClosed && rejectedOnReplay.compareAndSet(false, true)) {
        ShardBarriers.Unshipped b = blocker;
        if (b == null) {
          if (cause instanceof MessageRejectedException) {
            rejected.increment();
            LOG.error("changelog copy of {} (shard {}) was spooled, then rejected by region {} on "
                + "replay; it is not replicated: {}", what, shard, region, cause.toString());
          } else {
            replayFailed.increment();
            LOG.error("changelog copy of {} (shard {}) was spooled, then not replayed to region {}; "
                + "it is not replicated: {}", what, shard, region, cause.toString(), cause);
          }
          b = barriers.block(shard, what, cause);
        }
        d.completeExceptionally(cause);
        if (!closed) {
          retryRejected(shard, what, valueAgain, keyForWriter, attempt, b);
        }
        return;
      }
      d.completeExceptionally(cause);
    });
  }

  /**
   * A copy a region rejected (too large) is tried again every {@code retryBackoff x}
   * {@value #REJECTED_RETRY_FACTOR}, to every region, under a retry key: a region whose limit is raised
   * meanwhile takes it, and once every region acknowledged it the shard's barriers pass again.
   */
  private void retryRejected(int shard, String what, java.util.function.Supplier<byte[]> valueAgain,
      Function<String, String> keyForWriter, int attempt, ShardBarriers.Unshipped blocker) {
    Map<RegionId, CompletableFuture<Void>> fresh = new HashMap<>();
    for (RegionId region : regions) {
      fresh.put(region, new CompletableFuture<>());
    }
    CompletableFuture.allOf(fresh.values().toArray(CompletableFuture[]::new))
        .thenRun(() -> barriers.unblock(shard, blocker));
    try {
      scheduler.schedule(
          () -> ship(shard, what, keyForWriter.apply(incarnation + "~" + retryKeys.incrementAndGet()),
              valueAgain.get(), fresh, valueAgain, keyForWriter, attempt + 1, null, 0, blocker),
          retryBackoff.toMillis() * REJECTED_RETRY_FACTOR, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException closing) {
      // the log is closing: the change stays unshipped and the shard's barriers keep failing
    }
  }

  private void gone(KeyOrder order, long version, Set<RegionId> regions) {
    for (RegionId region : regions) {
      onCopy(order, version, region, KeyOrder.Kind.GONE, false);
    }
  }

  private static void fail(Map<RegionId, CompletableFuture<Void>> done, Throwable e) {
    for (CompletableFuture<Void> d : done.values()) {
      d.completeExceptionally(e);
    }
  }

  private OutboundMessage message(int shard, String key, byte[] value) {
    // the envelope id of a changelog copy is per change (it is not the record's id, which would
    // exceed 128 characters once region and incarnation are added; the key carries those)
    OutboundMessage.Builder b = OutboundMessage.builder(topic, shard)
        .key(key.getBytes(StandardCharsets.UTF_8))
        .value(value);
    if (!envelopeHeaders) {
      // the reader reads key and value only (headers only to authenticate, and a signed envelope
      // is written regardless): the envelope stays in the publisher and its spool
      b.withoutEnvelopeHeaders();
    }
    return b.build();
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

  /**
   * Stops shipping new changes. A key whose older copy is still in the spool while a newer one landed
   * (or may land) directly gets its newest value published once more now, while the publisher is
   * open: it queues behind the old copy, which the next publisher on the spool replays (a republish
   * that waited for the replay would never run).
   */
  void stop() {
    closed = true;
    for (KeyOrder order : orders.values()) {
      synchronized (order) {
        if (order.dead || !order.staleCopyMayOutliveClose()) {
          continue;
        }
        republished.increment();
        LOG.info("changelog key {} (shard {}): an older copy is still in the spool at close; "
            + "queueing the newest behind it", order.key, order.shard);
        byte[] value = order.newest();
        long version = order.begin(value);
        ship(order.shard, order.what, order.key, value, barriers.track(order.shard), () -> value,
            order.keyForWriter, 1, order, version, null);
      }
    }
  }

  /** Completes when every change of {@code shard} written so far is acknowledged by {@code region}. */
  CompletableFuture<Void> barrier(int shard, RegionId region) {
    return barriers.barrier(shard, region);
  }

  /** Changes of {@code shard} not yet acknowledged by some region other than the local one. */
  long unackedByPeers(int shard) {
    return barriers.unackedByPeers(shard);
  }

  /** Changes still waiting for an acknowledgement fail their barriers (after the publisher closed). */
  void failPending() {
    closed = true;
    barriers.failAll();
  }
}
