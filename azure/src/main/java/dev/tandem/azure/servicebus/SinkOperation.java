package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.SinkAck;
import java.time.OffsetDateTime;
import java.util.concurrent.CompletableFuture;

/**
 * One entry of a {@link ServiceBusRegionalSink}'s queue: a copy to send (or schedule), or the
 * cancellation of a scheduled copy. Both go through the same queue, so a cancellation follows the
 * copy it cancels.
 */
sealed interface SinkOperation permits SinkOperation.Send, SinkOperation.Cancel {

  /** Completes when the operation did (the publisher's or the canceller's future). */
  CompletableFuture<?> result();

  /** Fails the operation (the sink closed first, or the region failed before it). */
  default void fail(Throwable t) {
    result().completeExceptionally(t);
  }

  /** A copy to send now, or to schedule at {@code scheduleAt} when not null. */
  record Send(OutboundMessage message, ServiceBusMessage serviceBus,
      OffsetDateTime scheduleAt, CompletableFuture<SinkAck> result) implements SinkOperation {
    Send(OutboundMessage message, ServiceBusMessage serviceBus, OffsetDateTime scheduleAt) {
      this(message, serviceBus, scheduleAt, new CompletableFuture<>());
    }
  }

  /** Cancels the scheduled copy {@code sequenceNumber}, and the other copies of {@code messageId}. */
  record Cancel(long sequenceNumber, String messageId, CompletableFuture<Void> result)
      implements SinkOperation {
    Cancel(long sequenceNumber, String messageId) {
      this(sequenceNumber, messageId, new CompletableFuture<>());
    }
  }
}
