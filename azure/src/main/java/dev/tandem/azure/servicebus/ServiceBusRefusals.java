package dev.tandem.azure.servicebus;

import com.azure.core.amqp.exception.AmqpErrorCondition;
import com.azure.core.amqp.exception.AmqpException;
import com.azure.messaging.servicebus.ServiceBusException;
import com.azure.messaging.servicebus.ServiceBusFailureReason;
import java.util.EnumSet;
import java.util.List;
import java.util.function.BiFunction;

/**
 * How {@link ServiceBusRegionalSink} reads a failure of the SDK or the service: the message's own
 * fault (too large, refused for what it holds, not encodable), which replaying cannot cure and which
 * is therefore rejected for good, or the region's (anything else), for which the publisher spools
 * the copy. Pure functions of the exception; no state.
 */
final class ServiceBusRefusals {

  private ServiceBusRefusals() {}

  /**
   * Conditions with which the service may refuse a message for what it holds. Each is broader than
   * that ({@code amqp:not-allowed} is the service's whole InvalidOperationException bucket: an entity
   * being deleted or in a transitional state, a Basic-tier entity asked for sessions or scheduling;
   * argument errors also come on link attach), so a refusal is the message's only when its text is one
   * of {@link #MESSAGE_REFUSAL_TEXTS}; see {@link #refusedForContent}.
   */
  private static final EnumSet<AmqpErrorCondition> CONTENT_REFUSALS = EnumSet.of(
      AmqpErrorCondition.NOT_ALLOWED, AmqpErrorCondition.ARGUMENT_ERROR,
      AmqpErrorCondition.ARGUMENT_OUT_OF_RANGE_ERROR);

  /**
   * Texts of the service's refusals known to be about the message itself (see the notes of issue 15):
   * no session id for a session-enabled entity, a batch of distinct messages on a partitioned entity
   * with duplicate detection, a message or batch over a size limit. Matched case-insensitively.
   */
  private static final List<String> MESSAGE_REFUSAL_TEXTS = List.of(
      "sessionid was not set", "batching brokered messages", "exceeds the limit",
      "maximum message size", "message size", "batch message with no data");

  /**
   * The message's own fault, not worth replaying: too large, refused by the service for what it holds
   * (a known refusal text, see {@link #refusedForContent}: e.g. no session id for a session-enabled
   * entity), or not encodable by the SDK — returned as {@code rejected}'s exception. Anything else
   * (busy, timeout, connection, authorization, entity missing, disabled, being deleted or of a tier
   * without the feature, quota, a not-allowed or argument error not known to be about the message)
   * is the region's: returned as is.
   */
  static RuntimeException classify(RuntimeException e,
      BiFunction<String, Throwable, ? extends RuntimeException> rejected) {
    if (tooLarge(e)) {
      return rejected.apply("the message is too large: " + e.getMessage(), e);
    }
    if (refusedForContent(e)) {
      return rejected.apply("the namespace refused the message: " + e.getMessage(), e);
    }
    Throwable encoding = encodingError(e);
    if (encoding != null) {
      return rejected.apply("the Service Bus SDK cannot encode the message: " + encoding, e);
    }
    return e;
  }

  /** The SDK's or the service's "message size exceeded". */
  static boolean tooLarge(Throwable e) {
    return e instanceof ServiceBusException sbe
        && ServiceBusFailureReason.MESSAGE_SIZE_EXCEEDED.equals(sbe.getReason());
  }

  private static AmqpErrorCondition condition(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof AmqpException a) {
        return a.getErrorCondition();
      }
    }
    return null;
  }

  /**
   * The service refused the batch as a whole for what it holds (too large as a batch, mixed ids on a
   * partitioned entity with duplicate detection, or one message it refuses): sent one by one, the
   * messages it accepts go and only the refused one is rejected.
   */
  static boolean refusedAsBatch(RuntimeException e) {
    // broader than refusedForContent on purpose: splitting costs nothing, and a refusal about the
    // entity fails the first single for the region (the rest are spooled behind it, in order)
    return tooLarge(e) || CONTENT_REFUSALS.contains(condition(e)) || refusesBatching(e);
  }

  /**
   * The service's "Batching brokered messages with distinct SessionId, PartitionKey, or MessageId...",
   * matched on the text alone: the AMQP condition the Java SDK reports for it is not documented.
   */
  static boolean refusesBatching(RuntimeException e) {
    String m = e.getMessage();
    return m != null && m.contains("Batching brokered messages");
  }

  /**
   * A refusal of the message for what it holds: one of the conditions the service uses for that, and
   * a text known to be about the message (see {@link #MESSAGE_REFUSAL_TEXTS}; a PartitionKey that
   * differs from the SessionId). Anything else with these conditions (the entity's state or tier, a
   * link that fails to attach) is the region's failure: a rejection is final (the publisher never
   * spools it; on replay the copy is deleted from the spool, recoverable only through {@code
   * RegionListener.onCopyRejected}), while a region failure keeps the copy until the region takes it.
   */
  static boolean refusedForContent(RuntimeException e) {
    if (!(e instanceof ServiceBusException) || !CONTENT_REFUSALS.contains(condition(e))) {
      return false;
    }
    String m = e.getMessage() == null ? "" : e.getMessage().toLowerCase(java.util.Locale.ROOT);
    return MESSAGE_REFUSAL_TEXTS.stream().anyMatch(m::contains)
        || (m.contains("partitionkey") && m.contains("sessionid"));
  }

  /**
   * The SDK's local encoding error (IllegalArgumentException "No encoding is known ...",
   * ClassCastException for a byte[]), thrown as is by {@code tryAddMessage}, or — for a scheduled
   * message, which the SDK encodes inside its management channel — wrapped by the client's {@code
   * mapError} as {@code ServiceBusException(cause, SEND)} with reason GENERAL_ERROR; else null.
   */
  private static Throwable encodingError(RuntimeException e) {
    Throwable t = e;
    while (t instanceof ServiceBusException sbe && t.getCause() != null && t.getCause() != t
        && ServiceBusFailureReason.GENERAL_ERROR.equals(sbe.getReason())) {
      t = t.getCause();
    }
    return t instanceof IllegalArgumentException || t instanceof ClassCastException ? t : null;
  }
}
