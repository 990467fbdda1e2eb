package dev.tandem.publisher;

import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link RegionalSink} over one Kafka cluster: a {@code Producer<byte[], byte[]>} that sends each
 * copy to the message's destination topic and {@link OutboundMessage#shard() shard} as the partition,
 * with the envelope headers (the same names and values {@link KafkaEnvelopeHeaders} writes) after the message's own headers
 * (unless the message asks for none and its envelope is unsigned: {@link
 * OutboundMessage.Builder#withoutEnvelopeHeaders}).
 *
 * <p>The future completes from the producer callback, so with {@code acks=all} only when the broker
 * has the copy. Too-large, invalid-topic and serialization errors are reported as {@link
 * MessageRejectedException} (replaying would not help); every other error counts against the region.
 *
 * <p>While the region looks healthy (the topic was acknowledged before, the last copy did not fail,
 * and acknowledgements keep coming) copies are handed to the producer inline, which cannot block.
 * Otherwise — first send to a topic, a failure, silence for {@value #SUSPECT_AFTER_NANOS} ns — they
 * go through this sink's own thread, in call order, so a producer blocked on a failed region ({@code
 * max.block.ms}, full buffer) never stalls the publisher or the other regions. Producer settings matter: {@code acks=all} and {@code enable.idempotence=true}
 * (forced by {@link #create}) keep per-partition order across retries; keep {@code
 * delivery.timeout.ms} at or above the publisher's timeout.
 */
public final class KafkaRegionalSink implements RegionalSink {

  private static final Logger LOG = LoggerFactory.getLogger(KafkaRegionalSink.class);

  /** How long {@link #close()} waits for the producer to finish sending. */
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(10);

  private final RegionId region;
  private final Producer<byte[], byte[]> producer;
  private final Properties adminConfig;
  private final Duration closeTimeout;
  private volatile Admin admin;
  /** Hands copies to the producer when the region looks unhealthy, in {@link #send} call order. */
  private final ExecutorService dispatcher;
  /** Orders the inline-or-queue decision with the queue itself. */
  private final Object handOff = new Object();
  /** Copies queued on the dispatcher and not yet handed to the producer. */
  private final AtomicInteger queued = new AtomicInteger();
  /** Copies handed to the producer and not yet answered. */
  private final AtomicLong outstanding = new AtomicLong();
  /** Topics this sink has had acknowledged: the producer holds their metadata. */
  private final Set<String> confirmedTopics = ConcurrentHashMap.newKeySet();
  private volatile long lastAckNanos = System.nanoTime();
  private volatile boolean lastFailed;

  /** With copies outstanding and no acknowledgement for this long, a region counts as suspect. */
  static final long SUSPECT_AFTER_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

  private KafkaRegionalSink(
      RegionId region, Producer<byte[], byte[]> producer, Properties adminConfig, Duration closeTimeout) {
    this.region = Objects.requireNonNull(region, "region");
    this.producer = Objects.requireNonNull(producer, "producer");
    this.adminConfig = adminConfig;
    this.closeTimeout = closeTimeout;
    this.dispatcher = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "tandem-sink-" + region.name());
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * A sink that creates and owns a {@link KafkaProducer} from {@code producerConfig}; the key and
   * value serializers are replaced by byte-array ones, {@code acks} is forced to {@code all} and
   * idempotence on. Its {@link #probe()} asks the cluster for its nodes.
   *
   * @throws IllegalArgumentException if {@code producerConfig} has no {@code bootstrap.servers}
   */
  public static KafkaRegionalSink create(RegionId region, Properties producerConfig) {
    Properties p = new Properties();
    p.putAll(producerConfig);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    Object bootstrap = p.get(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG);
    if (bootstrap == null || bootstrap.toString().isBlank()) {
      // named here: copying it into the admin settings would otherwise fail with a bare NPE
      throw new IllegalArgumentException("the producer properties of region " + region + " have no "
          + ProducerConfig.BOOTSTRAP_SERVERS_CONFIG + " (the region's Kafka cluster)");
    }
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    for (Map.Entry<Object, Object> e : p.entrySet()) {
      String k = e.getKey().toString();
      if (k.startsWith("security.") || k.startsWith("sasl.") || k.startsWith("ssl.")) {
        admin.put(k, e.getValue());
      }
    }
    return new KafkaRegionalSink(
        region, new KafkaProducer<>(p), admin, DEFAULT_CLOSE_TIMEOUT);
  }

  /**
   * A sink over an existing producer, which it then owns (closes on {@link #close()}). The producer
   * must use {@code acks=all}; use idempotence to keep per-partition order across retries.
   */
  public static KafkaRegionalSink wrap(RegionId region, Producer<byte[], byte[]> producer) {
    return new KafkaRegionalSink(region, producer, null, DEFAULT_CLOSE_TIMEOUT);
  }

  @Override
  public RegionId region() {
    return region;
  }

  /** Copies handed to the producer and not yet answered (tests and diagnostics). */
  long outstandingSends() {
    return outstanding.get();
  }

  /** The underlying producer (for {@code partitionsFor} and metrics); do not send through it. */
  public Producer<byte[], byte[]> producer() {
    return producer;
  }

  /**
   * The Kafka record of {@code m}'s copy. Its headers are built once per message and shared by every
   * region's record ({@link #headersOf}); the record and its {@code RecordHeaders} are this copy's own,
   * since a producer marks a record's headers read-only and its interceptors may replace the record.
   */
  static ProducerRecord<byte[], byte[]> recordOf(OutboundMessage m) {
    Header[] headers = headersOf(m);
    return new ProducerRecord<>(
        m.destination(),
        m.shard(),
        m.timestamp() < 0 ? null : m.timestamp(),
        m.keyUnsafe(),
        m.valueUnsafe(),
        // none (a changelog copy): the record makes its own empty RecordHeaders, no list copied
        headers.length == 0 ? null : new RecordHeaders(headers));
  }

  /**
   * The message's own headers, then the envelope's ({@link EnvelopeCodec#writeUtf8}: the same names
   * and bytes {@link KafkaEnvelopeHeaders#write} writes), built once per message and cached on it: the
   * envelope values go straight from the codec into {@link RecordHeader}s, without the copy a {@link
   * MessageHeader} makes of each. No own header starts with {@code tandem-} (OutboundMessage refuses
   * them), so nothing needs removing. Without the envelope ({@link
   * OutboundMessage.Builder#withoutEnvelopeHeaders}, unsigned) only the own headers. Callers must not
   * modify the array.
   */
  static Header[] headersOf(OutboundMessage m) {
    if (m.sinkEncoding instanceof Header[] cached) {
      return cached;
    }
    // a signed envelope is always written: its signature is what the reader checks
    boolean envelope = m.envelopeHeaders() || m.envelope().isSigned();
    if (!envelope && m.headers().isEmpty()) {
      m.sinkEncoding = NO_HEADERS;
      return NO_HEADERS;
    }
    HeaderArray out = new HeaderArray(
        m.headers().size() + (envelope ? (m.envelope().isSigned() ? 6 : 4) : 0));
    for (MessageHeader h : m.headers()) {
      out.accept(h.name(), h.valueUnsafe());
    }
    if (envelope) {
      EnvelopeCodec.writeUtf8(m.envelope(), out);
    }
    Header[] headers = out.array();
    m.sinkEncoding = headers;
    return headers;
  }

  /** The headers of a copy without envelope headers and own headers (never modified). */
  private static final Header[] NO_HEADERS = new Header[0];

  /** Collects headers into an array sized up front (grown only if the guess was short). */
  private static final class HeaderArray implements BiConsumer<String, byte[]> {
    private Header[] headers;
    private int size;

    HeaderArray(int expected) {
      headers = new Header[expected];
    }

    @Override
    public void accept(String name, byte[] value) {
      if (size == headers.length) {
        headers = Arrays.copyOf(headers, size + 4);
      }
      headers[size++] = new RecordHeader(name, value);
    }

    Header[] array() {
      return size == headers.length ? headers : Arrays.copyOf(headers, size);
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>An {@link Error} thrown inside {@code producer.send} (a serializer or interceptor of the
   * producer, OutOfMemoryError, a LinkageError) is thrown from here when the copy was sent on the
   * caller's thread, as {@code KafkaProducer.send} lets it through; when it was sent on the sink's
   * own thread, the future completes exceptionally with it.
   */
  @Override
  public CompletableFuture<SinkAck> send(OutboundMessage m) {
    CompletableFuture<SinkAck> ack = new CompletableFuture<>();
    send(m, (a, err) -> {
      if (err == null) {
        ack.complete(a);
      } else {
        ack.completeExceptionally(err);
      }
    });
    return ack;
  }

  /**
   * As {@link #send(OutboundMessage)}, with the answer handed to {@code done} (exactly once, on the
   * producer's callback thread, or inline when the send fails at once) instead of a future: the
   * publisher's direct path, one object per copy less than a future and its stage. An {@link Error}
   * thrown inside {@code producer.send} on the caller's thread is thrown to the caller instead (as
   * {@code KafkaProducer.send} does; {@code done} is then not called); on the sink's own thread it
   * is handed to {@code done}. Either way the copy no longer counts as outstanding.
   */
  void send(OutboundMessage m, BiConsumer<SinkAck, Throwable> done) {
    ProducerRecord<byte[], byte[]> record = recordOf(m);
    synchronized (handOff) {
      if (queued.get() == 0 && looksHealthy(record.topic())) {
        // the common case: the producer has this topic's metadata and the region answers, so send
        // cannot block; handing off to a thread would cost more than the send itself
        doSend(record, done);
        return;
      }
      // producer.send may block (no metadata for a region that is down, or a full buffer) for up to
      // max.block.ms: done on this region's own thread, so one region never stalls the others.
      // While anything is queued, later copies queue behind it, so call order is kept.
      queued.incrementAndGet();
      try {
        dispatcher.execute(() -> {
          try {
            doSend(record, done);
          } catch (Throwable e) {
            // only an Error gets here (doSend answers anything else itself, and logged this one):
            // no caller to throw it to on this thread, so it is the copy's answer; escaping, it would
            // end this thread and leave the copy unanswered until the publisher's timeout
            done.accept(null, e);
          } finally {
            queued.decrementAndGet();
          }
        });
      } catch (RejectedExecutionException e) {
        queued.decrementAndGet();
        done.accept(null, new IllegalStateException("sink of region " + region + " is closed", e));
      }
    }
  }

  /**
   * Whether a send to {@code topic} can go inline: the topic was acknowledged before (so the producer
   * holds its metadata), the last copy did not fail, and the region has acknowledged something within
   * {@link #SUSPECT_AFTER_NANOS} whenever copies are outstanding.
   */
  private boolean looksHealthy(String topic) {
    if (lastFailed || !confirmedTopics.contains(topic)) {
      return false;
    }
    return outstanding.get() == 0 || System.nanoTime() - lastAckNanos < SUSPECT_AFTER_NANOS;
  }

  /**
   * Hands one copy to the producer; the copy counts as outstanding until its one {@link Answer}.
   * Whatever {@code producer.send} throws settles the count here. A RuntimeException is the copy's
   * answer through {@code done}, as the producer's callback would give it. An Error (a user's
   * serializer or interceptor overflowing, OutOfMemoryError, a LinkageError; KafkaProducer.send lets
   * Errors through uncaught, without calling the callback) is logged and rethrown without calling
   * {@code done}, as KafkaProducer does: either this throws or {@code done} is called, never both. On
   * the caller's thread the caller then sees it; on the sink's own thread, {@link #send} makes it the
   * copy's answer.
   */
  private void doSend(ProducerRecord<byte[], byte[]> record, BiConsumer<SinkAck, Throwable> done) {
    Answer answer = new Answer(done);
    outstanding.incrementAndGet();
    try {
      producer.send(record, answer);
    } catch (RuntimeException e) {
      if (answer.settle()) {
        done.accept(null, classify(e));
      }
    } catch (Error e) {
      // settled first: a count left at +1 would make the region look silent for ever (every later
      // copy through the slow path), and a flush-like wait on it would never end
      boolean ours = answer.settle();
      LOG.error("producer.send of a copy for region {} (topic {}) threw; the copy fails", region,
          record.topic(), e);
      if (ours) {
        throw e;
      }
      // the producer already answered through the callback before throwing: that answer stands
    }
  }

  /**
   * One copy's answer from the producer: settles the outstanding count and calls {@code done} exactly
   * once, whether the producer calls back, throws, or (after an Error late in send) both.
   */
  private final class Answer extends java.util.concurrent.atomic.AtomicBoolean implements Callback {
    private static final long serialVersionUID = 1L;
    private final transient BiConsumer<SinkAck, Throwable> done;

    Answer(BiConsumer<SinkAck, Throwable> done) {
      this.done = done;
    }

    /** True for the first caller only: gives the outstanding count back and marks the failure. */
    boolean settle() {
      if (!compareAndSet(false, true)) {
        return false;
      }
      outstanding.decrementAndGet();
      lastFailed = true;
      return true;
    }

    @Override
    public void onCompletion(RecordMetadata meta, Exception err) {
      if (compareAndSet(false, true)) {
        outstanding.decrementAndGet();
        if (err == null) {
          lastAckNanos = System.nanoTime();
          lastFailed = false;
          if (!confirmedTopics.contains(meta.topic())) {
            confirmedTopics.add(meta.topic());
          }
          done.accept(new SinkAck(region, meta.topic(), meta.partition(), meta.offset(), meta.timestamp()), null);
        } else {
          lastFailed = true;
          done.accept(null, classify(err));
        }
      }
    }
  }

  private Throwable classify(Throwable err) {
    if (err instanceof RecordTooLargeException
        || err instanceof RecordBatchTooLargeException
        || err instanceof InvalidTopicException
        || err instanceof InvalidRecordException
        || err instanceof SerializationException) {
      return new MessageRejectedException(region, err.toString(), err);
    }
    return err;
  }

  @Override
  public CompletableFuture<Void> probe() {
    if (adminConfig == null) {
      return RegionalSink.super.probe();
    }
    Admin a = admin;
    if (a == null) {
      synchronized (this) {
        if (admin == null) {
          admin = Admin.create(adminConfig);
        }
        a = admin;
      }
    }
    return a.describeCluster(new DescribeClusterOptions().timeoutMs(5_000))
        .nodes()
        .toCompletionStage()
        .toCompletableFuture()
        .thenAccept(nodes -> {
          if (nodes.isEmpty()) {
            throw new IllegalStateException("region " + region + " reports no brokers");
          }
        });
  }

  /** Waits until every queued copy was handed to the producer, then flushes the producer. */
  @Override
  public void flush() {
    try {
      CompletableFuture.runAsync(() -> {}, dispatcher).join();
    } catch (RejectedExecutionException | java.util.concurrent.CompletionException e) {
      // closed: nothing queued any more
    }
    producer.flush();
  }

  @Override
  public void close() {
    dispatcher.shutdown();
    try {
      if (!dispatcher.awaitTermination(closeTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
        dispatcher.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      producer.close(closeTimeout);
    } finally {
      if (admin != null) {
        admin.close(Duration.ofSeconds(1));
      }
    }
  }

  @Override
  public String toString() {
    return "KafkaRegionalSink[" + region + "]";
  }
}
