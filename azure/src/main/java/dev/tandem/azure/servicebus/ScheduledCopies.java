package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.models.ServiceBusMessageState;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Finds the scheduled (not yet enqueued) messages of one {@code MessageId} in a namespace's entity,
 * so that a cancellation reaches every copy a schedule left — also one scheduled by an attempt whose
 * answer was lost and then replayed under the same {@code MessageId} (the sender never learns that
 * attempt's sequence number), or one the entity's duplicate detection kept instead of the replay's.
 */
@FunctionalInterface
interface ScheduledCopies {

  /** The sequence numbers of the entity's scheduled messages with this {@code MessageId}. */
  List<Long> sequenceNumbers(String messageId);

  /**
   * By peeking a queue with a receiver client ({@code peekMessages} lists scheduled messages too,
   * with {@link ServiceBusMessageState#SCHEDULED}): pages through the whole entity from sequence
   * number 0, so each cancel costs a scan of what the entity holds — cancellations are rare.
   */
  static ScheduledCopies peeking(ServiceBusReceiverClient receiver) {
    Objects.requireNonNull(receiver, "receiver");
    return messageId -> {
      List<Long> found = new ArrayList<>();
      long from = 0;
      while (true) {
        long last = -1;
        int n = 0;
        for (ServiceBusReceivedMessage m : receiver.peekMessages(PAGE, from)) {
          n++;
          last = Math.max(last, m.getSequenceNumber());
          if (m.getState() == ServiceBusMessageState.SCHEDULED
              && messageId.equals(m.getMessageId())) {
            found.add(m.getSequenceNumber());
          }
        }
        if (n == 0 || last < from) {
          return found;
        }
        from = last + 1;
      }
    };
  }

  /** Messages per peek. */
  int PAGE = 250;
}
