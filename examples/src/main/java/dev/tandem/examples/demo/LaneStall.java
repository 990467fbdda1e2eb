package dev.tandem.examples.demo;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;

/**
 * A valve on one changelog lane (the copies a replication log's publisher sends to one region): while
 * stalled, every copy sent through a sink {@link #wrap wrapped} by it is held, neither written nor
 * acknowledged, and the lane's health probe does not answer; on {@link #release()} the held copies go
 * to the real sink in the order they were sent, then new copies pass straight through. That is what a
 * stalled network path or a broker that stops answering does to a Kafka producer that keeps retrying
 * within its delivery timeout: the copies arrive late, in order, once. The publisher above sees no
 * acknowledgement within its {@code publishTimeout} and spools the copies (so a copy may arrive twice,
 * which the changelog's merge absorbs).
 *
 * <p>One valve may guard the lanes of several instances (a region's lane: every instance of the
 * region stalls together, as behind one slow broker).
 */
final class LaneStall {

  private final Object lock = new Object();
  private boolean stalled;
  private CompletableFuture<Void> released = CompletableFuture.completedFuture(null);
  private final java.util.List<Sink> sinks = new java.util.concurrent.CopyOnWriteArrayList<>();

  /** Holds every copy sent through this valve's sinks from now on, until {@link #release()}. */
  void stall() {
    synchronized (lock) {
      if (!stalled) {
        stalled = true;
        released = new CompletableFuture<>();
      }
    }
  }

  /** Sends the held copies on, in order, and lets new ones through. */
  void release() {
    CompletableFuture<Void> r;
    synchronized (lock) {
      if (!stalled) {
        return;
      }
      stalled = false;
      r = released;
      for (Sink s : sinks) {
        s.drain();
      }
    }
    r.complete(null);
  }

  boolean stalled() {
    synchronized (lock) {
      return stalled;
    }
  }

  /** Copies held by this valve right now, over every sink. */
  int held() {
    synchronized (lock) {
      return sinks.stream().mapToInt(s -> s.queue.size()).sum();
    }
  }

  /** {@code sink} behind this valve. */
  RegionalSink wrap(RegionalSink sink) {
    Sink s = new Sink(sink);
    sinks.add(s);
    return s;
  }

  private record HeldCopy(OutboundMessage message, CompletableFuture<SinkAck> ack) {}

  private final class Sink implements RegionalSink {
    private final RegionalSink delegate;
    private final Deque<HeldCopy> queue = new ArrayDeque<>();

    Sink(RegionalSink delegate) {
      this.delegate = delegate;
    }

    @Override
    public RegionId region() {
      return delegate.region();
    }

    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage message) {
      synchronized (lock) {
        if (stalled) {
          CompletableFuture<SinkAck> ack = new CompletableFuture<>();
          queue.add(new HeldCopy(message, ack));
          return ack;
        }
        return delegate.send(message);
      }
    }

    /** Under the valve's lock: the held copies go on first, so the lane keeps its order. */
    void drain() {
      HeldCopy c;
      while ((c = queue.poll()) != null) {
        HeldCopy copy = c;
        try {
          delegate.send(copy.message()).whenComplete((a, e) -> {
            if (e == null) {
              copy.ack().complete(a);
            } else {
              copy.ack().completeExceptionally(e);
            }
          });
        } catch (RuntimeException e) {
          copy.ack().completeExceptionally(e);
        }
      }
    }

    @Override
    public CompletableFuture<Void> probe() {
      CompletableFuture<Void> r;
      synchronized (lock) {
        r = released;
      }
      // a stalled lane does not answer its probe either; it answers once the stall ends
      return r.thenCompose(v -> delegate.probe());
    }

    @Override
    public void flush() {
      CompletableFuture<Void> r;
      synchronized (lock) {
        r = released;
      }
      r.join();
      delegate.flush();
    }

    @Override
    public void close() {
      synchronized (lock) {
        HeldCopy c;
        while ((c = queue.poll()) != null) {
          c.ack().completeExceptionally(new IllegalStateException("the sink closed while its lane was stalled"));
        }
        sinks.remove(this);
      }
      delegate.close();
    }
  }
}
