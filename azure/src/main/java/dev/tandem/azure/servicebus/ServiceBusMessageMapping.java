package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemIds;
import dev.tandem.publisher.OutboundMessage;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Map;

/**
 * Maps a {@link ServiceBusMessage} to the publisher's {@link OutboundMessage} (bytes and strings only,
 * so that the spool can replay it) and back, once per region.
 *
 * <p>Invariants: every region's copy has the same body, the same broker properties, the same typed
 * application properties, {@code MessageId} = the Tandem id, and the Tandem envelope in application
 * properties ({@code tandem-*}). The session id is carried unchanged and is the shard key; without a
 * session the id is.
 */
final class ServiceBusMessageMapping {

  static final String ATTR = "servicebus.";
  static final String SESSION_ID = ATTR + "session-id";
  static final String PARTITION_KEY = ATTR + "partition-key";
  static final String CONTENT_TYPE = ATTR + "content-type";
  static final String CORRELATION_ID = ATTR + "correlation-id";
  static final String SUBJECT = ATTR + "subject";
  static final String TO = ATTR + "to";
  static final String REPLY_TO = ATTR + "reply-to";
  static final String REPLY_TO_SESSION_ID = ATTR + "reply-to-session-id";
  static final String TIME_TO_LIVE = ATTR + "time-to-live";
  static final String SCHEDULED_ENQUEUE_TIME = ATTR + "scheduled-enqueue-time";
  /** Set by {@code scheduleMessage}: the sink schedules the copy and reports its sequence number. */
  static final String SCHEDULE_AT = ATTR + "schedule-at";
  static final String PROPERTY = ATTR + "property.";

  private static final String RESERVED_PREFIX = "tandem-";

  private ServiceBusMessageMapping() {}

  /**
   * The outbound form of {@code message} for {@code entityPath}. The user's {@code MessageId}, if set,
   * is the Tandem id (a business key); otherwise a new UUIDv7 is.
   *
   * @param scheduleAt when not null, every region schedules the copy for this time
   * @throws IllegalArgumentException for a body that is not a single data section, an application
   *     property named {@code tandem-*} or of a type that cannot be carried, an invalid id
   */
  static OutboundMessage toOutbound(String entityPath, ServiceBusMessage message, int shardCount,
      OffsetDateTime scheduleAt) {
    byte[] body;
    try {
      body = message.getBody().toBytes();
    } catch (IllegalStateException e) {
      throw new IllegalArgumentException("Tandem carries Service Bus messages with a binary (data) "
          + "body only: " + e.getMessage(), e);
    }
    String id = message.getMessageId() != null
        ? TandemIds.validate(message.getMessageId())
        : TandemIds.newId();
    String sessionId = message.getSessionId();
    int shard = Shards.forKey(sessionId != null ? sessionId : id, shardCount);
    OutboundMessage.Builder b = OutboundMessage.builder(entityPath, shard).id(id).value(body);
    putIfSet(b, SESSION_ID, sessionId);
    putIfSet(b, PARTITION_KEY, message.getPartitionKey());
    putIfSet(b, CONTENT_TYPE, message.getContentType());
    putIfSet(b, CORRELATION_ID, message.getCorrelationId());
    putIfSet(b, SUBJECT, message.getSubject());
    putIfSet(b, TO, message.getTo());
    putIfSet(b, REPLY_TO, message.getReplyTo());
    putIfSet(b, REPLY_TO_SESSION_ID, message.getReplyToSessionId());
    if (message.getTimeToLive() != null) {
      b.attribute(TIME_TO_LIVE, message.getTimeToLive().toString());
    }
    if (message.getScheduledEnqueueTime() != null) {
      b.attribute(SCHEDULED_ENQUEUE_TIME, message.getScheduledEnqueueTime().toString());
    }
    if (scheduleAt != null) {
      b.attribute(SCHEDULE_AT, scheduleAt.toString());
    }
    for (Map.Entry<String, Object> p : message.getApplicationProperties().entrySet()) {
      if (p.getKey().startsWith(RESERVED_PREFIX)) {
        throw new IllegalArgumentException("application property '" + p.getKey() + "' is reserved "
            + "for the Tandem envelope; to re-publish a received message, copy it without tandem-* "
            + "properties (its MessageId keeps the id)");
      }
      b.attribute(PROPERTY + p.getKey(), ApplicationPropertyCodec.encode(p.getKey(), p.getValue()));
    }
    return b.build();
  }

  /** The copy of {@code message} a region's sender sends. */
  static ServiceBusMessage toServiceBus(OutboundMessage message) {
    byte[] value = message.value();
    ServiceBusMessage m = new ServiceBusMessage(value == null ? new byte[0] : value);
    m.setMessageId(message.id());
    Map<String, String> a = message.attributes();
    // session id before partition key: the SDK checks that they agree
    if (a.containsKey(SESSION_ID)) {
      m.setSessionId(a.get(SESSION_ID));
    }
    if (a.containsKey(PARTITION_KEY)) {
      m.setPartitionKey(a.get(PARTITION_KEY));
    }
    if (a.containsKey(CONTENT_TYPE)) {
      m.setContentType(a.get(CONTENT_TYPE));
    }
    if (a.containsKey(CORRELATION_ID)) {
      m.setCorrelationId(a.get(CORRELATION_ID));
    }
    if (a.containsKey(SUBJECT)) {
      m.setSubject(a.get(SUBJECT));
    }
    if (a.containsKey(TO)) {
      m.setTo(a.get(TO));
    }
    if (a.containsKey(REPLY_TO)) {
      m.setReplyTo(a.get(REPLY_TO));
    }
    if (a.containsKey(REPLY_TO_SESSION_ID)) {
      m.setReplyToSessionId(a.get(REPLY_TO_SESSION_ID));
    }
    if (a.containsKey(TIME_TO_LIVE)) {
      m.setTimeToLive(Duration.parse(a.get(TIME_TO_LIVE)));
    }
    if (a.containsKey(SCHEDULED_ENQUEUE_TIME)) {
      m.setScheduledEnqueueTime(OffsetDateTime.parse(a.get(SCHEDULED_ENQUEUE_TIME)));
    }
    Map<String, Object> properties = m.getApplicationProperties();
    for (Map.Entry<String, String> e : a.entrySet()) {
      if (e.getKey().startsWith(PROPERTY)) {
        String name = e.getKey().substring(PROPERTY.length());
        properties.put(name, ApplicationPropertyCodec.decode(name, e.getValue()));
      }
    }
    EnvelopeCodec.write(message.envelope(), properties::put);
    return m;
  }

  /** When the copy is to be scheduled (by {@code scheduleMessage}), else null. */
  static OffsetDateTime scheduleAt(OutboundMessage message) {
    String at = message.attributes().get(SCHEDULE_AT);
    return at == null ? null : OffsetDateTime.parse(at);
  }

  private static void putIfSet(OutboundMessage.Builder b, String name, String value) {
    if (value != null) {
      b.attribute(name, value);
    }
  }
}
