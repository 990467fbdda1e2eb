package dev.tandem.azure.servicebus;

import dev.tandem.azure.AzureMeterNames;
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
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Parks a Service Bus copy on the broker as a <b>recheck copy</b> — a follower's copy the owner has
 * not settled yet, or a copy whose id another claim holds (a crashed or timed-out invocation's,
 * waiting for its lease): a new message to the recheck entity (the queue it came from, or for a
 * subscription its own recheck queue, see below), enqueued {@code delay} (or the given {@code
 * after}) from now, under a new {@code MessageId} (so the entity's
 * duplicate detection does not eat it) with the {@code tandem-id}, the rest of the envelope, the
 * body and every other application property unchanged, and {@link #RECHECK_PROPERTY} counting the
 * rechecks. The caller completes the original only after {@link #schedule} returned: the copy is then
 * safe on the broker, and no abandon loop runs the message into the dead-letter queue while the
 * owner region's completion replicates or a takeover happens ({@code
 * docs/design.md#service-bus-and-azure-functions-specifics}). When the copy comes back, a shard
 * this region owns by then is processed;
 * an id the owner completed meanwhile is skipped.
 *
 * <p>Where copies go: to the entity the copies are received from when that is a <b>queue</b>; for a
 * topic <b>subscription</b>, to a queue that this subscription's consumer also reads (its own recheck
 * queue) — never to the topic, whose every subscription would receive the copy (other subscribers
 * would process it again, other Tandem followers would park theirs, and copies would multiply).
 * Service Bus cannot send to one subscription of a topic; a correlation-filter rule per
 * subscription would need every rule of every subscriber changed. {@link #schedule(
 * ServiceBusReceivedMessage, Duration, String)} refuses a copy of a subscription's message sent to
 * that subscription's topic ({@link Misrouted}).
 *
 * <p>Bounded: a copy carries {@link #RECHECK_PROPERTY} (its round) and {@link #ORIGIN_PROPERTY} (when
 * the original was first enqueued or, if earlier, published: epoch milliseconds, kept on every copy); a copy is refused with
 * {@link LimitExceeded} past {@code maxRounds}, or when it would come back older than {@code maxAge}
 * (the consumer's STALE rule: {@code OnceProcessor.staleAfter()}, so no parked copy outlives the
 * records it is checked against), or when the original's own time-to-live ends before the recheck.
 * The copy's time-to-live is what remains of the original's (it does not restart each round). The
 * caller dead-letters a refused copy with the reason {@code RECHECK_LIMIT}.
 *
 * <p>Upgrading from a version whose Javadoc said to send a subscription's copies to its topic: a
 * processor configured with {@code recheckSender(topic)} now gets {@link Misrouted} and abandons
 * the message (the old follower behaviour, no copy to every subscription); configure the
 * subscription's own recheck queue. The {@code schedule} methods now also throw {@link
 * LimitExceeded} past the bound (a {@code RuntimeException}: callers that caught
 * {@code RuntimeException} as "the sender failed, keep the original" must dead-letter it instead).
 *
 * <p>Sessions: a parked copy is enqueued at the back of its session, behind messages that arrived
 * meanwhile (see the README, "Recheck copies").
 *
 * <p>Shared by {@link TandemServiceBusProcessor} (a received SDK message) and {@code
 * TandemFunctions} (a Service Bus trigger's body and metadata); applications configure it through
 * their {@code recheckSender(...)} and need not use it directly.
 *
 * <p>Metrics: {@code tandem.servicebus.rechecks} tagged {@code source} and {@code outcome}
 * (scheduled, failed, limit, misrouted), and {@code tandem.servicebus.recheck.round}, the recheck number of each copy
 * scheduled (a copy rechecked many times points at an owner that neither completes nor is taken
 * over). Thread-safe (the SDK's sender client is).
 */
public final class RecheckScheduler {

  private static final Logger log = LoggerFactory.getLogger(RecheckScheduler.class);

  /** Application property counting the rechecks of a copy (not part of the envelope). */
  public static final String RECHECK_PROPERTY = "x-tandem-recheck";

  /**
   * Application property of a copy: when the original was first enqueued (epoch milliseconds), the
   * start of every age bound (the original's enqueue time, else its {@code tandem-published-at}).
   */
  public static final String ORIGIN_PROPERTY = "x-tandem-first-enqueued";

  /**
   * The default round bound for copies parked every {@code shortestDelay}: enough rounds to reach
   * {@code maxAge}, so that the age bound (the consumer's STALE rule) decides in normal operation
   * and the round bound only stops copies whose age cannot be told (no enqueue time, no publish
   * time, a clock gone wrong) after about the same wall time. A fixed count would dead-letter a
   * follower's copy — the one that survives losing a region — long before the owner's records
   * could be gone (1000 rounds of 5 s are 83 minutes).
   */
  public static int defaultMaxRounds(Duration maxAge, Duration shortestDelay) {
    long rounds = maxAge.toMillis() / Math.max(1, shortestDelay.toMillis()) + 1;
    return (int) Math.min(Integer.MAX_VALUE, rounds);
  }

  /**
   * The default age bound: the consumer's STALE age with the store's default record TTL (7 days)
   * and the default staleness margin (a tenth of the TTL, at most 1 hour): 6 days 23 hours.
   */
  public static final Duration DEFAULT_MAX_AGE = Duration.ofDays(7).minusHours(1);

  /**
   * The longest time-to-live a message can carry on the wire: the AMQP header's ttl is an unsigned
   * 32-bit count of milliseconds (about 49.7 days).
   */
  static final long MAX_WIRE_TTL_MILLIS = 0xFFFF_FFFFL;

  private final ServiceBusSenderClient sender;
  private final Duration delay;
  private final int maxRounds;
  private final Duration maxAge;
  private final String source;
  private final Counter scheduled;
  private final Counter failed;
  private final Counter limit;
  private final Counter misrouted;
  private final DistributionSummary rounds;

  private RecheckScheduler(ServiceBusSenderClient sender, Duration delay, int maxRounds,
      Duration maxAge, MeterRegistry registry, String source) {
    this.sender = sender;
    this.delay = delay;
    this.maxRounds = maxRounds;
    this.maxAge = maxAge;
    this.source = source;
    scheduled = Counter.builder(AzureMeterNames.SERVICEBUS_RECHECKS).tag("source", source)
        .tag("outcome", "scheduled")
        .description("copies parked on the broker as recheck copies").register(registry);
    failed = Counter.builder(AzureMeterNames.SERVICEBUS_RECHECKS).tag("source", source)
        .tag("outcome", "failed")
        .description("recheck copies the broker did not take (the original is retried instead)")
        .register(registry);
    limit = Counter.builder(AzureMeterNames.SERVICEBUS_RECHECKS).tag("source", source)
        .tag("outcome", "limit")
        .description("copies past the recheck bound (rounds, age or time-to-live): dead-lettered")
        .register(registry);
    misrouted = Counter.builder(AzureMeterNames.SERVICEBUS_RECHECKS).tag("source", source)
        .tag("outcome", "misrouted")
        .description("recheck copies refused because they would go through the subscription's "
            + "topic to every subscription")
        .register(registry);
    rounds = DistributionSummary.builder(AzureMeterNames.SERVICEBUS_RECHECK_ROUND).tag("source", source)
        .description("the recheck number of each recheck copy scheduled").register(registry);
  }

  /**
   * A scheduler with the default bounds ({@link #DEFAULT_MAX_AGE}, and {@link #defaultMaxRounds}
   * of it at {@code delay}); see {@link #create(ServiceBusSenderClient, Duration, int, Duration,
   * MeterRegistry, String)}.
   */
  public static RecheckScheduler create(ServiceBusSenderClient sender, Duration delay,
      MeterRegistry registry, String source) {
    Objects.requireNonNull(delay, "delay");
    return create(sender, delay, defaultMaxRounds(DEFAULT_MAX_AGE, delay), DEFAULT_MAX_AGE,
        registry, source);
  }

  /**
   * A scheduler sending to {@code sender}'s entity: the queue the copies were received from, or, for
   * a topic subscription, a queue that subscription's consumer also reads (see the class doc), in
   * this region's namespace.
   *
   * @param delay when a follower's copy is enqueued, from now (> 0): about a takeover's time or the
   *     owner's p99 processing time, well below the idempotency records' TTL
   * @param maxRounds the most rechecks of one message (its copies are dead-lettered past it); see
   *     {@link #defaultMaxRounds}
   * @param maxAge the oldest a copy may be when it comes back, counted from the original's first
   *     enqueue: the consumer's STALE age ({@code OnceProcessor.staleAfter()}) or less
   * @param source the {@code source} tag of the metrics (e.g. {@code processor}, {@code functions})
   */
  public static RecheckScheduler create(ServiceBusSenderClient sender, Duration delay,
      int maxRounds, Duration maxAge, MeterRegistry registry, String source) {
    Objects.requireNonNull(sender, "sender");
    Objects.requireNonNull(delay, "delay");
    Objects.requireNonNull(maxAge, "maxAge");
    Objects.requireNonNull(registry, "registry");
    Objects.requireNonNull(source, "source");
    if (delay.isNegative() || delay.isZero()) {
      // zero would recheck in a tight loop and spend the round bound in moments
      throw new IllegalArgumentException("recheck delay must be > 0, got " + delay);
    }
    if (maxRounds < 1) {
      throw new IllegalArgumentException("maxRounds must be >= 1, got " + maxRounds);
    }
    if (maxAge.isNegative() || maxAge.isZero()) {
      throw new IllegalArgumentException("maxAge must be > 0, got " + maxAge);
    }
    return new RecheckScheduler(sender, delay, maxRounds, maxAge, registry, source);
  }

  /** How long after scheduling a follower's copy is enqueued. */
  public Duration delay() {
    return delay;
  }

  /** The most rechecks of one message. */
  public int maxRounds() {
    return maxRounds;
  }

  /** The oldest a copy may be when it comes back. */
  public Duration maxAge() {
    return maxAge;
  }

  /**
   * Schedules the recheck copy of a message received through the SDK, {@link #delay()} from now.
   *
   * @return the copy's sequence number
   * @throws LimitExceeded past the bound (rounds, age, or the original's time-to-live): no copy
   *     scheduled, dead-letter the original with the reason {@code RECHECK_LIMIT}
   * @throws RuntimeException the sender's failure: no copy is on the broker, keep the original
   */
  public long schedule(ServiceBusReceivedMessage original) {
    return schedule(original, delay, null);
  }

  /**
   * Schedules the recheck copy of a message received through the SDK: its body, application
   * properties, session id and the other properties the SDK copies, {@code after} from now.
   *
   * @param receivedFrom the entity path the original was received from (e.g. the processor
   *     context's {@code getEntityPath()}, {@code topic/subscriptions/name} for a subscription), or
   *     null when unknown
   * @return the copy's sequence number
   * @throws Misrouted when {@code receivedFrom} is a subscription of the topic this scheduler sends
   *     to: no copy scheduled
   * @throws LimitExceeded past the bound: no copy scheduled, dead-letter the original
   * @throws RuntimeException the sender's failure: no copy is on the broker, keep the original
   */
  public long schedule(ServiceBusReceivedMessage original, Duration after, String receivedFrom) {
    Objects.requireNonNull(original, "original");
    Objects.requireNonNull(after, "after");
    checkRoute(receivedFrom);
    Map<String, Object> properties = original.getApplicationProperties();
    long origin = origin(properties, original.getEnqueuedTime());
    // an AMQP header without a ttl reads as zero: no time-to-live of its own (the entity's default)
    Duration ttl = original.getTimeToLive();
    OffsetDateTime expiresAt = ttl == null || ttl.isZero() || ttl.isNegative() ? null
        : original.getExpiresAt();
    return schedule(new ServiceBusMessage(original), properties, after, origin, expiresAt);
  }

  /**
   * Schedules the recheck copy of a message known by its parts, as a Service Bus trigger hands them
   * to a function, {@link #delay()} from now.
   *
   * @throws LimitExceeded past the bound (rounds, age, or the original's time-to-live): no copy
   *     scheduled, dead-letter the original with the reason {@code RECHECK_LIMIT}
   * @see #schedule(byte[], Map, String, String, String, String, Duration, OffsetDateTime,
   *     OffsetDateTime)
   */
  public long schedule(byte[] body, Map<String, Object> applicationProperties, String sessionId,
      String correlationId, String contentType, String subject) {
    return schedule(body, applicationProperties, sessionId, correlationId, contentType, subject,
        delay, null, null);
  }

  /**
   * Schedules the recheck copy of a message known by its parts, as a Service Bus trigger hands them
   * to a function: the body's bytes and the application properties (the envelope among them).
   *
   * @param sessionId the message's session id, required for a session-enabled entity, else null
   * @param after when the copy is enqueued, from now
   * @param enqueuedTime the original's enqueue time (trigger metadata {@code EnqueuedTimeUtc}), or
   *     null: the age bound then counts from {@code tandem-published-at}
   * @param expiresAt the original's expiry (trigger metadata {@code ExpiresAtUtc}), or null; an
   *     expiry more than 2^32-1 ms (~49.7 days) after the recheck, such as the entity default's year
   *     9999, counts as no time-to-live of its own (the copy is sent without one)
   * @return the copy's sequence number
   * @throws IllegalArgumentException when the properties carry no {@code tandem-id}
   * @throws LimitExceeded past the bound: no copy scheduled, dead-letter the original
   * @throws RuntimeException the sender's failure: no copy is on the broker, keep the original
   */
  public long schedule(byte[] body, Map<String, Object> applicationProperties, String sessionId,
      String correlationId, String contentType, String subject, Duration after,
      OffsetDateTime enqueuedTime, OffsetDateTime expiresAt) {
    Objects.requireNonNull(applicationProperties, "applicationProperties");
    Objects.requireNonNull(after, "after");
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
    return schedule(copy, applicationProperties, after,
        origin(applicationProperties, enqueuedTime), expiresAt);
  }

  private long schedule(ServiceBusMessage copy, Map<String, Object> originalProperties,
      Duration after, long origin, OffsetDateTime expiresAt) {
    Object id = originalProperties.get(TandemHeaders.ID);
    int round = round(originalProperties.get(RECHECK_PROPERTY)) + 1;
    OffsetDateTime at = OffsetDateTime.now(ZoneOffset.UTC).plus(after);
    long ageAtRecheck = at.toInstant().toEpochMilli() - origin;
    String past = null;
    if (round > maxRounds) {
      past = "recheck round " + round + " is past the bound of " + maxRounds + " rounds";
    } else if (ageAtRecheck > maxAge.toMillis()) {
      past = "the copy would be " + Duration.ofMillis(ageAtRecheck) + " old at its recheck (first "
          + "enqueued " + java.time.Instant.ofEpochMilli(origin) + "), past the bound of " + maxAge
          + " (the consumer's STALE age)";
    } else if (expiresAt != null && !expiresAt.isAfter(at)) {
      past = "the original's time-to-live ends at " + expiresAt + ", before the recheck at " + at;
    }
    if (past != null) {
      limit.increment();
      log.warn("Tandem gives up rechecking {} ({}): {}; it is dead-lettered (reason RECHECK_LIMIT)",
          id, source, past);
      throw new LimitExceeded(String.valueOf(id), round, past);
    }
    if (expiresAt != null && Duration.between(at, expiresAt).toMillis() <= MAX_WIRE_TTL_MILLIS) {
      // the copy lives only as long as the original would have: its TTL does not restart each round
      copy.setTimeToLive(Duration.between(at, expiresAt));
    } else if (expiresAt != null) {
      // Beyond an AMQP uint of milliseconds (~49.7 days; proton-j refuses it with a
      // NumberFormatException at send): in practice the entity default TimeSpan.MaxValue (year 9999)
      // that Functions binds as ExpiresAtUtc for a message without a TTL of its own. No TTL of its
      // own: the entity's default applies, as it did to the original.
      copy.setTimeToLive(null);
    } else if (copy.getTimeToLive() != null
        && (copy.getTimeToLive().isZero() || copy.getTimeToLive().isNegative())) {
      // a received header without a ttl reads as zero; sent as zero it would mean "expire at once"
      copy.setTimeToLive(null);
    }
    copy.setMessageId(TandemIds.newId()); // new MessageId: duplicate detection must not eat it
    copy.getApplicationProperties().put(RECHECK_PROPERTY, round);
    copy.getApplicationProperties().put(ORIGIN_PROPERTY, origin);
    long sequence;
    try {
      sequence = sender.scheduleMessage(copy, at);
    } catch (RuntimeException e) {
      failed.increment();
      throw e;
    }
    scheduled.increment();
    rounds.record(round);
    return sequence;
  }

  /** Refuses a copy of a subscription's message sent back through that subscription's topic. */
  private void checkRoute(String receivedFrom) {
    if (receivedFrom == null) {
      return;
    }
    int at = receivedFrom.toLowerCase(Locale.ROOT).indexOf("/subscriptions/");
    String target = sender.getEntityPath();
    if (at > 0 && target != null && receivedFrom.substring(0, at).equalsIgnoreCase(target)) {
      misrouted.increment();
      String detail = "a recheck copy of a message received from " + receivedFrom + " would be "
          + "sent to topic " + target + " and so reach every subscription of it; configure a "
          + "recheck sender to a queue this subscription's consumer also reads";
      log.error("Tandem refuses to park a recheck copy ({}): {}", source, detail);
      throw new Misrouted(detail);
    }
  }

  /**
   * Where the age bound starts: the earliest of a copy's {@link #ORIGIN_PROPERTY}, the original's
   * enqueue time and its {@code tandem-published-at} (the consumer's STALE rule counts from the
   * latter; a replayed publish is enqueued later than it was published).
   */
  private static long origin(Map<String, Object> properties, OffsetDateTime enqueuedTime) {
    long origin = Long.MAX_VALUE;
    long carried = millis(properties.get(ORIGIN_PROPERTY));
    if (carried > 0) {
      origin = carried;
    }
    if (enqueuedTime != null) {
      origin = Math.min(origin, enqueuedTime.toInstant().toEpochMilli());
    }
    long published = millis(properties.get(TandemHeaders.PUBLISHED_AT));
    if (published > 0) {
      origin = Math.min(origin, published);
    }
    return origin == Long.MAX_VALUE ? System.currentTimeMillis() : origin;
  }

  private static long millis(Object value) {
    if (value instanceof Number n) {
      return n.longValue();
    }
    if (value != null) {
      try {
        return (long) Double.parseDouble(value.toString().strip());
      } catch (NumberFormatException e) {
        return -1;
      }
    }
    return -1;
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

  /** A copy past the recheck bound: none was scheduled; the caller dead-letters the original. */
  public static final class LimitExceeded extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int round;

    LimitExceeded(String id, int round, String detail) {
      super("recheck of " + id + " refused: " + detail);
      this.round = round;
    }

    /** The round the refused copy would have been. */
    public int round() {
      return round;
    }
  }

  /** A recheck copy that would go through a topic to every subscription: none was scheduled. */
  public static final class Misrouted extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    Misrouted(String detail) {
      super(detail);
    }
  }
}
