package dev.tandem.publisher;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One thread per region that drains the region's spool when the region is healthy again: it reads
 * the oldest copies (once no direct copy is in flight), sends them with their original
 * envelope, waits for the broker's acknowledgements, then deletes them — at most {@code rate} copies a
 * second. Each batch is one call through the region's circuit breaker, so while the circuit is open
 * nothing is sent, and in half-open state the batch is the probe. When the spool is empty, nothing is
 * in flight and the circuit is closed, the region goes back to direct sends.
 */
final class SpoolReplayer {

  private static final Logger LOG = LoggerFactory.getLogger(SpoolReplayer.class);
  /** How often an idle or refused replayer looks again without being woken. */
  private static final long IDLE_POLL_MILLIS = 100;

  private final PublisherEngine engine;
  private final RegionLane lane;
  private final int rate;
  private final int batchSize;
  private final Thread thread;
  private volatile boolean running = true;
  private long replayedSinceSpooling;
  /**
   * Whether the next batch is a single copy. After a failure (and at the start), replaying a whole
   * batch could lose order: an early copy may fail (e.g. no metadata yet) while later ones, sent a
   * moment after the region came back, land first. One copy acknowledged proves the region takes
   * sends again; only then is a full batch sent.
   */
  private boolean probeFirst = true;

  SpoolReplayer(PublisherEngine engine, RegionLane lane, int rate) {
    this.engine = engine;
    this.lane = lane;
    this.rate = rate;
    // about ten batches a second at full rate, so pacing stays smooth
    this.batchSize = Math.max(1, Math.min(500, rate / 10));
    this.thread = new Thread(this::run, "tandem-replayer-" + lane.region.name());
    thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  void stop() {
    running = false;
    lane.wake.release();
    try {
      thread.join(TimeUnit.SECONDS.toMillis(30) + engine.timeout.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void run() {
    while (running) {
      try {
        if (!lane.spooling) {
          lane.wake.tryAcquire(IDLE_POLL_MILLIS, TimeUnit.MILLISECONDS);
          continue;
        }
        if (!step()) {
          lane.wake.tryAcquire(IDLE_POLL_MILLIS, TimeUnit.MILLISECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (Throwable e) {
        // Throwable: an Error escaping here would end this thread, and with it every replay and probe
        // of the region (its copies stuck in the spool, the region on the spool path until a restart).
        // step() and probe() gave back any circuit permission they held before it got here.
        lane.replayerErrors.increment();
        LOG.error("replayer for region {} failed a step; retrying", lane.region, e);
        try {
          // not at once: a step that fails every time would otherwise spin a core
          lane.wake.tryAcquire(IDLE_POLL_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /** One replay step; returns whether it made progress (otherwise the caller waits a little). */
  private boolean step() throws InterruptedException {
    if (lane.inFlight.get() != 0) {
      return false; // an earlier direct copy may still fail and land in the spool ahead of these
    }
    List<DurableSpool.Entry> batch =
        engine.spool.read(lane.region, Long.MAX_VALUE, probeFirst ? 1 : batchSize);
    if (batch.isEmpty()) {
      if (engine.spool.depth(lane.region) == 0 && lane.inFlight.get() == 0) {
        if (lane.circuitAdmitsDirect()) {
          if (engine.tryResumeDirect(lane)) {
            LOG.info("region {} caught up ({} copies replayed); sending directly again",
                lane.region, replayedSinceSpooling);
            long replayed = replayedSinceSpooling;
            engine.notifyListeners(l -> l.onSpoolDrained(lane.region, replayed));
            replayedSinceSpooling = 0;
            probeFirst = true;
            return true;
          }
        } else {
          return probe();
        }
      }
      return false; // copies reserved but not yet written, or in flight: wait for them
    }
    if (!lane.circuit.tryAcquirePermission()) {
      return false;
    }
    long start = System.nanoTime();
    boolean ok;
    try {
      ok = replay(batch, start); // records the call in the circuit as its last act
    } catch (InterruptedException e) {
      lane.circuit.releasePermission();
      throw e;
    } catch (Throwable e) {
      // the permission must go back whatever failed: in half-open state the circuit lets one call
      // through and waits for its outcome, so a permission never returned keeps it half-open for ever
      lane.circuit.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, e);
      probeFirst = true;
      throw e;
    }
    pace(start, batch.size());
    return ok;
  }

  /**
   * Sends one batch read from the spool (after its circuit permission was taken), waits for the
   * acknowledgements, deletes what landed, and records the call in the circuit as its last act.
   */
  private boolean replay(List<DurableSpool.Entry> batch, long start) throws InterruptedException {
    List<CompletableFuture<SinkAck>> sends = new ArrayList<>(batch.size());
    List<DurableSpool.Entry> decoded = new ArrayList<>(batch.size());
    List<OutboundMessage> messages = new ArrayList<>(batch.size());
    List<DurableSpool.Entry> corrupt = new ArrayList<>();
    for (DurableSpool.Entry e : batch) {
      OutboundMessage m;
      try {
        m = SpoolRecordCodec.decode(e.bytes());
      } catch (IllegalArgumentException bad) {
        // cannot be replayed and must not block the region forever: count, log loudly, remove
        LOG.error("spool record {} for region {} is corrupt and is removed: {}", e.seq(), lane.region,
            bad.getMessage());
        lane.corrupt.increment();
        corrupt.add(e);
        // it is never delivered: whoever follows its delivery must not wait forever
        CompletableFuture<SinkAck> delivery = lane.pendingDeliveries.remove(e.seq());
        if (delivery != null) {
          delivery.completeExceptionally(new SpoolRecordCorruptException(lane.region, e.seq(), bad));
        }
        continue;
      }
      decoded.add(e);
      messages.add(m);
      CompletableFuture<SinkAck> f;
      try {
        f = lane.sink.send(m);
      } catch (Throwable ex) {
        // Throwable, as on the direct path: an Error from a sink would otherwise end this thread,
        // and with it every replay to the region (its copies stuck in the spool until a restart)
        f = CompletableFuture.failedFuture(ex);
      }
      sends.add(f);
    }
    engine.spool.delete(lane.region, corrupt);
    List<DurableSpool.Entry> done = new ArrayList<>(decoded.size());
    Throwable failure = null;
    long deadline = start + engine.timeout.toNanos();
    for (int i = 0; i < sends.size(); i++) {
      try {
        SinkAck ack = sends.get(i).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        DurableSpool.Entry e = decoded.get(i);
        done.add(e);
        CompletableFuture<SinkAck> delivery = lane.pendingDeliveries.remove(e.seq());
        if (delivery != null) {
          delivery.complete(ack);
        }
      } catch (ExecutionException | TimeoutException ex) {
        Throwable cause = PublisherEngine.unwrap(ex);
        if (cause instanceof MessageRejectedException rejected) {
          // refused on replay although the region is up: record it loudly, hand it to the
          // listeners (dead-letter), never retry it at the head of the spool
          OutboundMessage m = messages.get(i);
          LOG.error("region {} rejected replayed copy {} (id {}); removed from the spool: {}",
              lane.region, decoded.get(i).seq(), m.id(), rejected.getMessage(), rejected);
          lane.failed("rejected");
          lane.spoolRejected.increment();
          // synchronous, before the delete below: at-least-once (a crash in between hands the copy
          // over again on the next replay), and this region's replay waits for the listeners
          engine.notifyListeners(l -> l.onCopyRejected(lane.region, m, rejected));
          DurableSpool.Entry e = decoded.get(i);
          done.add(e);
          CompletableFuture<SinkAck> delivery = lane.pendingDeliveries.remove(e.seq());
          if (delivery != null) {
            delivery.completeExceptionally(rejected);
          }
          continue;
        }
        failure = cause;
        break; // keep order: the rest of the batch stays in the spool and is sent again
      }
    }
    long elapsed = System.nanoTime() - start;
    engine.spool.delete(lane.region, done);
    lane.replayed.increment(done.size());
    replayedSinceSpooling += done.size();
    probeFirst = failure != null;
    if (failure != null) {
      lane.failed("replay_error");
      LOG.warn("replay to region {} failed after {} of {} copies: {}", lane.region, done.size(),
          batch.size(), failure.toString());
      lane.circuit.onError(elapsed, TimeUnit.NANOSECONDS, failure);
      return false;
    }
    lane.circuit.onSuccess(elapsed, TimeUnit.NANOSECONDS);
    return true;
  }

  /** Half-open circuit with nothing to replay: ask the sink's probe whether the region answers. */
  private boolean probe() {
    if (!lane.circuit.tryAcquirePermission()) {
      return false;
    }
    long start = System.nanoTime();
    try {
      lane.sink.probe().get(engine.timeout.toNanos(), TimeUnit.NANOSECONDS);
      lane.circuit.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      lane.circuit.releasePermission();
      return false;
    } catch (ExecutionException | TimeoutException e) {
      lane.circuit.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, PublisherEngine.unwrap(e));
      return false;
    } catch (Throwable e) {
      // probe() itself threw instead of answering a failed future (an admin client that cannot be
      // created, a LinkageError): a failed probe all the same. Its permission goes back to the
      // circuit (held, the circuit would stay half-open for ever); run() logs and counts it.
      lane.circuit.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, e);
      throw e;
    }
  }

  /** Keeps the replay at or below {@code rate} copies a second. */
  private void pace(long start, int sent) throws InterruptedException {
    long due = start + TimeUnit.SECONDS.toNanos(sent) / rate;
    long wait = due - System.nanoTime();
    if (wait > 0 && running) {
      // a rate limit, not synchronisation: at most one batch interval (about 100 ms)
      TimeUnit.NANOSECONDS.sleep(wait);
    }
  }
}
