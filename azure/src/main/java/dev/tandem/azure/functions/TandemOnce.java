package dev.tandem.azure.functions;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks the trigger parameter of a function that {@link TandemMiddleware} protects. The worker hands
 * middleware only string trigger data, so the parameter must be the Kafka trigger's event JSON:
 *
 * <pre>{@code
 * @FunctionName("orders")
 * public void run(@TandemOnce @KafkaTrigger(name = "event", topic = "orders", brokerList = "%Brokers%",
 *     consumerGroup = "$Default", dataType = "string") String event, ExecutionContext context) { ... }
 * }</pre>
 *
 * For Service Bus and Event Hubs triggers (whose envelope is in trigger metadata the middleware cannot
 * see) use {@link TandemFunctions#once} inside the function instead; a Service Bus function passes a
 * {@link ServiceBusTriggerMessage}, so that a follower region parks a recheck copy rather than
 * failing the invocation.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
public @interface TandemOnce {}
