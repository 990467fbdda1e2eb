package dev.tandem.publisher;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One copy sent straight to a region's sink and not yet settled, with its deadline. Either the sink's
 * answer or the deadline settles it, whichever comes first ({@link #claim}); the other is ignored.
 * Copies of one lane are created in order under the ordering lock with the same timeout, so their
 * deadlines only grow: the lane keeps them in a FIFO and the timer looks only at its head.
 *
 * <p>It is also the sink's answer callback ({@link #accept}): one object per copy carries the copy,
 * its deadline and its completion, where a future, a stage and a lambda per copy did before.
 */
final class DirectCopy implements BiConsumer<SinkAck, Throwable> {

  private static final Logger LOG = LoggerFactory.getLogger(DirectCopy.class);
  private static final VarHandle SETTLED;

  static {
    try {
      SETTLED = MethodHandles.lookup().findVarHandle(DirectCopy.class, "settled", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final PublisherEngine engine;
  final RegionLane lane;
  final Publication publication;
  final long startNanos;
  final long deadlineNanos;
  @SuppressWarnings("unused") // through SETTLED
  private volatile boolean settled;

  DirectCopy(PublisherEngine engine, RegionLane lane, Publication publication, long startNanos,
      long deadlineNanos) {
    this.engine = engine;
    this.lane = lane;
    this.publication = publication;
    this.startNanos = startNanos;
    this.deadlineNanos = deadlineNanos;
  }

  /** True for exactly one caller: the one that settles this copy. */
  boolean claim() {
    return SETTLED.compareAndSet(this, false, true);
  }

  boolean isSettled() {
    return settled;
  }

  /** The sink's answer: settles the copy unless its deadline did first. */
  @Override
  public void accept(SinkAck ack, Throwable err) {
    if (claim()) {
      try {
        engine.onDirectOutcome(lane, publication, startNanos, ack, err);
      } catch (Throwable e) {
        // on a producer's I/O thread: log, never throw into the transport (kafka-clients catches only
        // Exception around callbacks: an Error would stop its Sender thread)
        LOG.error("settling a copy of {} for region {} failed", publication.message.id(), lane.region, e);
      }
    }
  }
}
