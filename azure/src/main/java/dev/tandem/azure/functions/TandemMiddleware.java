package dev.tandem.azure.functions;

import com.microsoft.azure.functions.internal.spi.middleware.Middleware;
import com.microsoft.azure.functions.internal.spi.middleware.MiddlewareChain;
import com.microsoft.azure.functions.internal.spi.middleware.MiddlewareContext;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.Outcome;
import java.nio.charset.StandardCharsets;

/**
 * The Azure Functions Java worker middleware (registered through {@code META-INF/services}) that runs
 * a function marked with {@link TandemOnce} once across regions.
 *
 * <p>Per invocation of a marked function: it reads the envelope from the trigger's event JSON (Kafka
 * trigger, {@code dataType = "string"}: record headers included); if the id is already COMPLETED it
 * skips the function (not calling {@code chain.doNext}; the trigger then settles the message). Else it
 * claims the id through the installed {@link TandemFunctions} processor, runs the function as the
 * handler and records completion when it returns. Only COMPLETED ids are skipped; a handler failure,
 * an in-progress claim or a shard this region does not own (after the follower hold) throws {@link
 * TandemFunctions.RetryLaterException}, so the trigger retries. Functions without the mark run
 * untouched.
 *
 * <p>The worker hands middleware only string trigger data, never trigger metadata, so Service Bus and
 * Event Hubs functions (envelope in metadata) use {@link TandemFunctions#once} in their body (Service
 * Bus: with a {@link ServiceBusTriggerMessage}, which lets a follower park a recheck copy). A marked
 * parameter whose value is not the Kafka trigger's event JSON fails at the first call, saying so.
 */
public final class TandemMiddleware implements Middleware {

  static final String MARK = TandemOnce.class.getSimpleName();

  /** Instantiated by the worker's {@link java.util.ServiceLoader}. */
  public TandemMiddleware() {}

  @Override
  public void invoke(MiddlewareContext context, MiddlewareChain chain) throws Exception {
    String parameter = context.getParameterName(MARK);
    if (parameter == null) {
      chain.doNext(context); // not a Tandem-protected function
      return;
    }
    Object value = context.getParameterValue(parameter);
    if (!(value instanceof String json)) {
      throw new IllegalStateException("function " + context.getFunctionName() + ": the @" + MARK
          + " parameter '" + parameter + "' has no string value; the worker hands middleware only "
          + "string trigger data: declare a Kafka trigger with dataType = \"string\", or use "
          + "TandemFunctions.once(...) in the function (Service Bus, Event Hubs)");
    }
    KafkaTriggerEvent event;
    try {
      event = TriggerHeaders.kafkaEvent(json);
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("function " + context.getFunctionName() + ": the @" + MARK
          + " parameter '" + parameter + "' is not a Kafka trigger event: " + e.getMessage(), e);
    }
    TandemFunctions tandem = TandemFunctions.installed();
    byte[] payload = event.value() == null ? null : event.value().getBytes(StandardCharsets.UTF_8);
    IncomingMessage message = IncomingMessage.of(event::header, payload,
        tandem.shardOf(event::header), 1, event);
    if (tandem.isCompleted(message)) {
      return; // a duplicate of a COMPLETED id: skip the function, the trigger settles the message
    }
    Exception[] failure = new Exception[1];
    Outcome outcome = tandem.run(message, ctx -> {
      try {
        chain.doNext(context);
      } catch (Exception e) {
        failure[0] = e;
        throw e;
      }
    });
    if (!outcome.settled()) {
      if (failure[0] != null) {
        throw failure[0]; // the function's own failure, as the trigger would have seen it
      }
      throw new TandemFunctions.RetryLaterException((Outcome.RetryLater) outcome);
    }
  }
}
