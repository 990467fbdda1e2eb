package dev.tandem.examples.functions;

import com.microsoft.azure.functions.ExecutionContext;
import com.microsoft.azure.functions.HttpMethod;
import com.microsoft.azure.functions.HttpRequestMessage;
import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatus;
import com.microsoft.azure.functions.annotation.AuthorizationLevel;
import com.microsoft.azure.functions.annotation.BindingName;
import com.microsoft.azure.functions.annotation.FixedDelayRetry;
import com.microsoft.azure.functions.annotation.FunctionName;
import com.microsoft.azure.functions.annotation.HttpTrigger;
import com.microsoft.azure.functions.annotation.KafkaTrigger;
import com.microsoft.azure.functions.annotation.ServiceBusQueueTrigger;
import com.microsoft.azure.functions.annotation.TimerTrigger;
import dev.tandem.azure.functions.HeartbeatReport;
import dev.tandem.azure.functions.ServiceBusTriggerMessage;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.azure.functions.TandemOnce;
import dev.tandem.azure.functions.TriggerHeaders;
import dev.tandem.consumer.RegionHealth;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.core.RegionId;
import java.util.Map;
import java.util.Optional;

/**
 * The same function app deployed to two regions, each triggered by its own region's queue and topic,
 * processing every message once across both. Each shard has one owner region at a time: the owner
 * runs the function; the other region's copy waits for the owner's completion (a Service Bus copy is
 * parked as a recheck copy on its own queue, a Kafka copy is retried by its trigger), and the {@code
 * tandem-heartbeat} timer keeps the ownership alive and takes a silent region's shards over.
 */
public class OrderFunctions {

  /** The Service Bus queue of the {@code orders-servicebus} function (and of its recheck copies). */
  static final String ORDERS_QUEUE = "orders";

  /**
   * Service Bus: the envelope is in the application properties, which the function declares. A copy
   * of a shard the other region owns, not completed there yet, is scheduled back to this queue as a
   * recheck copy (new MessageId, same tandem-id) and the function returns: the trigger completes the
   * original, so no retry counts toward MaxDeliveryCount.
   */
  @FunctionName("orders-servicebus")
  public void ordersFromServiceBus(
      @ServiceBusQueueTrigger(name = "body", queueName = ORDERS_QUEUE,
          connection = "ServiceBusConnection") String body,
      @BindingName("ApplicationProperties") Map<String, Object> applicationProperties,
      @BindingName("DeliveryCount") int deliveryCount,
      ExecutionContext context) {
    TandemFunctions.installed().once(
        ServiceBusTriggerMessage.of(body, applicationProperties, deliveryCount),
        ctx -> context.getLogger().info("order " + ctx.id() + " processed once: " + body));
  }

  /**
   * Kafka: the middleware reads the envelope from the event JSON and skips completed ids. A copy of a
   * shard the other region owns, not completed there yet, fails the invocation ("retry later"); the
   * Kafka extension commits past a failed invocation (before 4.3.0 always, from 4.3.0 unless
   * host.json says {@code commitOnFailure: false}), so the retry policy must outlast a takeover (35 s
   * with the defaults): it retries indefinitely, every 5 s (one heartbeat period). A handler that
   * keeps failing is still bounded: the store's maxAttempts, then the dead-letter topic.
   */
  @FunctionName("orders-kafka")
  @FixedDelayRetry(maxRetryCount = -1, delayInterval = "00:00:05")
  public void ordersFromKafka(
      @TandemOnce @KafkaTrigger(name = "event", topic = "orders", brokerList = "%KafkaBrokers%",
          consumerGroup = "$Default", dataType = "string") String event,
      ExecutionContext context) {
    context.getLogger().info("order event processed once: " + TriggerHeaders.kafkaEvent(event).value());
  }

  /** HTTP behind Front Door: a retry with the same Idempotency-Key gets the first response. */
  @FunctionName("payments")
  public HttpResponseMessage payments(
      @HttpTrigger(name = "req", methods = {HttpMethod.POST}, authLevel = AuthorizationLevel.FUNCTION)
          HttpRequestMessage<Optional<String>> request,
      ExecutionContext context) {
    return TandemProvider.app().http.execute(request, () -> request
        .createResponseBuilder(HttpStatus.CREATED)
        .header("Content-Type", "application/json")
        .body("{\"charged\":true,\"region\":\"" + TandemProvider.app().region.region() + "\"}")
        .build());
  }

  /**
   * The region's health (issue 21), for Front Door's health probe or an availability test: {@code
   * GET /api/tandem/health} answers 503 when the region is DOWN (closed, its own Kafka broker not
   * answering, a poll loop stopped: send nothing here), else 200 (UP, or DEGRADED with its reasons),
   * with {@link RegionHealth#details()} as JSON — the same snapshot as {@link TandemRegion#health()}
   * and the Spring Actuator indicator. Function-key level like {@code payments} (the details name
   * shards, owners and reasons): a Front Door probe passes the key in its path, {@code
   * /api/tandem/health?code=KEY}.
   */
  @FunctionName("health")
  public HttpResponseMessage health(
      @HttpTrigger(name = "req", methods = {HttpMethod.GET}, authLevel = AuthorizationLevel.FUNCTION,
          route = "tandem/health") HttpRequestMessage<Optional<String>> request,
      ExecutionContext context) {
    return healthResponse(request, TandemFunctions.installed().health());
  }

  static HttpResponseMessage healthResponse(HttpRequestMessage<?> request, RegionHealth health) {
    return request.createResponseBuilder(HttpStatus.valueOf(TandemFunctions.httpStatus(health)))
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-store")
        .body(TandemFunctions.json(health))
        .build();
  }

  /**
   * Shard ownership across the two regions: every 5 s (a timer runs on every plan, on one instance
   * at a time) renews this region's shard leases — only after its own Kafka cluster and its
   * triggers' brokers (the Service Bus namespace; the Kafka trigger's cluster if another) answered,
   * so a region whose broker is down stays silent and the other region takes its shards over —
   * and takes over the shards of a peer silent for L + margin. Takeover time is about L + margin +
   * one timer period. On a consumption plan an app scaled to zero runs no timer: a strict takeover
   * time needs always-ready instances (Premium or Flex Consumption) in both regions.
   */
  @FunctionName("tandem-heartbeat")
  public void heartbeat(@TimerTrigger(name = "tick", schedule = "0/5 * * * * *") String tick,
      ExecutionContext context) {
    HeartbeatReport report = TandemFunctions.installed().heartbeat();
    TandemRegion region = TandemProvider.app().region;
    if (report.silent() || !report.takeovers().isEmpty()) {
      context.getLogger().warning(report.toString());
    } else {
      for (RegionId peer : region.regions()) {
        if (!peer.equals(region.region())) {
          context.getLogger().fine(report + "; replication lag from " + peer + ": "
              + region.replicationLog().lag(peer));
        }
      }
    }
  }
}
