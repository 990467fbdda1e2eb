package dev.tandem.azure.servicebus;

import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.doNothing;
import static org.mockito.Mockito.doReturn;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.when;

import com.azure.core.amqp.exception.AmqpErrorCondition;
import com.azure.core.amqp.exception.AmqpException;
import com.azure.messaging.servicebus.ServiceBusErrorSource;
import com.azure.messaging.servicebus.ServiceBusException;
import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessageContext;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.azure.messaging.servicebus.models.DeadLetterOptions;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One Service Bus namespace as the service behaves on the receive side, for tests (no emulator runs
 * here): queues, and topics whose subscriptions select messages by rules. Messages travel as the
 * SDK encodes them ({@link SdkWire}); deliveries are {@link ServiceBusReceivedMessage}s the SDK's
 * own serializer builds.
 *
 * <p>What it models, from the Service Bus documentation:
 *
 * <ul>
 *   <li>PeekLock: a delivered message is locked for the entity's lock duration; settling it after
 *       the lock expired fails with {@code MESSAGE_LOCK_LOST}.
 *   <li>Delivery count: starts at 1, "incremented when a message lock expires, or the message is
 *       explicitly abandoned by the receiver" (ServiceBusReceivedMessage.DeliveryCount); "a message
 *       is automatically dead-lettered after this number of deliveries" (MaxDeliveryCount, default
 *       10), with the reason {@code MaxDeliveryCountExceeded}.
 *   <li>Scheduled messages: enqueued (visible) at their scheduled time; {@code
 *       cancelScheduledMessage} removes one not enqueued yet; the time-to-live counts from the
 *       enqueue time; an expired message is removed (dead-lettering on expiration is off by default).
 *   <li>Topics: "each newly created topic subscription has an initial default subscription rule
 *       [...] the true filter"; rules without actions are OR'd and yield a single copy per
 *       subscription; a correlation filter matches when every listed application property is equal
 *       (Topic filters and actions). A message matched by no rule of a subscription is not in it.
 *   <li>Duplicate detection (optional per entity): a MessageId seen before is accepted and dropped.
 * </ul>
 *
 * Simplifications: a message scheduled to a topic is matched against the subscriptions' rules when
 * it is scheduled, not at its enqueue time (same result while rules do not change); no sessions, no
 * partitions, no size limits (FakeNamespace models the send side's batches and sizes).
 *
 * <p>Time is the wall clock (scheduled enqueue times are wall-clock {@link OffsetDateTime}s), so
 * tests use short lock durations and delays. Thread-safe.
 */
public final class FakeServiceBus {

  private final AtomicLong sequence = new AtomicLong(1);
  /** Added to the documented 1-based DeliveryCount on the wire (see {@link #deliveryCountOnTheWire}). */
  private volatile int deliveryCountOnTheWire;

  /**
   * What the AMQP header's delivery-count carries relative to the documented 1-based DeliveryCount:
   * 0 (default, as documented) or -1 (the header's AMQP meaning, "prior failed deliveries"; whether
   * the service sends that is contested, azure-sdk-for-java PR #11845). Tandem reads max(1, count),
   * so tests can run under both.
   */
  public FakeServiceBus deliveryCountOnTheWire(int offset) {
    if (offset != 0 && offset != -1) {
      throw new IllegalArgumentException("offset must be 0 or -1, got " + offset);
    }
    this.deliveryCountOnTheWire = offset;
    return this;
  }
  private final Map<String, Entity> queues = new ConcurrentHashMap<>();
  private final Map<String, Topic> topics = new ConcurrentHashMap<>();

  /** A queue. */
  public Entity queue(String name, int maxDeliveryCount, Duration lockDuration) {
    Entity e = new Entity(name, maxDeliveryCount, lockDuration, List.of());
    queues.put(name, e);
    return e;
  }

  /** A topic (add subscriptions to it). */
  public Topic topic(String name) {
    return topics.computeIfAbsent(name, Topic::new);
  }

  /** The SDK's sender client to a queue or a topic of this namespace. */
  public ServiceBusSenderClient sender(String entityName) {
    Sink sink = queues.containsKey(entityName) ? queues.get(entityName) : topics.get(entityName);
    if (sink == null) {
      throw new IllegalArgumentException("no queue or topic " + entityName);
    }
    // Every call the fake does not model fails loudly (sendMessages of a list or a batch,
    // scheduleMessages, ...): a mock's silent default would drop the messages unnoticed.
    ServiceBusSenderClient c = mock(ServiceBusSenderClient.class, i -> {
      throw new UnsupportedOperationException("FakeServiceBus does not model "
          + i.getMethod().getName() + i.getMethod().getParameterTypes().length + " args");
    });
    doReturn(entityName).when(c).getEntityPath();
    doReturn("fake.servicebus.windows.net").when(c).getFullyQualifiedNamespace();
    doAnswer(i -> {
      sink.accept(i.getArgument(0), System.currentTimeMillis());
      return null;
    }).when(c).sendMessage(any(ServiceBusMessage.class));
    doAnswer(i -> sink.accept(i.getArgument(0),
        ((OffsetDateTime) i.getArgument(1)).toInstant().toEpochMilli()))
        .when(c).scheduleMessage(any(ServiceBusMessage.class), any(OffsetDateTime.class));
    // As the SDK does while its send link is open: the batch is sized from the link's cached
    // maximum without a request (the heartbeat's default namespace probe calls this).
    doAnswer(i -> SdkBatches.create(256 * 1024)).when(c).createMessageBatch();
    doNothing().when(c).close();
    doAnswer(i -> {
      sink.cancel(i.getArgument(0));
      return null;
    }).when(c).cancelScheduledMessage(anyLong());
    return c;
  }

  private interface Sink {
    /** Accepts a message enqueued at {@code atMillis}; returns its sequence number. */
    long accept(ServiceBusMessage message, long atMillis);

    void cancel(long sequenceNumber);
  }

  /** A topic: a copy of each message goes to every subscription with a matching rule. */
  public final class Topic implements Sink {
    final String name;
    final List<Entity> subscriptions = new CopyOnWriteArrayList<>();

    Topic(String name) {
      this.name = name;
    }

    /**
     * A subscription with the given correlation-filter rules on application properties (OR'd); none
     * means the default rule, the true filter.
     */
    @SafeVarargs
    public final Entity subscription(String subscription, int maxDeliveryCount,
        Duration lockDuration, Map<String, Object>... correlationRules) {
      Entity e = new Entity(name + "/subscriptions/" + subscription, maxDeliveryCount,
          lockDuration, List.of(correlationRules));
      subscriptions.add(e);
      return e;
    }

    @Override
    public long accept(ServiceBusMessage message, long atMillis) {
      byte[] wire = SdkWire.encode(message);
      long seq = sequence.getAndIncrement();
      Map<String, Object> properties = SdkWire.applicationProperties(wire);
      for (Entity s : subscriptions) {
        if (s.matches(properties)) {
          s.store(wire, message, atMillis, seq);
        }
      }
      return seq;
    }

    @Override
    public void cancel(long sequenceNumber) {
      subscriptions.forEach(s -> s.cancel(sequenceNumber));
    }
  }

  /** A message the entity dead-lettered, or a receiver dead-lettered. */
  public record DeadLettered(String messageId, Map<String, Object> properties, String reason,
      String description, int deliveryCount) {}

  private static final class Stored {
    final long sequenceNumber;
    final byte[] wire;
    final String messageId;
    final Map<String, Object> properties;
    final long enqueuedAt;
    final long expiresAt;
    int deliveryCount = 1;
    UUID lockToken;
    long lockedUntil;

    Stored(long sequenceNumber, byte[] wire, String messageId, Map<String, Object> properties,
        long enqueuedAt, long expiresAt) {
      this.sequenceNumber = sequenceNumber;
      this.wire = wire;
      this.messageId = messageId;
      this.properties = properties;
      this.enqueuedAt = enqueuedAt;
      this.expiresAt = expiresAt;
    }
  }

  /** A queue or a subscription: what receivers take messages from. */
  public final class Entity implements Sink {
    public final String path;
    final int maxDeliveryCount;
    final Duration lockDuration;
    final List<Map<String, Object>> rules;
    private final List<Stored> messages = new ArrayList<>();
    private final Map<String, Long> seenMessageIds = new HashMap<>();
    volatile boolean duplicateDetection;
    public final List<DeadLettered> deadLetters = new CopyOnWriteArrayList<>();
    /** MessageIds of the messages enqueued here (scheduled ones at their time), in order. */
    public final List<String> enqueuedMessageIds = new CopyOnWriteArrayList<>();
    public final List<String> completedMessageIds = new CopyOnWriteArrayList<>();
    public final List<String> expiredMessageIds = new CopyOnWriteArrayList<>();
    public final AtomicInteger abandons = new AtomicInteger();
    public final AtomicInteger lockExpiries = new AtomicInteger();
    public final AtomicInteger deliveries = new AtomicInteger();
    public final AtomicInteger cancelled = new AtomicInteger();

    Entity(String path, int maxDeliveryCount, Duration lockDuration,
        List<Map<String, Object>> rules) {
      if (maxDeliveryCount < 1) {
        throw new IllegalArgumentException("MaxDeliveryCount minimum value is 1");
      }
      this.path = path;
      this.maxDeliveryCount = maxDeliveryCount;
      this.lockDuration = lockDuration;
      this.rules = rules;
    }

    /** Turns duplicate detection on (the window is the test's length). */
    public Entity duplicateDetection() {
      duplicateDetection = true;
      return this;
    }

    boolean matches(Map<String, Object> properties) {
      if (rules.isEmpty()) {
        return true; // the $Default rule: the true filter
      }
      for (Map<String, Object> rule : rules) {
        boolean all = true;
        for (Map.Entry<String, Object> e : rule.entrySet()) {
          all &= e.getValue().equals(properties.get(e.getKey()));
        }
        if (all) {
          return true;
        }
      }
      return false;
    }

    @Override
    public long accept(ServiceBusMessage message, long atMillis) {
      long seq = sequence.getAndIncrement();
      store(SdkWire.encode(message), message, atMillis, seq);
      return seq;
    }

    synchronized void store(byte[] wire, ServiceBusMessage message, long atMillis, long seq) {
      String id = message.getMessageId();
      if (duplicateDetection && id != null && seenMessageIds.containsKey(id)) {
        return; // accepted, dropped
      }
      if (id != null) {
        seenMessageIds.put(id, seq);
      }
      long ttl = SdkWire.ttlMillis(wire); // as the service reads it: 0 = none (entity default)
      long expires = ttl <= 0 ? Long.MAX_VALUE : atMillis + ttl;
      messages.add(new Stored(seq, wire, id, SdkWire.applicationProperties(wire), atMillis,
          expires));
    }

    @Override
    public synchronized void cancel(long sequenceNumber) {
      long now = System.currentTimeMillis();
      messages.removeIf(s -> {
        boolean hit = s.sequenceNumber == sequenceNumber && s.enqueuedAt > now;
        if (hit) {
          cancelled.incrementAndGet();
        }
        return hit;
      });
    }

    /** Lock expiries, TTL expiries, and MaxDeliveryCount, as of now. */
    private void sweep(long now) {
      for (Stored s : new ArrayList<>(messages)) {
        if (s.lockToken != null && now >= s.lockedUntil) {
          s.lockToken = null;
          lockExpiries.incrementAndGet();
          failedDelivery(s);
        } else if (s.lockToken == null && now >= s.expiresAt) {
          messages.remove(s);
          expiredMessageIds.add(String.valueOf(s.messageId));
        }
      }
    }

    private void failedDelivery(Stored s) {
      s.deliveryCount++;
      if (s.deliveryCount > maxDeliveryCount) {
        messages.remove(s);
        deadLetters.add(new DeadLettered(s.messageId, s.properties, "MaxDeliveryCountExceeded",
            "Message could not be consumed after " + maxDeliveryCount + " delivery attempts.",
            s.deliveryCount - 1));
      }
    }

    /**
     * A receiver client of this entity that only peeks ({@code peekMessages(max, fromSequence)}:
     * active and scheduled messages in sequence order, with their state, as the service lists
     * them); any other call fails.
     */
    public com.azure.messaging.servicebus.ServiceBusReceiverClient peekReceiver() {
      com.azure.messaging.servicebus.ServiceBusReceiverClient r =
          mock(com.azure.messaging.servicebus.ServiceBusReceiverClient.class, i -> {
            throw new UnsupportedOperationException("the peek receiver only peeks: "
                + i.getMethod().getName());
          });
      doAnswer(i -> com.azure.core.util.IterableStream.of(peek(i.getArgument(1),
          i.getArgument(0)))).when(r).peekMessages(org.mockito.ArgumentMatchers.anyInt(),
          anyLong());
      return r;
    }

    synchronized List<ServiceBusReceivedMessage> peek(long fromSequence, int max) {
      long now = System.currentTimeMillis();
      sweep(now);
      return messages.stream().filter(m -> m.sequenceNumber >= fromSequence)
          .sorted(java.util.Comparator.comparingLong(m -> m.sequenceNumber)).limit(max)
          .map(m -> SdkWire.peeked(m.wire, m.sequenceNumber, m.enqueuedAt, m.enqueuedAt > now))
          .toList();
    }

    /** Messages scheduled and not enqueued yet. */
    public synchronized int scheduledCount() {
      long now = System.currentTimeMillis();
      return (int) messages.stream().filter(m -> m.enqueuedAt > now).count();
    }

    /** Locks and delivers the first available message, if any. */
    public synchronized Optional<Delivery> receive() {
      long now = System.currentTimeMillis();
      sweep(now);
      for (Stored s : messages) {
        if (s.lockToken == null && s.enqueuedAt <= now) {
          if (s.deliveryCount == 1) {
            enqueuedMessageIds.add(String.valueOf(s.messageId));
          }
          s.lockToken = UUID.randomUUID();
          s.lockedUntil = now + lockDuration.toMillis();
          deliveries.incrementAndGet();
          ServiceBusReceivedMessage m = SdkWire.receive(s.wire, s.sequenceNumber, s.enqueuedAt,
              s.deliveryCount + deliveryCountOnTheWire, s.lockToken, s.lockedUntil);
          return Optional.of(new Delivery(this, s, s.lockToken, m));
        }
      }
      return Optional.empty();
    }

    /** Messages in the entity (locked, available or scheduled), as of now. */
    public synchronized int size() {
      sweep(System.currentTimeMillis());
      return messages.size();
    }

    /** Messages enqueued (not scheduled for later), locked or not, as of now. */
    public synchronized int activeCount() {
      long now = System.currentTimeMillis();
      sweep(now);
      return (int) messages.stream().filter(s -> s.enqueuedAt <= now).count();
    }

    /** Application properties of every message now in the entity (scheduled ones included). */
    public synchronized List<Map<String, Object>> propertiesInEntity() {
      sweep(System.currentTimeMillis());
      return messages.stream().map(s -> s.properties).toList();
    }

    private synchronized Stored settle(Stored s, UUID token, ServiceBusErrorSource source) {
      sweep(System.currentTimeMillis());
      if (!token.equals(s.lockToken) || !messages.contains(s)) {
        throw new ServiceBusException(new AmqpException(false,
            AmqpErrorCondition.MESSAGE_LOCK_LOST, "The lock supplied is invalid. Either the lock "
                + "expired, or the message has already been removed from the queue.", null),
            source);
      }
      return s;
    }

    synchronized void complete(Stored s, UUID token) {
      settle(s, token, ServiceBusErrorSource.COMPLETE);
      messages.remove(s);
      completedMessageIds.add(String.valueOf(s.messageId));
    }

    synchronized void abandon(Stored s, UUID token) {
      settle(s, token, ServiceBusErrorSource.ABANDON);
      s.lockToken = null;
      abandons.incrementAndGet();
      failedDelivery(s);
    }

    synchronized void deadLetter(Stored s, UUID token, String reason, String description) {
      settle(s, token, ServiceBusErrorSource.ABANDON);
      messages.remove(s);
      deadLetters.add(new DeadLettered(s.messageId, s.properties, reason, description,
          s.deliveryCount));
    }

    @Override
    public String toString() {
      return path;
    }
  }

  /** One locked delivery of a message. */
  public static final class Delivery {
    private final Entity entity;
    private final Stored stored;
    private final UUID token;
    private final ServiceBusReceivedMessage message;

    Delivery(Entity entity, Stored stored, UUID token, ServiceBusReceivedMessage message) {
      this.entity = entity;
      this.stored = stored;
      this.token = token;
      this.message = message;
    }

    public ServiceBusReceivedMessage message() {
      return message;
    }

    public void complete() {
      entity.complete(stored, token);
    }

    public void abandon() {
      entity.abandon(stored, token);
    }

    public void deadLetter(String reason, String description) {
      entity.deadLetter(stored, token, reason, description);
    }

    /** The application properties as a Functions trigger binds them (typed values). */
    public Map<String, Object> applicationProperties() {
      return new LinkedHashMap<>(message.getApplicationProperties());
    }

    /** The processor client's context for this delivery (the SDK's final class, mocked). */
    public ServiceBusReceivedMessageContext context() {
      ServiceBusReceivedMessageContext c = mock(ServiceBusReceivedMessageContext.class);
      when(c.getMessage()).thenReturn(message);
      when(c.getEntityPath()).thenReturn(entity.path);
      when(c.getFullyQualifiedNamespace()).thenReturn("fake.servicebus.windows.net");
      doAnswer(i -> {
        complete();
        return null;
      }).when(c).complete();
      doAnswer(i -> {
        abandon();
        return null;
      }).when(c).abandon();
      doAnswer(i -> {
        DeadLetterOptions o = i.getArgument(0);
        deadLetter(o.getDeadLetterReason(), o.getDeadLetterErrorDescription());
        return null;
      }).when(c).deadLetter(any(DeadLetterOptions.class));
      return c;
    }
  }
}
