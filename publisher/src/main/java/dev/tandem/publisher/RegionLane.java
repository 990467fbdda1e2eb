package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.Semaphore;

/**
 * Everything the publisher keeps per region: the sink, the circuit breaker, the spooling flag, the
 * number of direct copies still in flight, and the meters.
 *
 * <p>Invariants: while {@code spooling} is false every new copy goes straight to the sink; it is set
 * the moment a copy fails or the circuit refuses a call, and cleared only by the replayer, under the
 * publisher's ordering lock, when the region's spool is empty, no direct copy is in flight and the
 * circuit is closed. The replayer replays nothing while a direct copy is in flight, because that copy
 * may still fail and be spooled with a sequence below the ones already in the spool. Once spooling
 * starts no new direct copy is sent, so in-flight copies settle within the publish timeout.
 */
final class RegionLane {

  final int index;
  final RegionId region;
  final RegionalSink sink;
  final CircuitBreaker circuit;
  /** Records direct copies' acknowledgements in the circuit (skipping those that change nothing). */
  final SuccessRecorder successes;
  volatile boolean spooling;
  /** Direct copies sent and not yet settled (acknowledged, failed, or durable in the spool). */
  final AtomicInteger inFlight = new AtomicInteger();
  /** Direct copies in send order (so in deadline order); the timer expires them from the head. */
  final java.util.concurrent.ConcurrentLinkedQueue<DirectCopy> awaitingAck =
      new java.util.concurrent.ConcurrentLinkedQueue<>();
  /** Delivery futures of copies spooled by this process, completed when replayed. */
  final Map<Long, CompletableFuture<SinkAck>> pendingDeliveries = new ConcurrentHashMap<>();
  /** Wakes the replayer (a copy was spooled, the circuit moved, or the publisher closes). */
  final Semaphore wake = new Semaphore(0);

  final Counter sent;
  final Counter acknowledged;
  final Counter spooled;
  final Counter replayed;
  final Counter corrupt;
  final Counter spoolRejected;
  final Counter replayerErrors;
  final Timer latency;
  private final MeterRegistry registry;

  private final Tags tags;

  RegionLane(int index, RegionalSink sink, CircuitBreaker circuit, MeterRegistry registry, DurableSpool spool,
      String publisherName) {
    this.index = index;
    this.region = sink.region();
    this.sink = sink;
    this.circuit = circuit;
    this.successes = new SuccessRecorder(circuit);
    this.registry = registry;
    String r = region.name();
    this.tags = Tags.of(PublisherMeterNames.TAG_PUBLISHER, publisherName, PublisherMeterNames.TAG_REGION, r);
    this.sent = Counter.builder(PublisherMeterNames.SENT).tags(tags)
        .description("copies handed to the region (directly or via the spool)").register(registry);
    this.acknowledged = Counter.builder(PublisherMeterNames.ACKNOWLEDGED).tags(tags)
        .description("copies the region's broker acknowledged on first send").register(registry);
    this.spooled = Counter.builder(PublisherMeterNames.SPOOLED).tags(tags)
        .description("copies fsynced into the spool for later replay").register(registry);
    this.replayed = Counter.builder(PublisherMeterNames.REPLAYED).tags(tags)
        .description("spooled copies the region's broker acknowledged on replay").register(registry);
    this.corrupt = Counter.builder(PublisherMeterNames.SPOOL_CORRUPT).tags(tags)
        .description("spool records that could not be decoded (logged and removed)").register(registry);
    this.spoolRejected = Counter.builder(PublisherMeterNames.SPOOL_REJECTED).tags(tags)
        .description("spooled copies the region refused on replay for their content (removed)")
        .register(registry);
    this.replayerErrors = Counter.builder(PublisherMeterNames.REPLAYER_ERRORS).tags(tags)
        .description("replay steps that threw (logged; the replayer goes on)").register(registry);
    this.latency = Timer.builder(PublisherMeterNames.LATENCY).tags(tags)
        .description("time from send to broker acknowledgement").register(registry);
    Gauge.builder(PublisherMeterNames.SPOOL_DEPTH, spool, s -> s.depth(region)).tags(tags)
        .description("copies waiting in the spool for this region").register(registry);
    Gauge.builder(PublisherMeterNames.CIRCUIT_STATE, circuit, c -> stateCode(c.getState()))
        .tags(tags).description("0 closed, 1 open, 2 half-open, 3 other").register(registry);
  }

  /** Counts a failed copy with its outcome tag ({@code timeout}, {@code error}, ...). */
  void failed(String outcome) {
    Counter.builder(PublisherMeterNames.FAILED).tags(tags).tag(PublisherMeterNames.TAG_OUTCOME, outcome)
        .description("copies the region did not acknowledge").register(registry).increment();
  }

  static int stateCode(CircuitBreaker.State s) {
    return switch (s) {
      case CLOSED -> 0;
      case OPEN, FORCED_OPEN -> 1;
      case HALF_OPEN -> 2;
      default -> 3;
    };
  }

  /** Whether the circuit lets direct sends through (closed, or switched off by configuration). */
  boolean circuitAdmitsDirect() {
    CircuitBreaker.State s = circuit.getState();
    return s == CircuitBreaker.State.CLOSED
        || s == CircuitBreaker.State.DISABLED
        || s == CircuitBreaker.State.METRICS_ONLY;
  }
}
