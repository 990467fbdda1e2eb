package dev.tandem.publisher;

import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The machinery behind {@link DualPublisher}: fan-out, routing to the spool, settling, replay. */
final class PublisherEngine {

  private static final Logger LOG = LoggerFactory.getLogger(PublisherEngine.class);

  final List<RegionLane> lanes = new ArrayList<>();
  private final Map<RegionId, RegionLane> byRegion = new LinkedHashMap<>();
  private final List<RegionId> regions;
  private final AckPolicy policy;
  final Duration timeout;
  private final long timeoutNanos;
  final DurableSpool spool;
  private final EnvelopeSigner signer;
  final List<RegionListener> listeners;
  /** Orders the fan-out: every region sees copies in sequence order. Guards nextSeq. */
  final ReentrantLock orderLock = new ReentrantLock();
  private long nextSeq;
  private volatile boolean closed;
  private final InFlightTracker inFlightPublishes = new InFlightTracker();
  private final List<SpoolReplayer> replayers = new ArrayList<>();
  private final Counter publishedOk;
  private final Counter publishedFailed;
  private final Counter callbackErrors;
  final Object drainMonitor = new Object();
  static final long TIMEOUT_TICK_MILLIS = 20;
  private final java.util.concurrent.ScheduledExecutorService timer;

  PublisherEngine(DualPublisher.Builder b) {
    this.policy = b.ackPolicy;
    this.timeout = b.timeout;
    this.timeoutNanos = b.timeout.toNanos();
    this.signer = b.signer;
    this.listeners = List.copyOf(b.listeners);
    MeterRegistry registry = b.meterRegistry;
    this.publishedOk = Counter.builder(PublisherMeterNames.PUBLISHED)
        .tag(PublisherMeterNames.TAG_PUBLISHER, b.name).tag(PublisherMeterNames.TAG_OUTCOME, "ok")
        .description("publishes that met the ack policy").register(registry);
    this.publishedFailed = Counter.builder(PublisherMeterNames.PUBLISHED)
        .tag(PublisherMeterNames.TAG_PUBLISHER, b.name).tag(PublisherMeterNames.TAG_OUTCOME, "failed")
        .description("publishes that did not meet the ack policy").register(registry);
    this.callbackErrors = Counter.builder(PublisherMeterNames.CALLBACK_ERRORS)
        .tag(PublisherMeterNames.TAG_PUBLISHER, b.name)
        .description("caller's completions (record callbacks) that threw; caught and logged").register(registry);
    this.spool = DurableSpool.open(b.spoolDirectory, b.spoolMaxRecords, b.spoolMaxBytes);
    try {
      this.nextSeq = spool.nextSequence();
      createLanes(b, registry);
    } catch (RuntimeException e) {
      spool.close(); // release the directory lock: a retry with a fixed configuration can open it
      throw e;
    }
    this.regions = List.copyOf(byRegion.keySet());
    for (String r : spool.regionsWithRecords()) {
      if (!byRegion.containsKey(RegionId.of(r))) {
        LOG.warn("spool {} holds copies for region {} which has no sink; they stay until it has one",
            b.spoolDirectory, r);
      }
    }
    this.timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "tandem-timeouts");
      t.setDaemon(true);
      return t;
    });
    timer.scheduleWithFixedDelay(this::expireDirectCopies, TIMEOUT_TICK_MILLIS, TIMEOUT_TICK_MILLIS,
        TimeUnit.MILLISECONDS);
    for (RegionLane lane : lanes) {
      SpoolReplayer r = new SpoolReplayer(this, lane, b.replayRate);
      replayers.add(r);
      r.start();
    }
  }

  private void createLanes(DualPublisher.Builder b, MeterRegistry registry) {
    int i = 0;
    for (RegionalSink sink : b.sinks.values()) {
      CircuitBreaker cb = CircuitBreaker.of("tandem-" + sink.region().name(), b.circuitBreakerConfig);
      RegionLane lane = new RegionLane(i++, sink, cb, registry, spool, b.name);
      cb.getEventPublisher().onStateTransition(e -> {
        lane.wake.release();
        notifyListeners(l -> l.onCircuitTransition(lane.region, e.getStateTransition().getFromState(),
            e.getStateTransition().getToState()));
      });
      // a region with copies left by an earlier run starts by replaying them, in order
      lane.spooling = spool.depth(lane.region) > 0;
      lanes.add(lane);
      byRegion.put(lane.region, lane);
    }
  }

  List<RegionId> regions() {
    return regions;
  }

  AckPolicy ackPolicy() {
    return policy;
  }

  CompletableFuture<PublishResult> publish(OutboundMessage message) {
    return start(message, null).result;
  }

  /**
   * Publishes and hands the outcome to {@code listener} instead of a future (TandemKafkaProducer: it
   * has its own future per record, so a second one chained to it would only cost allocations).
   * Either this throws (the publisher is closed, the signer failed: nothing was sent) and {@code
   * listener} is never called, or it returns and {@code listener} is called exactly once.
   */
  void publish(OutboundMessage message, Publication.Listener listener) {
    start(message, java.util.Objects.requireNonNull(listener, "listener"));
  }

  /**
   * Fans one message out. Throws only before anything was counted or sent; once the publication
   * exists it always ends through its completion, even if dispatching a copy throws (see {@link
   * #dispatchFailed}): a throw after another region's copy went out would tell the caller "failed"
   * for a copy that region acknowledges, and the publication, with copies nobody settles, would hold
   * its in-flight ticket for ever (flush and close wait on it).
   */
  private Publication start(OutboundMessage message, Publication.Listener listener) {
    OutboundMessage m =
        signer != null && !message.envelope().isSigned()
            ? message.withEnvelope(signer.sign(message.envelope()))
            : message;
    Publication p = null;
    orderLock.lock();
    try {
      if (closed) {
        throw new IllegalStateException("the publisher is closed");
      }
      // counted before any copy leaves, so a flush or close that follows the closed check waits for it;
      // ended by the publication after the caller's completion (no future chained per publish for it)
      InFlightTracker.Ticket ticket = inFlightPublishes.begin();
      try {
        // heldBySender: a copy settled inline below (rejected, spooled on a full spool, closed sink)
        // must not run the caller's completion under this lock or a sink's monitor; sendingDone does
        p = new Publication(m, nextSeq++, regions, policy, listener, new Accounting(ticket), true);
      } catch (RuntimeException | Error e) {
        ticket.end(); // nothing was sent: the caller gets the throw, the listener is never called
        throw e;
      }
      int i = 0;
      try {
        for (; i < lanes.size(); i++) {
          dispatch(lanes.get(i), p);
        }
      } catch (Throwable e) {
        dispatchFailed(p, i, e);
      }
    } finally {
      orderLock.unlock();
      if (p != null) {
        p.sendingDone(); // lock-free now: delivers the completion if every copy already settled
      }
    }
    return p;
  }

  /**
   * Dispatching lane {@code from}'s copy threw something its own paths do not handle (sendDirect and
   * toSpool settle every copy they took over, whatever fails; this is the net for the rest, e.g. an
   * Error from the circuit breaker). That copy and the later lanes' copies were never handed to
   * anything that would settle them, so they fail here, counted ({@code failed{outcome=dispatch_error}})
   * and logged; copies already sent settle as usual, and the publication completes once all did — its
   * caller sees a {@link PublishException} naming each failed region, never a throw from publish.
   */
  private void dispatchFailed(Publication p, int from, Throwable error) {
    RegionId where = lanes.get(from).region;
    LOG.error("publish {}: dispatching the copy for region {} threw; the copies not yet sent fail",
        p.message.id(), where, error);
    for (int j = from; j < lanes.size(); j++) {
      RegionLane lane = lanes.get(j);
      lane.failed("dispatch_error");
      IllegalStateException why = new IllegalStateException("the copy of " + p.message.id() + " for region "
          + lane.region + " was not sent: dispatching the copy for region " + where + " threw " + error, error);
      try {
        p.settle(lane.index, Publication.Outcome.failed(why));
      } catch (IllegalStateException alreadySettled) {
        // the copy was settled after all (cannot happen by the paths above): its own outcome stands
        LOG.error("publish {}: copy for region {} already settled", p.message.id(), lane.region, alreadySettled);
      }
    }
  }

  /**
   * One publish's accounting after its caller's completion (one object per publish, as the lambda it
   * replaces): the published counter, a callback error, and the end of its in-flight ticket.
   */
  private final class Accounting implements Publication.Completion {
    private final InFlightTracker.Ticket ticket;

    Accounting(InFlightTracker.Ticket ticket) {
      this.ticket = ticket;
    }

    @Override
    public void completed(boolean ok) {
      (ok ? publishedOk : publishedFailed).increment();
      ticket.end();
    }

    @Override
    public void callbackFailed(Throwable error) {
      callbackErrors.increment();
    }
  }

  /** Routes one copy: straight to the sink, or to the spool. Called under the ordering lock. */
  private void dispatch(RegionLane lane, Publication p) {
    lane.sent.increment();
    if (!lane.spooling && lane.circuitAdmitsDirect() && lane.circuit.tryAcquirePermission()) {
      sendDirect(lane, p);
      return;
    }
    if (!lane.spooling) {
      startSpooling(lane, new IllegalStateException("circuit of region " + lane.region + " is "
          + lane.circuit.getState()));
    }
    toSpool(lane, p, new RegionUnavailableException(lane.region,
        "region " + lane.region + " is catching up from the spool (circuit " + lane.circuit.getState()
            + "); the copy was spooled"));
  }

  private void sendDirect(RegionLane lane, Publication p) {
    lane.inFlight.incrementAndGet();
    long start = System.nanoTime();
    DirectCopy copy = new DirectCopy(this, lane, p, start, start + timeoutNanos);
    lane.awaitingAck.add(copy); // under the ordering lock: deadlines grow along the queue
    try {
      if (lane.sink instanceof KafkaRegionalSink kafka) {
        // the sink calls the copy from the producer callback: no future and no stage per copy
        kafka.send(p.message, copy);
      } else {
        lane.sink.send(p.message).whenComplete(copy);
      }
    } catch (Throwable e) {
      // Throwable: the copy is already in awaitingAck; an Error escaping here would leave it to the
      // timer, after publish had thrown to its caller. accept settles it now, as a region error.
      copy.accept(null, e);
    }
  }

  /**
   * Times out direct copies past their deadline: one timer for every copy, instead of a scheduled
   * task per copy (which cost more than the send itself under load). Runs every {@link
   * #TIMEOUT_TICK_MILLIS} ms, so a timeout fires up to that much late.
   */
  private void expireDirectCopies() {
    long now = System.nanoTime();
    for (RegionLane lane : lanes) {
      for (DirectCopy head; (head = lane.awaitingAck.peek()) != null; ) {
        if (head.isSettled()) {
          lane.awaitingAck.poll();
        } else if (now - head.deadlineNanos >= 0) {
          lane.awaitingAck.poll();
          if (head.claim()) {
            try {
              onDirectOutcome(lane, head.publication, head.startNanos, null, new TimeoutException());
            } catch (Throwable e) {
              // an Error escaping a scheduleWithFixedDelay task cancels every later run: no copy would
              // ever time out again
              LOG.error("timing out a copy of {} for region {} failed", head.publication.message.id(),
                  lane.region, e);
            }
          }
        } else {
          break; // every later copy has a later deadline
        }
      }
    }
  }

  /** Settles a direct copy: called once per copy (DirectCopy.claim), by its sink or by the timer. */
  void onDirectOutcome(RegionLane lane, Publication p, long start, SinkAck ack, Throwable err) {
    long elapsed = System.nanoTime() - start;
    if (err == null) {
      lane.successes.recordSuccess(elapsed);
      lane.latency.record(elapsed, TimeUnit.NANOSECONDS);
      lane.acknowledged.increment();
      lane.inFlight.decrementAndGet();
      p.acknowledge(lane.index, ack);
      return;
    }
    Throwable cause = unwrap(err);
    if (cause instanceof MessageRejectedException) {
      // the region is fine, the message is not: neither charge the circuit nor replay it
      lane.circuit.releasePermission();
      lane.failed("rejected");
      lane.inFlight.decrementAndGet();
      p.settle(lane.index, Publication.Outcome.failed(cause));
      return;
    }
    if (cause instanceof TimeoutException) {
      cause = new RegionTimeoutException(lane.region, timeout);
    }
    lane.circuit.onError(elapsed, TimeUnit.NANOSECONDS, cause);
    lane.failed(cause instanceof RegionTimeoutException ? "timeout" : "error");
    startSpooling(lane, cause);
    // stay "in flight" until durable in the spool, so the replayer cannot overtake this copy
    toSpool(lane, p, cause).whenComplete((v, e) -> {
      lane.inFlight.decrementAndGet();
      lane.wake.release();
    });
  }

  /** New copies for the lane go to the spool from now on (volatile write; see RegionLane). */
  private void startSpooling(RegionLane lane, Throwable cause) {
    if (!lane.spooling) {
      lane.spooling = true;
      LOG.warn("region {} failed ({}); spooling its copies until it recovers", lane.region, cause.toString());
      notifyListeners(l -> l.onSpoolingStarted(lane.region, cause));
    }
    lane.wake.release();
  }

  /**
   * Spools one copy and settles it as spooled, or failed (spool full, spool write failed, or the copy
   * cannot be written to the spool at all). Never throws: it runs inside the fan-out (after other
   * regions' copies may have gone out) and on a sink's callback thread, and a copy it does not settle
   * would hold its publication, and every flush and close behind it, for ever.
   */
  private CompletableFuture<Void> toSpool(RegionLane lane, Publication p, Throwable why) {
    int size = -1;
    try {
      byte[] bytes = p.encoded();
      int need = DurableSpool.recordSize(lane.region, bytes.length);
      try {
        spool.reserve(lane.region, need);
      } catch (SpoolFullException full) {
        lane.failed("spool_full");
        p.settle(lane.index, Publication.Outcome.failed(full));
        return CompletableFuture.completedFuture(null);
      }
      size = need;
      lane.pendingDeliveries.put(p.seq, p.delivery(lane.index));
      int reserved = size;
      return spool.append(lane.region, p.seq, bytes).handle((v, e) -> {
        if (e == null) {
          lane.spooled.increment();
          p.settle(lane.index, Publication.Outcome.spooled(why));
        } else {
          spoolFailed(lane, p, reserved, unwrap(e));
        }
        lane.wake.release();
        return null;
      });
    } catch (RuntimeException | Error e) {
      // on this thread, before the append was queued: e.g. a record the spool format cannot hold.
      // Error too (an OutOfMemoryError encoding a large copy): "never throws" is what keeps the
      // reservation given back and the copy settled, here and on a sink's callback thread
      LOG.error("the copy of {} for region {} could not be written to the spool; the copy fails",
          p.message.id(), lane.region, e);
      spoolFailed(lane, p, size, new IllegalStateException("the copy of " + p.message.id()
          + " for region " + lane.region + " could not be written to the spool: " + e.getMessage(), e));
      lane.wake.release();
      return CompletableFuture.completedFuture(null);
    }
  }

  /** A copy the spool did not take: gives back its reservation ({@code size} >= 0) and fails it. */
  private void spoolFailed(RegionLane lane, Publication p, int size, Throwable cause) {
    if (size >= 0) {
      spool.release(lane.region, size);
    }
    lane.pendingDeliveries.remove(p.seq);
    lane.failed("spool_error");
    p.settle(lane.index, Publication.Outcome.failed(cause));
  }

  /**
   * Called by a replayer that found its region's spool empty: goes back to direct sends if nothing
   * can still overtake (see RegionLane's invariant).
   */
  boolean tryResumeDirect(RegionLane lane) {
    orderLock.lock();
    try {
      if (spool.depth(lane.region) == 0 && lane.inFlight.get() == 0 && lane.circuitAdmitsDirect()) {
        lane.spooling = false;
      } else {
        return false;
      }
    } finally {
      orderLock.unlock();
    }
    synchronized (drainMonitor) {
      drainMonitor.notifyAll();
    }
    return true;
  }

  /** Calls every listener; a throwing listener is logged, never allowed to stall a publish. */
  void notifyListeners(java.util.function.Consumer<RegionListener> call) {
    for (RegionListener l : listeners) {
      try {
        call.accept(l);
      } catch (Throwable e) {
        // Throwable: this runs inside a fan-out and on sinks' callback threads; an Error escaping
        // would leave a copy unsettled (its publication, and every flush behind it, waiting for ever)
        LOG.warn("region listener {} threw", l, e);
      }
    }
  }

  RegionStatus status(RegionId region) {
    RegionLane lane = byRegion.get(region);
    if (lane == null) {
      throw new IllegalArgumentException("no region " + region + "; regions are " + regions);
    }
    return new RegionStatus(region, lane.circuit.getState(), lane.spooling,
        spool.depth(region), spool.bytes(region));
  }

  void flush() {
    try {
      inFlightPublishes.awaitAllBegun();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  boolean awaitSpoolDrained(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (drainMonitor) {
      while (lanes.stream().anyMatch(l -> l.spooling)) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        TimeUnit.NANOSECONDS.timedWait(drainMonitor, left);
      }
    }
    return true;
  }

  void close() {
    orderLock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
    } finally {
      orderLock.unlock();
    }
    flush();
    timer.shutdown();
    replayers.forEach(SpoolReplayer::stop);
    RuntimeException failure = null;
    for (RegionLane lane : lanes) {
      try {
        lane.sink.close();
      } catch (RuntimeException e) {
        failure = e;
      }
      IllegalStateException stillSpooled = new PublisherClosedException(
          "the publisher closed; the copy stays in the spool for the next publisher on it");
      lane.pendingDeliveries.values().forEach(f -> f.completeExceptionally(stillSpooled));
    }
    spool.close();
    if (failure != null) {
      throw failure;
    }
  }

  boolean isClosed() {
    return closed;
  }

  static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }
}
