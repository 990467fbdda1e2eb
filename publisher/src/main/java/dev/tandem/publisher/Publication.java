package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.util.HashMap;
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
  private final AtomicInteger unsettled;
  private final Map<RegionId, CompletableFuture<SinkAck>> deliveries = new LinkedHashMap<>();
  private byte[] encoded;

  Publication(OutboundMessage message, long seq, List<RegionId> regions, AckPolicy policy) {
    this.message = message;
    this.seq = seq;
    this.regions = regions;
    this.policy = policy;
    this.outcomes = new AtomicReferenceArray<>(regions.size());
    this.unsettled = new AtomicInteger(regions.size());
    for (RegionId r : regions) {
      deliveries.put(r, new CompletableFuture<>());
    }
  }

  /** The spool encoding, computed at most once (only if some copy is spooled). */
  synchronized byte[] encoded() {
    if (encoded == null) {
      encoded = SpoolRecordCodec.encode(message);
    }
    return encoded;
  }

  CompletableFuture<SinkAck> delivery(RegionId region) {
    return deliveries.get(region);
  }

  /** Records the outcome of region {@code index}'s copy; the last one completes the caller. */
  void settle(int index, Outcome outcome) {
    if (!outcomes.compareAndSet(index, null, outcome)) {
      throw new IllegalStateException("copy " + index + " of " + message.id() + " settled twice");
    }
    RegionId region = regions.get(index);
    if (outcome.kind() == Outcome.Kind.ACKNOWLEDGED) {
      deliveries.get(region).complete(outcome.ack());
    } else if (outcome.kind() == Outcome.Kind.FAILED) {
      deliveries.get(region).completeExceptionally(outcome.cause());
    }
    if (unsettled.decrementAndGet() == 0) {
      complete();
    }
  }

  private void complete() {
    Map<RegionId, SinkAck> acked = new HashMap<>();
    Set<RegionId> spooled = new HashSet<>();
    Map<RegionId, Throwable> failed = new LinkedHashMap<>();
    Map<RegionId, Throwable> spooledWhy = new LinkedHashMap<>();
    for (int i = 0; i < regions.size(); i++) {
      Outcome o = outcomes.get(i);
      RegionId r = regions.get(i);
      switch (o.kind()) {
        case ACKNOWLEDGED -> acked.put(r, o.ack());
        case SPOOLED -> {
          spooled.add(r);
          spooledWhy.put(r, o.cause());
        }
        case FAILED -> failed.put(r, o.cause());
      }
    }
    // every copy must be on a broker or in the spool, and enough brokers must have acknowledged
    if (failed.isEmpty() && acked.size() >= policy.required(regions.size())) {
      result.complete(new PublishResult(message.envelope(), acked, spooled, deliveries));
      return;
    }
    Map<RegionId, Throwable> why = new LinkedHashMap<>(failed);
    if (acked.size() < policy.required(regions.size())) {
      spooledWhy.forEach(
          (r, t) -> why.put(r, t != null ? t : new IllegalStateException("copy spooled, not acknowledged")));
    }
    result.completeExceptionally(
        new PublishException(message.id(), policy, why, acked.keySet(), spooled));
  }
}
