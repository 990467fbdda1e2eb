package dev.tandem.azure.servicebus;

import com.azure.core.util.BinaryData;
import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.Objects;

/**
 * Parks a follower's Service Bus copy on the broker as a <b>recheck copy</b>: a new message to the
 * same entity, enqueued {@code delay} from now, under a new {@code MessageId} (so the entity's
 * duplicate detection does not eat it) with the {@code tandem-id}, the rest of the envelope, the
 * body and every other application property unchanged, and {@link #RECHECK_PROPERTY} counting the
 * rechecks. The caller completes the original only after {@link #schedule} returned: the copy is then
 * safe on the broker, and no abandon loop runs the message into the dead-letter queue while the
 * owner region's completion replicates or a takeover happens (DESIGN.md "Service Bus and Azure
 * Functions specifics"). When the copy comes back, a shard this region owns by then is processed;
 * an id the owner completed meanwhile is skipped.
 *
 * <p>Shared by {@link TandemServiceBusProcessor} (a received SDK message) and {@code
 * TandemFunctions} (a Service Bus trigger's body and metadata); applications configure it through
 * their {@code recheckSender(...)} and need not use it directly.
 *
 * <p>Metrics: {@code tandem.servicebus.rechecks} tagged {@code source} and {@code outcome}
 * (scheduled, failed), and {@code tandem.servicebus.recheck.round}, the recheck number of each copy
 * scheduled (a copy rechecked many times points at an owner that neither completes nor is taken
 * over). Thread-safe (the SDK's sender client is).
 */
public final class RecheckScheduler {

  /** Application property counting the rechecks of a copy (not part of the envelope). */
  public static final String RECHECK_PROPERTY = "x-tandem-recheck";

  private final ServiceBusSenderClient sender;
  private final Duration delay;
  private final Counter scheduled;
  private final Counter failed;
  private final DistributionSummary rounds;

  private RecheckScheduler(ServiceBusSenderClient sender, Duration delay, MeterRegistry registry,
      String source) {
    this.sender = sender;
    this.delay = delay;
    scheduled = Counter.builder("tandem.servicebus.rechecks").tag("source", source)
        .tag("outcome", "scheduled")
        .description("follower copies parked on the broker as recheck copies").register(registry);
    failed = Counter.builder("tandem.servicebus.rechecks").tag("source", source)
        .tag("outcome", "failed")
        .description("recheck copies the broker did not take (the original is retried instead)")
        .register(registry);
    rounds = DistributionSummary.builder("tandem.servicebus.recheck.round").tag("source", source)
        .description("the recheck number of each recheck copy scheduled").register(registry);
  }

  /**
   * A scheduler sending to {@code sender}'s entity, which must be the entity the copies were
   * received from (the same queue, or the topic of the subscription), in this region's namespace.
   *
   * @param delay when a copy is enqueued, from now: about a takeover's time or the owner's p99
   *     processing time, well below the idempotency records' TTL
   * @param source the {@code source} tag of the metrics (e.g. {@code processor}, {@code functions})
   */
  public static RecheckScheduler create(ServiceBusSenderClient sender, Duration delay,
      MeterRegistry registry, String source) {
    Objects.requireNonNull(sender, "sender");
    Objects.requireNonNull(delay, "delay");
    Objects.requireNonNull(registry, "registry");
    Objects.requireNonNull(source, "source");
    if (delay.isNegative()) {
      throw new IllegalArgumentException("recheck delay must be >= 0, got " + delay);
    }
    return new RecheckScheduler(sender, delay, registry, source);
  }

  /** How long after scheduling a copy is enqueued. */
  public Duration delay() {
    return delay;
  }

  /**
   * Schedules the recheck copy of a message received through the SDK: its body, application
   * properties, session id and the other properties the SDK copies.
   *
   * @return the copy's sequence number (it could cancel the copy)
   * @throws RuntimeException the sender's failure: no copy is on the broker, keep the original
   */
  public long schedule(ServiceBusReceivedMessage original) {
    Objects.requireNonNull(original, "original");
    return schedule(new ServiceBusMessage(original), original.getApplicationProperties());
  }

  /**
   * Schedules the recheck copy of a message known by its parts, as a Service Bus trigger hands them
   * to a function: the body's bytes and the application properties (the envelope among them).
   *
   * @param sessionId the message's session id, required for a session-enabled entity, else null
   * @return the copy's sequence number
   * @throws IllegalArgumentException when the properties carry no {@code tandem-id}
   * @throws RuntimeException the sender's failure: no copy is on the broker, keep the original
   */
  public long schedule(byte[] body, Map<String, Object> applicationProperties, String sessionId,
      String correlationId, String contentType, String subject) {
    Objects.requireNonNull(applicationProperties, "applicationProperties");
    if (applicationProperties.get(TandemHeaders.ID) == null) {
      // a copy without the id would be processed as a new message: never park one
      throw new IllegalArgumentException("a recheck copy needs the envelope's " + TandemHeaders.ID
          + " in the application properties");
    }
    ServiceBusMessage copy = new ServiceBusMessage(BinaryData.fromBytes(body == null
        ? new byte[0] : body));
    copy.getApplicationProperties().putAll(applicationProperties);
    if (sessionId != null) {
      copy.setSessionId(sessionId);
    }
    if (correlationId != null) {
      copy.setCorrelationId(correlationId);
    }
    if (contentType != null) {
      copy.setContentType(contentType);
    }
    if (subject != null) {
      copy.setSubject(subject);
    }
    return schedule(copy, applicationProperties);
  }

  private long schedule(ServiceBusMessage copy, Map<String, Object> originalProperties) {
    copy.setMessageId(TandemIds.newId()); // new MessageId: duplicate detection must not eat it
    int round = round(originalProperties.get(RECHECK_PROPERTY)) + 1;
    copy.getApplicationProperties().put(RECHECK_PROPERTY, round);
    long sequence;
    try {
      sequence = sender.scheduleMessage(copy, OffsetDateTime.now(ZoneOffset.UTC).plus(delay));
    } catch (RuntimeException e) {
      failed.increment();
      throw e;
    }
    scheduled.increment();
    rounds.record(round);
    return sequence;
  }

  /**
   * The recheck number a copy carries: 0 for an original. A trigger's metadata may carry it as any
   * number type or as text (JSON); anything unreadable counts as 0 rather than failing the copy.
   */
  static int round(Object value) {
    if (value instanceof Number n) {
      return Math.max(0, n.intValue());
    }
    if (value != null) {
      try {
        return Math.max(0, (int) Double.parseDouble(value.toString().strip()));
      } catch (NumberFormatException e) {
        return 0;
      }
    }
    return 0;
  }
}
