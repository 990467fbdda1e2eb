package dev.tandem.consumer.kafka;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;

/**
 * A region sink whose sends can be held: while held, copies queue here (not sent, not acknowledged);
 * {@link #release()} sends them in order and forwards again. Models a slow own-region changelog lane.
 */
final class HeldSink implements RegionalSink {

  private record Queued(OutboundMessage message, CompletableFuture<SinkAck> ack) {}

  private final RegionalSink delegate;
  private final ArrayDeque<Queued> queue = new ArrayDeque<>();
  private boolean held;

  HeldSink(RegionalSink delegate) {
    this.delegate = delegate;
  }

  synchronized void hold() {
    held = true;
  }

  /** Sends what was held, in order, and forwards from now on. */
  synchronized void release() {
    held = false;
    while (!queue.isEmpty()) {
      Queued q = queue.poll();
      delegate.send(q.message()).whenComplete((a, e) -> {
        if (e != null) {
          q.ack().completeExceptionally(e);
        } else {
          q.ack().complete(a);
        }
      });
    }
  }

  synchronized int heldCopies() {
    return queue.size();
  }

  @Override
  public RegionId region() {
    return delegate.region();
  }

  @Override
  public synchronized CompletableFuture<SinkAck> send(OutboundMessage message) {
    if (!held) {
      return delegate.send(message);
    }
    CompletableFuture<SinkAck> ack = new CompletableFuture<>();
    queue.add(new Queued(message, ack));
    return ack;
  }

  @Override
  public CompletableFuture<Void> probe() {
    return delegate.probe();
  }

  @Override
  public void flush() {
    delegate.flush();
  }

  @Override
  public void close() {
    release();
    delegate.close();
  }
}
