package dev.tandem.publisher;

import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.concurrent.CompletableFuture;

/**
 * Publishes each message to every region in parallel, with one envelope, and completes by an {@link
 * AckPolicy}; a copy a region does not acknowledge goes to a durable local spool and is replayed to
 * that region, in publish order, when it recovers.
 *
 * <pre>{@code
 * DualPublisher publisher = DualPublisher.builder()
 *     .sink(KafkaRegionalSink.create(RegionId.of("westeurope"), propsA))
 *     .sink(KafkaRegionalSink.create(RegionId.of("northeurope"), propsB))
 *     .ackPolicy(AckPolicy.ANY)
 *     .timeout(Duration.ofSeconds(10))
 *     .spoolDirectory(Path.of("/var/lib/app/tandem-spool"))
 *     .build();
 * publisher.publish(OutboundMessage.builder("orders", partition).key(k).value(v).build())
 *     .thenAccept(result -> log.info("published {}", result.id()));
 * }</pre>
 *
 * <h2>Guarantees</h2>
 *
 * <ul>
 *   <li>The returned future completes only when every copy is on a broker or fsynced in the spool
 *       (group commit), and then by the ack policy. It never completes while a copy sits only in a
 *       producer buffer.
 *   <li>Every copy carries the same envelope (id, digest, shard, publish time, optional signature).
 *   <li>A copy that fails, times out ({@link Builder#timeout}) or meets an open circuit is spooled, also
 *       under {@link AckPolicy#ALL} (where the publish still fails, naming the region): lost never.
 *   <li>While a region's spool is not empty, new copies for it go through the spool too, so copies of
 *       one shard reach it in publish order. Exception: copies already in flight to a region at the
 *       instant an earlier one fails may land before the replayed earlier one if the region recovers
 *       within that instant. A replayed copy may land twice; its id never changes, consumers skip it.
 *   <li>The spool survives a crash: a publisher built on the same directory replays what was pending.
 *   <li>When the spool is full, the copy's publish fails with {@link SpoolFullException}: never a
 *       silent drop. The same for a copy the spool cannot take (its write failed, or a name or value
 *       of the message is over the spool format's 65,535 UTF-8 bytes): the publish fails naming the
 *       region, and still completes only once every other copy settled (publish never throws after
 *       a copy went out).
 *   <li>Concurrent callers: every region sees the copies in the same order (one ordering lock).
 * </ul>
 *
 * <h2>Metrics</h2>
 *
 * {@code tandem.publisher.sent}, {@code .acknowledged}, {@code .failed}, {@code .spooled}, {@code
 * .replayed} (counters), {@code .spool.depth} and {@code .circuit.state} (gauges, 0 closed, 1 open, 2
 * half-open, 3 other), {@code .latency} (timer of broker acknowledgements), all tagged {@code region}
 * ({@code .failed} also {@code outcome} = {@code timeout}, {@code error}, {@code rejected}, {@code
 * spool_full}, {@code spool_error}, {@code replay_error}, {@code dispatch_error}), {@code .spool.corrupt} (records that could
 * not be decoded, logged and removed), {@code .spool.rejected} (spooled copies the region refused on
 * replay for their content: removed and handed to {@link RegionListener#onCopyRejected}), {@code
 * .replayer.errors} (replay steps or probes that threw; logged, the replayer goes on);
 * {@code tandem.publisher.published} tagged {@code outcome} =
 * {@code ok} / {@code failed}. Every meter also carries {@code publisher} = {@link Builder#name}.
 * The names and tag keys are constants of {@link PublisherMeterNames}.
 *
 * <p>Thread-safe. Close it to stop the replayers and release the sinks and the spool.
 */
public final class DualPublisher implements AutoCloseable {

  private final PublisherEngine engine;

  private DualPublisher(PublisherEngine engine) {
    this.engine = engine;
  }

  /** A builder; at least one sink and a spool directory are required. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Sends {@code message} to every region and completes by the ack policy.
   *
   * @return a future completing with the {@link PublishResult}, or exceptionally with a {@link
   *     PublishException} naming each region that failed and why
   * @throws IllegalStateException if the publisher is closed
   */
  public CompletableFuture<PublishResult> publish(OutboundMessage message) {
    return engine.publish(Objects.requireNonNull(message, "message"));
  }

  /**
   * As {@link #publish(OutboundMessage)}, the outcome handed to {@code completion} instead of a
   * future: exactly one of its arguments is non-null (the result, or the {@link PublishException}). It
   * runs once, when every copy is settled, on the thread that settled the last one — a region
   * producer's I/O thread, the timeout timer, a spool thread, or the caller's own thread after the
   * publisher's locks are released — so it must not block. What it throws is caught, logged and
   * counted ({@code tandem.publisher.callback.errors}). For callers that react to every publish's
   * outcome (the replication log ships each store change through here): one future and one
   * dependent stage less per publish than {@code publish(message).whenComplete(...)}.
   *
   * @throws IllegalStateException if the publisher is closed (the completion is not called)
   */
  public void publish(OutboundMessage message, BiConsumer<PublishResult, Throwable> completion) {
    Objects.requireNonNull(completion, "completion");
    engine.publish(Objects.requireNonNull(message, "message"), completion::accept);
  }

  /**
   * As {@link #publish(OutboundMessage)}, the outcome handed to {@code listener} instead of a future
   * (for {@link TandemKafkaProducer}, which completes its own future per record).
   */
  void publish(OutboundMessage message, Publication.Listener listener) {
    engine.publish(Objects.requireNonNull(message, "message"), listener);
  }

  /** The regions, in the order their sinks were added. */
  public List<RegionId> regions() {
    return engine.regions();
  }

  /** The ack policy in force. */
  public AckPolicy ackPolicy() {
    return engine.ackPolicy();
  }

  /** A snapshot of {@code region}: circuit state, spooling, spool depth. */
  public RegionStatus status(RegionId region) {
    return engine.status(region);
  }

  /**
   * Blocks until every publish started before this call has completed (each copy acknowledged,
   * spooled or failed). It does not wait for spools to drain; see {@link #awaitSpoolDrained}.
   */
  public void flush() {
    engine.flush();
  }

  /**
   * Waits up to {@code timeout} for every region's spool to drain and its copies to be sent
   * directly again.
   *
   * @return whether every spool drained in time
   */
  public boolean awaitSpoolDrained(Duration timeout) throws InterruptedException {
    return engine.awaitSpoolDrained(timeout);
  }

  /**
   * Flushes, stops the replayers, closes the sinks and the spool. Copies still in the spool stay
   * there for the next publisher on the same directory; their {@link PublishResult#delivery}
   * futures complete exceptionally.
   */
  @Override
  public void close() {
    engine.close();
  }

  /** Builds a {@link DualPublisher}. Not thread-safe. */
  public static final class Builder {
    /** Default publish timeout: a copy not acknowledged in this time is spooled. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
    /** Default bound of the spool in records (all regions together). */
    public static final long DEFAULT_SPOOL_MAX_RECORDS = 1_000_000;
    /** Default bound of the spool in bytes (all regions together). */
    public static final long DEFAULT_SPOOL_MAX_BYTES = 1L << 30;
    /** Default replay rate per region, records per second. */
    public static final int DEFAULT_REPLAY_RATE = 5_000;

    final Map<RegionId, RegionalSink> sinks = new LinkedHashMap<>();
    AckPolicy ackPolicy = AckPolicy.ANY;
    Duration timeout = DEFAULT_TIMEOUT;
    Path spoolDirectory;
    long spoolMaxRecords = DEFAULT_SPOOL_MAX_RECORDS;
    long spoolMaxBytes = DEFAULT_SPOOL_MAX_BYTES;
    int replayRate = DEFAULT_REPLAY_RATE;
    CircuitBreakerConfig circuitBreakerConfig;
    MeterRegistry meterRegistry;
    EnvelopeSigner signer;
    final List<RegionListener> listeners = new ArrayList<>();
    String name = "default";

    private Builder() {}

    /**
     * The publisher's name, the {@code publisher} tag of its metrics (default {@code default}). Give
     * each publisher sharing a {@code MeterRegistry} its own name, or their meters merge.
     */
    public Builder name(String name) {
      if (name == null || name.isBlank()) {
        throw new IllegalArgumentException("name must not be blank");
      }
      this.name = name;
      return this;
    }

    /** Adds one region's sink; each region at most once. The publisher closes it on close. */
    public Builder sink(RegionalSink sink) {
      Objects.requireNonNull(sink, "sink");
      if (sinks.putIfAbsent(sink.region(), sink) != null) {
        throw new IllegalArgumentException("region " + sink.region() + " has a sink already");
      }
      return this;
    }

    /** When the publish future completes; default {@link AckPolicy#ANY}. */
    public Builder ackPolicy(AckPolicy ackPolicy) {
      this.ackPolicy = Objects.requireNonNull(ackPolicy, "ackPolicy");
      return this;
    }

    /**
     * How long a region may take to acknowledge a copy before it is spooled (and, under {@link
     * AckPolicy#ALL}, the publish fails naming it); default 30 s. Keep it at or below the producer's
     * {@code delivery.timeout.ms}. Also the slow-call threshold of the default circuit breaker.
     */
    public Builder timeout(Duration timeout) {
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("timeout must be positive, got " + timeout);
      }
      this.timeout = timeout;
      return this;
    }

    /** The spool's directory (a RocksDB database; one publisher per directory). Required. */
    public Builder spoolDirectory(Path directory) {
      this.spoolDirectory = Objects.requireNonNull(directory, "directory");
      return this;
    }

    /** Most records the spool holds, all regions together; beyond it sends fail. */
    public Builder spoolMaxRecords(long maxRecords) {
      if (maxRecords <= 0) {
        throw new IllegalArgumentException("spoolMaxRecords must be positive, got " + maxRecords);
      }
      this.spoolMaxRecords = maxRecords;
      return this;
    }

    /** Most bytes (approximate) the spool holds, all regions together; beyond it sends fail. */
    public Builder spoolMaxBytes(long maxBytes) {
      if (maxBytes <= 0) {
        throw new IllegalArgumentException("spoolMaxBytes must be positive, got " + maxBytes);
      }
      this.spoolMaxBytes = maxBytes;
      return this;
    }

    /**
     * Most records per second replayed to one recovering region (so a recovering broker is not
     * flooded); default 5000. It must exceed the publish rate or the spool never drains.
     */
    public Builder replayRate(int recordsPerSecond) {
      if (recordsPerSecond <= 0) {
        throw new IllegalArgumentException("replayRate must be positive, got " + recordsPerSecond);
      }
      this.replayRate = recordsPerSecond;
      return this;
    }

    /**
     * The per-region circuit breaker (Resilience4j). Default: count window of 20 calls, at least 5,
     * opens at 50% failures or 50% calls slower than the timeout, waits 1 s open, then one half-open
     * probe (the replay of the spool's head, or {@link RegionalSink#probe()}) closes it again.
     */
    public Builder circuitBreakerConfig(CircuitBreakerConfig config) {
      this.circuitBreakerConfig = Objects.requireNonNull(config, "config");
      return this;
    }

    /** Where metrics go; default a new {@code SimpleMeterRegistry}. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.meterRegistry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /** Signs every unsigned envelope before it is sent (HMAC); default none. */
    public Builder signer(EnvelopeSigner signer) {
      this.signer = Objects.requireNonNull(signer, "signer");
      return this;
    }

    /** Adds a listener for circuit transitions and spooling. */
    public Builder listener(RegionListener listener) {
      listeners.add(Objects.requireNonNull(listener, "listener"));
      return this;
    }

    /**
     * Opens (or recovers) the spool, starts one replayer per region, and returns the publisher.
     * Copies left in the spool by an earlier publisher (even one killed) are replayed.
     *
     * @throws IllegalStateException if the spool cannot be opened (e.g. another publisher holds it)
     */
    public DualPublisher build() {
      if (sinks.isEmpty()) {
        throw new IllegalStateException("a DualPublisher needs at least one sink");
      }
      if (spoolDirectory == null) {
        throw new IllegalStateException("a DualPublisher needs a spoolDirectory (the durable spool)");
      }
      if (circuitBreakerConfig == null) {
        circuitBreakerConfig =
            CircuitBreakerConfig.custom()
                .slidingWindow(20, 5, CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .failureRateThreshold(50)
                .slowCallRateThreshold(50)
                .slowCallDurationThreshold(timeout)
                .waitDurationInOpenState(Duration.ofSeconds(1))
                .permittedNumberOfCallsInHalfOpenState(1)
                .automaticTransitionFromOpenToHalfOpenEnabled(true)
                .build();
      }
      if (meterRegistry == null) {
        meterRegistry = new SimpleMeterRegistry();
      }
      return new DualPublisher(new PublisherEngine(this));
    }
  }
}
