package dev.tandem.store.replication;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.tandem.core.RegionId;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.publisher.SinkAck;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;

/**
 * A region's changelog in memory: every copy sent is appended to the log at once (the broker wrote
 * it), and acknowledged at once, or — while {@link #stall()}ed — only when {@link #release()}d, in
 * send order (a broker that stalls, then recovers). {@link #compacted()} is what a log compaction
 * keeps: the last copy of each key. Copies matching {@link #rejectIf} are refused as too large.
 */
final class FakeLogSink implements RegionalSink {

  private final RegionId region;
  private final List<OutboundMessage> log = new ArrayList<>();
  private final List<Map.Entry<CompletableFuture<SinkAck>, SinkAck>> held = new ArrayList<>();
  private boolean stalled;
  private volatile Predicate<OutboundMessage> reject = m -> false;
  private volatile boolean down;

  FakeLogSink(RegionId region) {
    this.region = region;
  }

  @Override
  public RegionId region() {
    return region;
  }

  synchronized void stall() {
    stalled = true;
  }

  /** Acknowledges every held copy, in send order, and acknowledges later copies at once. */
  void release() {
    List<Map.Entry<CompletableFuture<SinkAck>, SinkAck>> out;
    synchronized (this) {
      stalled = false;
      out = new ArrayList<>(held);
      held.clear();
    }
    out.forEach(e -> e.getKey().complete(e.getValue()));
  }

  /** While down, sends fail (as a region that does not answer) and nothing reaches the log. */
  void down(boolean isDown) {
    down = isDown;
  }

  void rejectIf(Predicate<OutboundMessage> p) {
    reject = p;
  }

  @Override
  public CompletableFuture<SinkAck> send(OutboundMessage m) {
    if (down) {
      return CompletableFuture.failedFuture(new IllegalStateException(region + " is down (fake)"));
    }
    if (reject.test(m)) {
      return CompletableFuture.failedFuture(
          new MessageRejectedException(region, "RecordTooLargeException (fake)", null));
    }
    CompletableFuture<SinkAck> f = new CompletableFuture<>();
    SinkAck ack;
    synchronized (this) {
      log.add(m);
      ack = new SinkAck(region, m.destination(), m.shard(), log.size() - 1, System.currentTimeMillis());
      if (stalled) {
        held.add(Map.entry(f, ack));
        return f;
      }
    }
    f.complete(ack);
    return f;
  }

  /** Every copy that reached the log, in log order. */
  synchronized List<OutboundMessage> log() {
    return new ArrayList<>(log);
  }

  /** Key → value of the last copy of each key (what compaction keeps). */
  synchronized Map<String, byte[]> compacted() {
    Map<String, byte[]> m = new LinkedHashMap<>();
    for (OutboundMessage c : log) {
      m.put(new String(c.key(), UTF_8), c.value());
    }
    return m;
  }

  @Override
  public void flush() {}

  @Override
  public void close() {}
}
