package dev.tandem.azure.servicebus;

import dev.tandem.azure.AzureMeterNames;
import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cancellation of scheduled copies in one namespace, run by the {@link ServiceBusRegionalSink}'s
 * worker in queue order: by sequence number, and — since a schedule whose answer was lost may have
 * been scheduled all the same and then replayed under the same {@code MessageId} — every other
 * scheduled copy of that id, found through a {@link ScheduledCopies} lookup when one is configured.
 * Without a lookup, a copy this sink knows may remain is reported (WARN, {@code
 * tandem.servicebus.cancelled{outcome=unknown-copy}}).
 */
final class ScheduledCancellations {

  private static final Logger LOG = LoggerFactory.getLogger(ServiceBusRegionalSink.class);

  private final RegionId region;
  private final NamespaceSender sender;
  private final Counter cancelled;
  private final Counter cancelFailed;
  private final Counter unknownCopies;
  /** MessageIds whose schedule failed in a way that may have scheduled it all the same. */
  private final Set<String> ambiguousSchedules = ConcurrentHashMap.newKeySet();
  private volatile ScheduledCopies lookup;

  ScheduledCancellations(RegionId region, NamespaceSender sender, MeterRegistry registry) {
    this.region = region;
    this.sender = sender;
    this.cancelled = counter(registry, "cancelled");
    this.cancelFailed = counter(registry, "failed");
    this.unknownCopies = counter(registry, "unknown-copy");
  }

  private Counter counter(MeterRegistry registry, String outcome) {
    return Counter.builder(AzureMeterNames.SERVICEBUS_CANCELLED).tag("region", region.name())
        .tag("outcome", outcome).register(registry);
  }

  /** Where a cancel finds every scheduled copy of a {@code MessageId}; null: none (the default). */
  void lookup(ScheduledCopies lookup) {
    this.lookup = lookup;
  }

  /** The schedule of {@code messageId} failed in a way that may have scheduled it all the same. */
  void scheduleAmbiguous(String messageId) {
    ambiguousSchedules.add(messageId);
  }

  /** Runs one cancellation (on the sink's worker) and completes its future. */
  void run(SinkOperation.Cancel c) {
    RuntimeException failure = null;
    try {
      sender.cancelScheduledMessage(c.sequenceNumber());
      cancelled.increment();
    } catch (RuntimeException e) {
      cancelFailed.increment();
      failure = e;
    }
    if (c.messageId() != null) {
      try {
        cancelOtherCopies(c);
      } catch (RuntimeException e) {
        cancelFailed.increment();
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure == null) {
      c.result().complete(null);
    } else {
      c.result().completeExceptionally(failure);
    }
  }

  /**
   * A schedule whose answer was lost (a timeout, a dropped link) may have been scheduled all the
   * same; the publisher then replays it under the same {@code MessageId} and learns only the
   * replay's sequence number. With a lookup, every scheduled copy of the id is found and cancelled;
   * without one, a copy this sink knows may exist is reported (WARN, {@code
   * tandem.servicebus.cancelled{outcome=unknown-copy}}): it will be enqueued at its time.
   */
  private void cancelOtherCopies(SinkOperation.Cancel c) {
    ScheduledCopies copies = lookup;
    boolean ambiguousHere = ambiguousSchedules.remove(c.messageId());
    if (copies == null) {
      if (ambiguousHere) {
        unknownCopies.increment();
        LOG.warn("Cancelled {} in {} by sequence number {}, but an earlier schedule of it lost its "
            + "answer and was replayed: a copy that attempt scheduled may remain and be enqueued at "
            + "its time (configure the sender's scheduledMessagesPeek(...) to cancel it too)",
            c.messageId(), region, c.sequenceNumber());
      }
      return;
    }
    for (long other : copies.sequenceNumbers(c.messageId())) {
      if (other != c.sequenceNumber()) {
        sender.cancelScheduledMessage(other);
        cancelled.increment();
        LOG.info("Cancelled another scheduled copy of {} in {} (sequence number {}, left by a "
            + "schedule whose answer was lost)", c.messageId(), region, other);
      }
    }
  }
}
