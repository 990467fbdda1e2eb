package dev.tandem.publisher;

import dev.tandem.core.Envelope;
import dev.tandem.core.TandemIds;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One message to publish to every region, in bytes only so that it can be spooled and replayed
 * exactly: destination (topic / entity name, the same in every region), shard (the partition,
 * computed once for every region), key, value, optional timestamp, extra headers, transport
 * attributes, and the {@link Envelope}.
 *
 * <p>Invariants: {@code envelope().shard() == shard()}; the envelope's digest is the SHA-256 of
 * {@link #value()}; no extra header name starts with {@code tandem-} (those belong to the envelope).
 * Immutable; the byte arrays are never exposed without a copy.
 */
public final class OutboundMessage {

  /** Prefix reserved for envelope headers. */
  static final String RESERVED_PREFIX = "tandem-";

  private final String destination;
  private final int shard;
  private final byte[] key;
  private final byte[] value;
  private final long timestamp;
  private final List<MessageHeader> headers;
  private final Map<String, String> attributes;
  private final Envelope envelope;
  /** False: a Kafka copy carries no unsigned envelope headers ({@link Builder#withoutEnvelopeHeaders}). */
  private final boolean envelopeHeaders;
  /**
   * A sink's transport encoding of this message, built by the first region's sink and shared by every
   * other region's copy (KafkaRegionalSink: the record headers, the message's own then the envelope's);
   * null until first asked. Sinks only read it. A benign race: two threads may both build it, with
   * equal results (volatile: the array's elements are published with it).
   */
  volatile Object sinkEncoding;

  private OutboundMessage(Builder b, Envelope envelope) {
    this.destination = b.destination;
    this.shard = b.shard;
    this.key = b.key;
    this.value = b.value;
    this.timestamp = b.timestamp;
    // most messages have neither: the shared empty collections cost no copy per message
    this.headers = b.headers == null ? List.of() : Collections.unmodifiableList(new ArrayList<>(b.headers));
    this.attributes =
        b.attributes == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(b.attributes));
    this.envelope = envelope;
    this.envelopeHeaders = b.envelopeHeaders;
  }

  private OutboundMessage(OutboundMessage m, Envelope envelope) {
    this.destination = m.destination;
    this.shard = m.shard;
    this.key = m.key;
    this.value = m.value;
    this.timestamp = m.timestamp;
    this.headers = m.headers;
    this.attributes = m.attributes;
    this.envelope = envelope;
    this.envelopeHeaders = m.envelopeHeaders;
  }

  /** A builder for a message to {@code destination}, shard {@code shard} (Kafka: the partition). */
  public static Builder builder(String destination, int shard) {
    return new Builder(destination, shard);
  }

  /** Topic (Kafka) or queue/topic entity (Service Bus) name, the same in every region. */
  public String destination() {
    return destination;
  }

  /** The shard: Kafka partition, or the id-hash bucket of a transport without partitions. */
  public int shard() {
    return shard;
  }

  /** A copy of the key bytes, or null. */
  public byte[] key() {
    return key == null ? null : key.clone();
  }

  /** A copy of the value bytes, or null (a Kafka tombstone). */
  public byte[] value() {
    return value == null ? null : value.clone();
  }

  /** Length of the key in bytes (0 when null), without copying it. */
  public int keySize() {
    return key == null ? 0 : key.length;
  }

  /** Length of the value in bytes (0 when null), without copying it. */
  public int valueSize() {
    return value == null ? 0 : value.length;
  }

  /** The record timestamp the caller chose, epoch millis, or {@code -1} to let the transport stamp. */
  public long timestamp() {
    return timestamp;
  }

  /** Extra headers, in order, excluding the envelope. */
  public List<MessageHeader> headers() {
    return headers;
  }

  /**
   * Transport attributes that are not headers, stored and replayed verbatim (e.g. a Service Bus
   * session id or content type, under names the sink defines). Kafka sinks ignore them.
   */
  public Map<String, String> attributes() {
    return attributes;
  }

  /** The envelope: id, digest, shard, publish time, optional signature. */
  public Envelope envelope() {
    return envelope;
  }

  /**
   * Whether a Kafka copy carries the envelope as {@code tandem-*} headers (the default); false after
   * {@link Builder#withoutEnvelopeHeaders}. A signed envelope is written either way. A sending
   * choice, not content: the spool does not keep it and {@link #equals} ignores it.
   */
  public boolean envelopeHeaders() {
    return envelopeHeaders;
  }

  /** The Tandem id; short for {@code envelope().id()}. */
  public String id() {
    return envelope.id();
  }

  /** This message with {@code newEnvelope} (e.g. signed); its id, digest and shard must not change. */
  public OutboundMessage withEnvelope(Envelope newEnvelope) {
    Objects.requireNonNull(newEnvelope, "newEnvelope");
    if (!newEnvelope.id().equals(envelope.id())
        || !newEnvelope.digest().equals(envelope.digest())
        || newEnvelope.shard() != envelope.shard()) {
      throw new IllegalArgumentException(
          "a new envelope must keep id, digest and shard: " + envelope + " -> " + newEnvelope);
    }
    return new OutboundMessage(this, newEnvelope);
  }

  byte[] keyUnsafe() {
    return key;
  }

  byte[] valueUnsafe() {
    return value;
  }

  /** Approximate stored size, for the spool's byte bound. */
  int approximateSize() {
    int n = destination.length() + keySize() + valueSize() + 200;
    for (MessageHeader h : headers) {
      n += h.name().length() + (h.valueUnsafe() == null ? 0 : h.valueUnsafe().length) + 8;
    }
    for (Map.Entry<String, String> e : attributes.entrySet()) {
      n += e.getKey().length() + e.getValue().length() + 8;
    }
    return n;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof OutboundMessage m
        && destination.equals(m.destination)
        && shard == m.shard
        && Arrays.equals(key, m.key)
        && Arrays.equals(value, m.value)
        && timestamp == m.timestamp
        && headers.equals(m.headers)
        && attributes.equals(m.attributes)
        && envelope.equals(m.envelope);
  }

  @Override
  public int hashCode() {
    return Objects.hash(destination, shard, envelope) * 31 + Arrays.hashCode(value);
  }

  @Override
  public String toString() {
    return "OutboundMessage[" + destination + "/" + shard + ", id=" + envelope.id() + ", "
        + valueSize() + " bytes]";
  }

  /** Builds an {@link OutboundMessage}; not thread-safe. */
  public static final class Builder {
    private final String destination;
    private final int shard;
    private byte[] key;
    private byte[] value;
    private long timestamp = -1;
    // created on first use: most messages have neither (saves two collections per record)
    private List<MessageHeader> headers;
    private Map<String, String> attributes;
    private String id;
    private long publishedAt = -1;
    private Envelope envelope;
    private boolean envelopeHeaders = true;

    private Builder(String destination, int shard) {
      this.destination = Objects.requireNonNull(destination, "destination");
      if (destination.isEmpty()) {
        throw new IllegalArgumentException("destination must not be empty");
      }
      if (shard < 0) {
        throw new IllegalArgumentException("shard must be >= 0, got " + shard);
      }
      this.shard = shard;
    }

    /** The key bytes (copied); null for none. */
    public Builder key(byte[] key) {
      this.key = key == null ? null : key.clone();
      return this;
    }

    /** The value bytes (copied); null for a tombstone. */
    public Builder value(byte[] value) {
      this.value = value == null ? null : value.clone();
      return this;
    }

    /** The record timestamp, epoch millis; {@code -1} (default) lets the transport stamp it. */
    public Builder timestamp(long timestamp) {
      this.timestamp = timestamp;
      return this;
    }

    /** Appends a header; names starting with {@code tandem-} are rejected (the envelope owns them). */
    public Builder header(String name, byte[] value) {
      if (name.startsWith(RESERVED_PREFIX)) {
        throw new IllegalArgumentException(
            "header " + name + " is reserved for the Tandem envelope; set the id with id(...)");
      }
      if (headers == null) {
        headers = new ArrayList<>(4);
      }
      headers.add(new MessageHeader(name, value));
      return this;
    }

    /** Sets a transport attribute (see {@link OutboundMessage#attributes()}). */
    public Builder attribute(String name, String value) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(value, "value");
      if (attributes == null) {
        attributes = new LinkedHashMap<>();
      }
      attributes.put(name, value);
      return this;
    }

    /** The idempotency id (a business key); default: a new UUIDv7. At most 128 characters. */
    public Builder id(String id) {
      this.id = TandemIds.validate(id);
      return this;
    }

    /** Publisher wall-clock time, epoch millis; default: now. */
    public Builder publishedAt(long epochMillis) {
      this.publishedAt = epochMillis;
      return this;
    }

    /**
     * A complete envelope (e.g. when replaying a stored copy, or re-sending a copy received from
     * another region); replaces {@link #id} and {@link #publishedAt}. Its shard must equal this
     * message's shard and its digest the value's digest.
     */
    public Builder envelope(Envelope envelope) {
      this.envelope = Objects.requireNonNull(envelope, "envelope");
      return this;
    }

    /**
     * The Kafka copies carry no envelope headers unless the envelope is signed (a publisher with a
     * signer signs it, and the signature travels in the headers): for a stream whose only reader
     * neither deduplicates by id nor checks digests — Tandem's own changelog, whose reader looks at
     * headers only to authenticate. Saves the four {@code tandem-*} headers per copy (about 170 B
     * of names and values) that the producer encodes and every reader parses. The envelope itself is
     * still computed and spooled; a copy replayed from the spool carries the headers (the spool does
     * not keep this choice). Sinks of other transports ignore it.
     */
    public Builder withoutEnvelopeHeaders() {
      this.envelopeHeaders = false;
      return this;
    }

    /** Builds the message, computing the envelope (SHA-256 of the value) unless one was given. */
    public OutboundMessage build() {
      Envelope env = envelope;
      if (env == null) {
        env =
            Envelope.forPayload(
                id != null ? id : TandemIds.newId(),
                value,
                shard,
                publishedAt >= 0 ? publishedAt : System.currentTimeMillis());
      } else {
        if (env.shard() != shard) {
          throw new IllegalArgumentException(
              "envelope shard " + env.shard() + " differs from message shard " + shard);
        }
        env.verifyPayload(value);
      }
      return new OutboundMessage(this, env);
    }
  }
}
