package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The hand-off markers of a {@link KafkaReplicationLog}: a shard given up before its changes were
 * acknowledged by the own region's changelog gets a marker written after them (publishing it once
 * the shard's barrier completes, retried until stored or the log closes); the next holder waits
 * until it reads the marker back ({@link #handedOff}). Markers read from the changelog are recorded
 * here by the reader ({@link #markerRead}). Logs under {@code KafkaReplicationLog}'s category, where
 * operators look.
 */
final class HandoffMarkers {

  private static final Logger LOG = LoggerFactory.getLogger(KafkaReplicationLog.class);

  /** Highest hand-off mark read from the own region's changelog, per region|incarnation|shard. */
  private final Map<String, Long> markersRead = new java.util.concurrent.ConcurrentHashMap<>();
  /**
   * Hand-offs of this log whose marker is not settled yet, one entry per token (a shard handed off
   * twice has two; one settling does not end the other). Revoke does not wait for their shards;
   * close waits for them (bounded by {@code revokeTimeout}).
   */
  private final Map<Handoff, CompletableFuture<Void>> markersPending =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final RegionId localRegion;
  private final String topic;
  private final ReplicaStore store;
  private final ChangelogWriter writer;
  private final DualPublisher publisher;
  private final ScheduledExecutorService scheduler;
  private final Duration retryBackoff;
  private final MeterRegistry meters;
  private final BooleanSupplier closed;

  HandoffMarkers(RegionId localRegion, String topic, ReplicaStore store, ChangelogWriter writer,
      DualPublisher publisher, ScheduledExecutorService scheduler, Duration retryBackoff,
      MeterRegistry meters, BooleanSupplier closed) {
    this.localRegion = localRegion;
    this.topic = topic;
    this.store = store;
    this.writer = writer;
    this.publisher = publisher;
    this.scheduler = scheduler;
    this.retryBackoff = retryBackoff;
    this.meters = meters;
    this.closed = closed;
  }

  /** The reader read a hand-off marker from the own region's changelog. */
  void markerRead(ChangelogEntry.HandoffMarker m) {
    markersRead.merge(markerKey(m.origin(), m.incarnation(), m.shard()), m.mark(), Math::max);
  }

  /**
   * Hands {@code shard} off (see {@link ReplicationLog#handOff}; the log checks the shard): the
   * marker is written once every
   * change of the shard written so far is acknowledged by this region's changelog; meters {@code
   * tandem.replication.handoffs} ({@code outcome} = {@code marked}, or {@code failed} when a change
   * of the shard could not be stored, so the next holder waits for its bound).
   */
  Handoff handOff(int shard) {
    Handoff token = new Handoff(localRegion, writer.incarnation(), shard, store.tickHlc());
    markersPending.put(token, new CompletableFuture<>());
    LOG.warn("shard {} handed off before its changelog writes were acknowledged by {}; the next "
        + "holder waits for hand-off marker {}", shard, localRegion, token.encode());
    // off the acknowledging I/O thread: publishing takes the publisher's ordering lock
    writer.barrier(shard, localRegion).whenCompleteAsync((v, e) -> {
      if (e != null) {
        settle(token);
        handoffCounter("failed").increment();
        LOG.warn("no hand-off marker for shard {}: a change of it was not stored ({}); the next "
            + "holder waits for its bound", shard, e.toString());
        return;
      }
      publishMarker(token, 1);
    }, scheduler);
    return token;
  }

  private void publishMarker(Handoff token, int attempt) {
    if (closed.getAsBoolean()) {
      markerSettled(token, new IllegalStateException("the replication log closed first"));
      return;
    }
    ChangelogEntry.HandoffMarker m = new ChangelogEntry.HandoffMarker(
        token.region(), token.incarnation(), token.shard(), token.mark());
    dev.tandem.publisher.OutboundMessage msg = dev.tandem.publisher.OutboundMessage
        .builder(topic, token.shard())
        .key(ChangelogCodec.handoffKey(token.region(), token.incarnation(), token.shard())
            .getBytes(java.nio.charset.StandardCharsets.UTF_8))
        .value(ChangelogCodec.encode(m))
        .build();
    CompletableFuture<dev.tandem.publisher.PublishResult> f;
    try {
      f = publisher.publish(msg);
    } catch (RuntimeException e) {
      settle(token);
      LOG.warn("hand-off marker of shard {} not published: {}", token.shard(), e.toString());
      return;
    }
    // the own region's copy is what the next holder reads: done once it is stored there, directly
    // or by the spool's replay (in order); a copy neither acknowledged nor spooled is published again
    f.whenComplete((r, e) -> {
      if (r != null) {
        r.delivery(localRegion).whenComplete((a, x) -> markerSettled(token, x));
        return;
      }
      Throwable c = e instanceof java.util.concurrent.CompletionException && e.getCause() != null
          ? e.getCause() : e;
      if (c instanceof dev.tandem.publisher.PublishException pe
          && (pe.acknowledged().contains(localRegion) || pe.spooled().contains(localRegion))) {
        markerSettled(token, null);
      } else if (!closed.getAsBoolean()) {
        if (attempt == 1) {
          LOG.warn("hand-off marker of shard {} not stored in {} ({}); retrying every {}",
              token.shard(), localRegion, c.toString(), retryBackoff);
        }
        scheduler.schedule(() -> publishMarker(token, attempt + 1), retryBackoff.toMillis(),
            TimeUnit.MILLISECONDS);
      } else {
        markerSettled(token, c);
      }
    });
  }

  /** Whether a hand-off of {@code shard} by this log still waits for its marker. */
  boolean handingOff(int shard) {
    return markersPending.keySet().stream().anyMatch(t -> t.shard() == shard);
  }

  private void settle(Handoff token) {
    CompletableFuture<Void> f = markersPending.remove(token);
    if (f != null) {
      f.complete(null);
    }
  }

  private void markerSettled(Handoff token, Throwable error) {
    settle(token);
    if (error == null) {
      handoffCounter("marked").increment();
      LOG.info("hand-off marker of shard {} written for {}: {}", token.shard(), localRegion,
          token.encode());
    } else {
      handoffCounter("failed").increment();
      LOG.warn("hand-off marker of shard {} not written ({}); the next holder waits for its bound",
          token.shard(), error.toString());
    }
  }

  private Counter handoffCounter(String outcome) {
    return Counter.builder(StoreMeterNames.REPLICATION_HANDOFFS).tag("region", localRegion.name())
        .tag("outcome", outcome)
        .description("shards given up before their changes were in the own changelog; marker "
            + "written after them (marked) or not (failed)")
        .register(meters);
  }

  /** Whether the marker of {@code token} was read back from the own region's changelog. */
  boolean handedOff(Handoff token) {
    Long read = markersRead.get(markerKey(token.region(), token.incarnation(), token.shard()));
    return read != null && read >= token.mark();
  }

  private static String markerKey(RegionId region, String incarnation, int shard) {
    return region.name() + "|" + incarnation + "|" + shard;
  }

  /** Waits (bounded) until every pending hand-off marker is settled (written or failed). */
  void awaitSettled(Duration timeout) {
    List<CompletableFuture<Void>> pendingMarkers = new ArrayList<>(markersPending.values());
    if (pendingMarkers.isEmpty()) {
      return;
    }
    try {
      CompletableFuture.allOf(pendingMarkers.toArray(CompletableFuture[]::new))
          .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      LOG.warn("closing with {} hand-off markers not written within {} ({}); their next holders "
          + "wait for their bound", markersPending.size(), timeout, markersPending.keySet());
    } catch (ExecutionException e) {
      LOG.warn("a hand-off marker failed while closing", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
