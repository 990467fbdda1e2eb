package dev.tandem.azure.functions;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.Collections;
import java.util.Map;

/**
 * What a Service Bus trigger hands a function, as {@link TandemFunctions#once(ServiceBusTriggerMessage,
 * dev.tandem.consumer.MessageHandler)} needs it: the body's bytes and the declared metadata. Enough to
 * process the message once and, for a follower region, to schedule a recheck copy of it (body and
 * application properties unchanged) instead of failing the invocation.
 *
 * <p>The worker hands a function only what it declares, so a function that wants rechecks declares
 * (Service Bus extension 5.x metadata names):
 *
 * <pre>{@code
 * @ServiceBusQueueTrigger(name = "body", queueName = "orders", connection = "ServiceBusConnection")
 *     byte[] body,                                       // or String (UTF-8 text bodies)
 * @BindingName("ApplicationProperties") Map<String, Object> applicationProperties,
 * @BindingName("DeliveryCount") int deliveryCount,
 * @BindingName("SessionId") String sessionId              // session-enabled entities only
 * }</pre>
 *
 * <p>The copy carries the application properties as the worker bound them: a number may arrive (and
 * so be copied) as another number type than the sender used. The envelope's properties are text and
 * unaffected.
 */
public final class ServiceBusTriggerMessage {

  private final byte[] body;
  private final Object applicationProperties;
  private final int deliveryCount;
  private final String sessionId;
  private final String correlationId;
  private final String contentType;
  private final String subject;
  private final OffsetDateTime enqueuedTime;
  private final OffsetDateTime expiresAt;

  private ServiceBusTriggerMessage(byte[] body, Object applicationProperties, int deliveryCount,
      String sessionId, String correlationId, String contentType, String subject) {
    this(body, applicationProperties, deliveryCount, sessionId, correlationId, contentType, subject,
        null, null);
  }

  private ServiceBusTriggerMessage(byte[] body, Object applicationProperties, int deliveryCount,
      String sessionId, String correlationId, String contentType, String subject,
      OffsetDateTime enqueuedTime, OffsetDateTime expiresAt) {
    this.enqueuedTime = enqueuedTime;
    this.expiresAt = expiresAt;
    this.body = body;
    this.applicationProperties = applicationProperties;
    this.deliveryCount = deliveryCount;
    this.sessionId = sessionId;
    this.correlationId = correlationId;
    this.contentType = contentType;
    this.subject = subject;
  }

  /**
   * A trigger message.
   *
   * @param body the body's bytes (may be null for an empty body)
   * @param applicationProperties the {@code ApplicationProperties} metadata: the map the worker binds
   *     or its JSON text; null fails at {@link TandemFunctions#once}, naming the missing declaration
   * @param deliveryCount the {@code DeliveryCount} metadata (1 when not declared)
   */
  public static ServiceBusTriggerMessage of(byte[] body, Object applicationProperties,
      int deliveryCount) {
    return new ServiceBusTriggerMessage(body == null ? null : body.clone(), applicationProperties,
        deliveryCount, null, null, null, null);
  }

  /** {@link #of(byte[], Object, int)} for a text body (UTF-8). */
  public static ServiceBusTriggerMessage of(String body, Object applicationProperties,
      int deliveryCount) {
    return new ServiceBusTriggerMessage(body == null ? null : body.getBytes(StandardCharsets.UTF_8),
        applicationProperties, deliveryCount, null, null, null, null);
  }

  /** With the {@code SessionId} metadata: a session-enabled entity refuses a copy without it. */
  public ServiceBusTriggerMessage withSessionId(String sessionId) {
    return new ServiceBusTriggerMessage(body, applicationProperties, deliveryCount, sessionId,
        correlationId, contentType, subject, enqueuedTime, expiresAt);
  }

  /** With the {@code CorrelationId}, {@code ContentType} and {@code Subject} metadata, copied too. */
  public ServiceBusTriggerMessage withSystemProperties(String correlationId, String contentType,
      String subject) {
    return new ServiceBusTriggerMessage(body, applicationProperties, deliveryCount, sessionId,
        correlationId, contentType, subject, enqueuedTime, expiresAt);
  }

  /**
   * With the {@code EnqueuedTimeUtc} and {@code ExpiresAtUtc} metadata (an {@link OffsetDateTime},
   * an {@link Instant} or ISO-8601 text as the worker binds it; null or unreadable is left out):
   * recheck copies then count their age from the original's enqueue time (else from {@code
   * tandem-published-at}) and keep the original's expiry instead of a time-to-live restarted on each
   * copy. {@code ExpiresAtUtc} of a message without a TTL of its own (the entity default, year
   * 9999) is fine: such a copy is sent without one.
   */
  public ServiceBusTriggerMessage withTimes(Object enqueuedTimeUtc, Object expiresAtUtc) {
    return new ServiceBusTriggerMessage(body, applicationProperties, deliveryCount, sessionId,
        correlationId, contentType, subject, time(enqueuedTimeUtc), time(expiresAtUtc));
  }

  private static OffsetDateTime time(Object value) {
    if (value instanceof OffsetDateTime t) {
      return t;
    }
    if (value instanceof Instant i) {
      return i.atOffset(ZoneOffset.UTC);
    }
    if (value != null) {
      String text = value.toString().strip();
      try {
        return OffsetDateTime.parse(text);
      } catch (DateTimeParseException e) {
        try {
          return java.time.LocalDateTime.parse(text).atOffset(ZoneOffset.UTC); // "...Utc", no zone
        } catch (DateTimeParseException ignored) {
          return null; // unreadable: the age counts from tandem-published-at
        }
      }
    }
    return null;
  }

  OffsetDateTime enqueuedTime() {
    return enqueuedTime;
  }

  OffsetDateTime expiresAt() {
    return expiresAt;
  }

  byte[] body() {
    return body;
  }

  Object applicationProperties() {
    return applicationProperties;
  }

  /** The application properties as a map (parsed when the worker bound them as JSON text). */
  Map<String, Object> applicationPropertiesMap() {
    return Collections.unmodifiableMap(TriggerHeaders.serviceBusProperties(applicationProperties));
  }

  int deliveryCount() {
    return deliveryCount;
  }

  String sessionId() {
    return sessionId;
  }

  String correlationId() {
    return correlationId;
  }

  String contentType() {
    return contentType;
  }

  String subject() {
    return subject;
  }

  @Override
  public String toString() {
    return "ServiceBusTriggerMessage[" + (body == null ? 0 : body.length) + " bytes, delivery "
        + deliveryCount + (sessionId == null ? "" : ", session " + sessionId) + "]";
  }
}
