package dev.tandem.azure.functions;

import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.azure.AzureMeterNames;
import dev.tandem.azure.servicebus.RecheckScheduler;
import dev.tandem.azure.servicebus.TandemServiceBusProcessor;
import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.core.TandemHeaders;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.function.Function;

/**
 * Where a Service Bus trigger's copy that cannot be settled now waits (see {@link TandemFunctions}'s
 * class doc): a follower's copy the owner has not completed within {@code followerHold}, or a copy
 * whose id another claim holds, is parked as a <b>recheck copy</b> ({@link RecheckScheduler}: same
 * {@code tandem-id} and envelope, new {@code MessageId}, later) and the function returns, so the
 * trigger completes the original without spending a delivery toward {@code MaxDeliveryCount}.
 * Past the recheck bound the message goes to the processor's dead-letter sink ({@code
 * RECHECK_LIMIT}); anything else — a failed handler, no recheck sender — is the trigger's retry.
 *
 * <p>Invariant: the copy is on the broker before the function returns (the trigger completes the
 * original only then); if it cannot be scheduled, the sender's exception reaches the trigger, which
 * retries the original.
 */
final class ServiceBusParking {

  private final OnceProcessor processor;
  /** Null without a recheck sender: a Service Bus follower then retries too. */
  private final RecheckScheduler recheck;
  private final Duration inProgressRecheckDelay;
  /** Copies parked because the owner had not settled the id (a follower's). */
  private final Counter parkedFollower;
  /** Copies parked because another claim of the id was in progress (a crashed invocation's). */
  private final Counter parkedInProgress;

  /**
   * @param sender the recheck sender, or null (nothing is parked)
   * @param inProgressRecheckDelay as configured, or null for the default (checked either way)
   * @param maxRechecks as configured, 0 for the derived bound
   */
  ServiceBusParking(OnceProcessor processor, ServiceBusSenderClient sender, Duration recheckDelay,
      Duration inProgressRecheckDelay, int maxRechecks, MeterRegistry registry) {
    this.processor = processor;
    this.inProgressRecheckDelay = TandemServiceBusProcessor.checkedInProgressRecheckDelay(
        inProgressRecheckDelay, processor);
    this.recheck = sender == null ? null
        : RecheckScheduler.create(sender, recheckDelay,
            TandemServiceBusProcessor.maxRechecks(maxRechecks, processor, recheckDelay,
                this.inProgressRecheckDelay), processor.staleAfter(), registry, "functions");
    this.parkedFollower = Counter.builder(AzureMeterNames.FUNCTIONS_SERVICEBUS_PARKED)
        .tag("reason", "follower")
        .description("Service Bus copies a follower parked as recheck copies").register(registry);
    this.parkedInProgress = Counter.builder(AzureMeterNames.FUNCTIONS_SERVICEBUS_PARKED)
        .tag("reason", "in-progress")
        .description("Service Bus copies parked for another claim's lease (a crashed or timed-out "
            + "invocation)").register(registry);
  }

  /**
   * The outcome of an unsettled copy: parked ({@code r} returned: a recheck copy is on the broker),
   * or dead-lettered past the recheck bound.
   *
   * @throws TandemFunctions.RetryLaterException when it cannot be parked (a failed handler, no
   *     recheck sender, no id) or the dead-letter sink failed: the trigger's retry
   * @throws RuntimeException the recheck sender's failure (no copy on the broker)
   */
  Outcome park(ServiceBusTriggerMessage message, Function<String, String> headers,
      IncomingMessage incoming, Outcome.RetryLater r) {
    boolean parkable = r.reason() == Outcome.RetryReason.FENCED
        || r.reason() == Outcome.RetryReason.IN_PROGRESS;
    if (recheck == null || !parkable || r.id() == null
        || headers.apply(TandemHeaders.ID) == null) {
      // a failed handler, or no way to park it: the trigger's retry
      throw new TandemFunctions.RetryLaterException(r);
    }
    Map<String, Object> properties = message.applicationPropertiesMap();
    // An in-progress claim is waited for by a copy, not by trigger retries: each retry would count
    // toward MaxDeliveryCount, and a crashed invocation's claim outlives ten quick retries.
    Duration after = r.reason() == Outcome.RetryReason.IN_PROGRESS
        ? inProgressRecheckDelay : recheck.delay();
    try {
      // the copy goes on the broker first; only then may the trigger complete the original
      recheck.schedule(message.body(), properties, message.sessionId(), message.correlationId(),
          message.contentType(), message.subject(), after, message.enqueuedTime(),
          message.expiresAt());
      (r.reason() == Outcome.RetryReason.IN_PROGRESS ? parkedInProgress : parkedFollower)
          .increment();
    } catch (RecheckScheduler.LimitExceeded e) {
      Outcome dead = processor.deadLetterCopy(incoming, DeadLetterReason.RECHECK_LIMIT,
          e.getMessage());
      if (!dead.settled()) {
        // the sink failed: retry
        throw new TandemFunctions.RetryLaterException((Outcome.RetryLater) dead);
      }
      return dead;
    }
    return r;
  }
}
