package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * One publish in flight: its message, its sequence number (the same for every region), the outcome
 * of each region's copy, and the caller's future, completed once every copy is settled (acknowledged,
 * spooled, or failed) — never earlier, whatever the ack policy.
 */
final class Publication {

  /** How one region's copy ended. */
  record Outcome(Kind kind, SinkAck ack, Throwable cause) {
    enum Kind {
      ACKNOWLEDGED,
      SPOOLED,
      FAILED
    }

    static Outcome acknowledged(SinkAck ack) {
      return new Outcome(Kind.ACKNOWLEDGED, ack, null);
    }

    static Outcome spooled(Throwable why) {
      return new Outcome(Kind.SPOOLED, null, why);
    }

    static Outcome failed(Throwable why) {
      return new Outcome(Kind.FAILED, null, why);
    }
  }

  final OutboundMessage message;
  final long seq;
  final CompletableFuture<PublishResult> result = new CompletableFuture<>();
  private final List<RegionId> regions;
  private final AckPolicy policy;
  private final AtomicReferenceArray<Outcome> outcomes;
  /**
   * Per region, the future {@link PublishResult#delivery} hands out for a copy that is not acknowledged
   * yet (spooled: the replay completes it). Created only when a copy goes to the spool: an
   * acknowledged copy's delivery is built from its ack when asked, so the common path allocates none.
   */
  private final AtomicReferenceArray<CompletableFuture<SinkAck>> deliveries;
  private final AtomicInteger unsettled;
  private byte[] encoded;

  Publication(OutboundMessage message, long seq, List<RegionId> regions, AckPolicy policy) {
    this.message = message;
    this.seq = seq;
    this.regions = regions;
    this.policy = policy;
    this.outcomes = new AtomicReferenceArray<>(regions.size());
    this.deliveries = new AtomicReferenceArray<>(regions.size());
    this.unsettled = new AtomicInteger(regions.size());
  }

  /** The spool encoding, computed at most once (only if some copy is spooled). */
  synchronized byte[] encoded() {
    if (encoded == null) {
      encoded = SpoolRecordCodec.encode(message);
    }
    return encoded;
  }

  /** The delivery future of region {@code index}'s copy (created on first use). */
  CompletableFuture<SinkAck> delivery(int index) {
    CompletableFuture<SinkAck> f = deliveries.get(index);
    if (f == null) {
      CompletableFuture<SinkAck> created = new CompletableFuture<>();
      f = deliveries.compareAndSet(index, null, created) ? created : deliveries.get(index);
    }
    return f;
  }

  /** Records the outcome of region {@code index}'s copy; the last one completes the caller. */
  void settle(int index, Outcome outcome) {
    if (!outcomes.compareAndSet(index, null, outcome)) {
      throw new IllegalStateException("copy " + index + " of " + message.id() + " settled twice");
    }
    CompletableFuture<SinkAck> f = deliveries.get(index);
    if (f != null) {
      if (outcome.kind() == Outcome.Kind.ACKNOWLEDGED) {
        f.complete(outcome.ack());
      } else if (outcome.kind() == Outcome.Kind.FAILED) {
        f.completeExceptionally(outcome.cause());
      }
    }
    if (unsettled.decrementAndGet() == 0) {
      complete();
    }
  }

  private void complete() {
    int n = regions.size();
    int acked = 0;
    boolean anyFailed = false;
    SinkAck[] acks = new SinkAck[n];
    @SuppressWarnings("unchecked")
    CompletableFuture<SinkAck>[] pending = new CompletableFuture[n];
    for (int i = 0; i < n; i++) {
      Outcome o = outcomes.get(i);
      switch (o.kind()) {
        case ACKNOWLEDGED -> {
          acks[i] = o.ack();
          acked++;
        }
        case SPOOLED -> pending[i] = delivery(i);
        case FAILED -> anyFailed = true;
      }
    }
    // every copy must be on a broker or in the spool, and enough brokers must have acknowledged
    if (!anyFailed && acked >= policy.required(n)) {
      result.complete(new PublishResult(message.envelope(), regions, acks, pending));
      return;
    }
    Map<RegionId, Throwable> why = new LinkedHashMap<>();
    Set<RegionId> ackedRegions = new HashSet<>();
    Set<RegionId> spooled = new HashSet<>();
    Map<RegionId, CompletableFuture<SinkAck>> deliveryOf = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      Outcome o = outcomes.get(i);
      RegionId r = regions.get(i);
      switch (o.kind()) {
        case ACKNOWLEDGED -> ackedRegions.add(r);
        case SPOOLED -> {
          spooled.add(r);
          // the replay completes it, exceptionally if the region refuses the copy (removed from the
          // spool): callers must not take an empty spool for a delivery
          deliveryOf.put(r, delivery(i));
        }
        case FAILED -> why.put(r, o.cause());
      }
    }
    if (acked < policy.required(n)) {
      for (int i = 0; i < n; i++) {
        Outcome o = outcomes.get(i);
        if (o.kind() == Outcome.Kind.SPOOLED) {
          why.put(regions.get(i),
              o.cause() != null ? o.cause() : new IllegalStateException("copy spooled, not acknowledged"));
        }
      }
    }
    result.completeExceptionally(
        new PublishException(message.id(), policy, why, ackedRegions, spooled, deliveryOf));
  }
}
