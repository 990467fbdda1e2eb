package dev.tandem.azure.servicebus;

import dev.tandem.azure.AzureMeterNames;
import com.azure.messaging.servicebus.ServiceBusReceivedMessage;
import com.azure.messaging.servicebus.ServiceBusReceivedMessageContext;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemHeaders;
import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.store.Phase;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.IntToLongFunction;

/**
 * Process-once for Service Bus consumers: wraps the application's handler for a {@code
 * ServiceBusProcessorClient} ({@link #processMessage}) or a {@code ServiceBusReceiverClient} loop
 * ({@link #process}) with an {@link OnceProcessor}, and settles each message by the outcome. Build
 * the processor client with {@code disableAutoComplete()}: Tandem settles.
 *
 * <pre>{@code
 * TandemRegion region = TandemRegion.create(props); // store, changelogs, ownership (tandem.* keys)
 * TandemServiceBusProcessor once = TandemServiceBusProcessor.builder()
 *     .region(region) // processor, fence and epochs, shard count, meters
 *     .recheckSender(senderToTheSameQueue).build();
 * ServiceBusProcessorClient client = new ServiceBusClientBuilder().connectionString(cs)
 *     .processor().queueName("orders").disableAutoComplete()
 *     .processMessage(once.processMessage(ctx -> orders.apply(ctx.payload())))
 *     .processError(e -> log.warn("...", e.getException()))
 *     .buildProcessorClient();
 * }</pre>
 *
 * <p>Outcome → settlement:
 *
 * <ul>
 *   <li>processed, skipped (already COMPLETED), passed through → <b>complete</b>;
 *   <li>handler failed, dead-letter sink failed → <b>abandon</b>. Every abandon counts toward the
 *       entity's {@code MaxDeliveryCount}: Service Bus then dead-letters the message itself, so keep
 *       {@code MaxDeliveryCount} above the store's {@code maxAttempts};
 *   <li>another claim of the id is in progress (typically this message's earlier delivery, whose
 *       invocation crashed or timed out, or lost its lock while its handler still runs) → a <b>recheck
 *       copy</b> is scheduled for when that claim's lease has run out ({@link
 *       Builder#inProgressRecheckDelay}, default the claim lease plus a tenth) and the delivered
 *       message is completed: waiting costs no delivery attempt. A claim whose holder died is no
 *       longer renewed and expires within one claim lease, so the copy then re-claims it (reported as
 *       a possible re-run); a holder still running renews it, and the copy waits another round.
 *       Without a recheck sender: abandon, as before;
 *   <li>dead-lettered (conflict, stale, missing or malformed envelope, max attempts), or skipped
 *       because the id is DEAD_LETTERED (in this or the other region) → <b>dead-letter</b> with the
 *       reason and a description: nothing is dropped silently;
 *   <li>fenced (this region does not own the shard: a follower) → the message is <b>held</b> for at
 *       most {@link Builder#followerHold} (about the p99 replication lag, far below the lock
 *       duration, {@code maxConcurrentCalls} and {@code functionTimeout}) waiting for the owner's
 *       COMPLETED to replicate; then completed. If it does not arrive, a <b>recheck copy</b> is
 *       scheduled to the same entity under a new {@code MessageId} (the {@code tandem-id} unchanged,
 *       so duplicate detection does not eat it; every other property kept) and the original is
 *       completed: the copy is safe on the broker and no abandon loop runs it into the DLQ. A copy of
 *       a shard this region owns by then is processed. Without a recheck sender the follower
 *       abandons instead (each abandon counts toward {@code MaxDeliveryCount}). See {@link
 *       RecheckScheduler};
 *   <li>a copy past the recheck bound (rounds, or age against the processor's STALE age, or the
 *       original's time-to-live) → <b>dead-letter</b> with the reason {@code RECHECK_LIMIT}.
 * </ul>
 *
 * <p>The recheck sender sends to the queue the messages come from; for a topic subscription, to a
 * queue this subscription's consumer also reads (run the same processor on it), never to the topic:
 * every subscription would get the copy. A copy that would go to the subscription's own topic is
 * refused (ERROR log, {@code tandem.servicebus.rechecks{outcome=misrouted}}) and the message
 * abandoned.
 *
 * <p>Shard ownership: with {@link Builder#ownership} the processor is fenced by it and each shard's
 * epoch is the ownership's current one, so a takeover (by whoever drives the ownership's heartbeats
 * and observations in this region, e.g. {@code TandemFunctions.heartbeat()} or the app's own timer)
 * moves processing without a restart. A follower never runs the handler.
 *
 * <p>Store failures propagate after the message was abandoned (the processor's error handler sees
 * them). Shards: {@code tandem-shard} when present, else the session id (or message id) hashed into
 * {@code shardCount}, as the publisher computes it.
 *
 * <p>Metrics: {@code tandem.servicebus.settled} tagged {@code outcome} (complete, abandon,
 * dead-letter, follower-complete, recheck-scheduled, in-progress-recheck), and the {@link
 * RecheckScheduler}'s meters with {@code source=processor}. Thread-safe.
 */
public final class TandemServiceBusProcessor {

  /** Application property counting the rechecks of a copy: {@link RecheckScheduler#RECHECK_PROPERTY}. */
  public static final String RECHECK_PROPERTY = RecheckScheduler.RECHECK_PROPERTY;

  private final OnceProcessor processor;
  private final int shardCount;
  private final IntToLongFunction epochOfShard;
  /** Null without a recheck sender: a follower then abandons. */
  private final RecheckScheduler recheck;
  private final Duration inProgressRecheckDelay;
  /** A follower's hold, and the recheck copies that wait in the entity. */
  private final RecheckParking parking;
  private final MeterRegistry registry;

  private TandemServiceBusProcessor(Builder b, OnceProcessor processor) {
    this.processor = processor;
    this.shardCount = b.shardCount;
    this.epochOfShard = b.ownership != null ? b.ownership::epoch : b.epochOfShard;
    this.inProgressRecheckDelay = checkedInProgressRecheckDelay(b.inProgressRecheckDelay,
        processor);
    this.recheck = b.recheckSender == null ? null
        : RecheckScheduler.create(b.recheckSender, b.recheckDelay,
            maxRechecks(b.maxRechecks, processor, b.recheckDelay, inProgressRecheckDelay),
            processor.staleAfter(), b.registry, "processor");
    this.registry = b.registry;
    this.parking = new RecheckParking(processor, recheck, b.followerHold, b.pollInterval,
        this::count);
  }

  /**
   * When a copy that found another claim in progress comes back by default: one claim lease (the
   * most a claim whose holder stopped renewing can have left) plus a tenth of it, for the renewal
   * that may have been on its way.
   */
  static Duration defaultInProgressRecheckDelay(Duration claimLease) {
    return claimLease.plus(claimLease.dividedBy(10));
  }

  /**
   * The in-progress recheck delay as set, or its default; refused below the processor's claim
   * renewal interval: a live handler's claim is then found in progress at every round, each round a
   * copy spent for nothing and the round bound used up long before the handler could finish.
   */
  public static Duration checkedInProgressRecheckDelay(Duration configured,
      OnceProcessor processor) {
    Duration delay = configured != null ? configured
        : defaultInProgressRecheckDelay(processor.claimLease());
    if (delay.compareTo(processor.renewEvery()) < 0) {
      throw new IllegalStateException("inProgressRecheckDelay (" + delay + ") must be at least "
          + "the processor's claim renewal interval (" + processor.renewEvery() + ", claim lease "
          + processor.claimLease() + ")");
    }
    return delay;
  }

  /** The round bound as set, or derived: {@link RecheckScheduler#defaultMaxRounds}. */
  public static int maxRechecks(int configured, OnceProcessor processor, Duration recheckDelay,
      Duration inProgressRecheckDelay) {
    if (configured > 0) {
      return configured;
    }
    Duration shortest = recheckDelay.compareTo(inProgressRecheckDelay) < 0 ? recheckDelay
        : inProgressRecheckDelay;
    return RecheckScheduler.defaultMaxRounds(processor.staleAfter(), shortest);
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The {@link DeadLetterSink} for the {@link OnceProcessor} behind this wrapper. On Service Bus a
   * dead letter is stored by settling the message into the entity's dead-letter sub-queue, which the
   * wrapper does right after the outcome (with the reason and description); the sink itself has
   * nothing to store. If that settlement fails (lock lost), the redelivered copy finds the id
   * DEAD_LETTERED and is dead-lettered then. For this wrapper only: {@code TandemFunctions} refuses
   * it (a function cannot settle into the dead-letter queue, so its dead letters would be lost).
   */
  public static DeadLetterSink settlementDeadLetterSink() {
    return SETTLEMENT_SINK;
  }

  /** One instance, so that a wrapper that cannot settle (Functions) can refuse it. */
  private static final DeadLetterSink SETTLEMENT_SINK =
      letter -> CompletableFuture.completedFuture(null);

  /** The {@code processMessage} callback of a {@code ServiceBusProcessorClient}. */
  public Consumer<ServiceBusReceivedMessageContext> processMessage(MessageHandler handler) {
    Objects.requireNonNull(handler, "handler");
    return context -> handle(Settlement.of(context), handler);
  }

  /** Processes and settles one message received by a {@code ServiceBusReceiverClient}. */
  public void process(ServiceBusReceiverClient receiver, ServiceBusReceivedMessage message,
      MessageHandler handler) {
    handle(Settlement.of(receiver, message), Objects.requireNonNull(handler, "handler"));
  }

  private void handle(Settlement settlement, MessageHandler handler) {
    ServiceBusReceivedMessage message = settlement.message();
    IncomingMessage incoming = incoming(message, shardCount);
    Outcome outcome;
    try {
      outcome = processor.process(incoming, epochOfShard.applyAsLong(incoming.shard()), handler);
    } catch (RuntimeException e) {
      settlement.abandon(); // the store failed: nothing decided, redeliver
      count("abandon");
      throw e;
    }
    if (outcome instanceof Outcome.DeadLettered d) {
      settlement.deadLetter(d.reason().name(), d.detail());
      count("dead-letter");
    } else if (outcome instanceof Outcome.Skipped s && s.phase() == Phase.DEAD_LETTERED) {
      settlement.deadLetter("DEAD_LETTERED", "id " + s.id() + " is dead-lettered in the "
          + "idempotency store (this region or the other); this copy joins it");
      count("dead-letter");
    } else if (outcome instanceof Outcome.RetryLater r && r.reason() == Outcome.RetryReason.FENCED) {
      parking.follow(settlement, incoming);
    } else if (outcome instanceof Outcome.RetryLater r
        && r.reason() == Outcome.RetryReason.IN_PROGRESS && recheck != null) {
      // Waiting by abandons would spend MaxDeliveryCount (each abandon and each lock expiry counts)
      // and, with a claim of a crashed invocation, dead-letter the only copy: park it instead.
      parking.park(settlement, inProgressRecheckDelay, "in-progress-recheck");
    } else if (outcome.settled()) {
      settlement.complete();
      count("complete");
    } else {
      settlement.abandon();
      count("abandon");
    }
  }

  /**
   * The {@link IncomingMessage} of a received Service Bus message: application properties as
   * headers (their string form), the body, the shard ({@code tandem-shard}, else the hash of the
   * session id or message id), and the delivery count.
   */
  public static IncomingMessage incoming(ServiceBusReceivedMessage message, int shardCount) {
    Map<String, Object> properties = message.getApplicationProperties();
    byte[] body = message.getBody() == null ? null : message.getBody().toBytes();
    return IncomingMessage.of(name -> {
      Object v = properties.get(name);
      return v == null ? null : v.toString();
    }, body, shardOf(message, properties, shardCount),
        (int) Math.max(1, Math.min(Integer.MAX_VALUE, message.getDeliveryCount())), message);
  }

  private static int shardOf(ServiceBusReceivedMessage message, Map<String, Object> properties,
      int shardCount) {
    Object shard = properties.get(TandemHeaders.SHARD);
    if (shard != null) {
      try {
        int s = Integer.parseInt(shard.toString());
        if (s >= 0) {
          return s;
        }
      } catch (NumberFormatException e) {
        // a malformed shard header: the envelope check dead-letters the message; hash meanwhile
      }
    }
    String key = message.getSessionId() != null ? message.getSessionId() : message.getMessageId();
    return key == null ? 0 : Shards.forKey(key, shardCount);
  }

  private void count(String outcome) {
    Counter.builder(AzureMeterNames.SERVICEBUS_SETTLED).tag("outcome", outcome).register(registry)
        .increment();
  }

  /** Builds a {@link TandemServiceBusProcessor}. */
  public static final class Builder {
    public static final Duration DEFAULT_FOLLOWER_HOLD = Duration.ofMillis(500);
    public static final Duration DEFAULT_RECHECK_DELAY = Duration.ofSeconds(5);

    private OnceProcessor processor;
    private OnceProcessor.Builder processorBuilder;
    private ShardOwnership ownership;
    private int shardCount;
    private IntToLongFunction epochOfShard;
    private ServiceBusSenderClient recheckSender;
    private Duration followerHold = DEFAULT_FOLLOWER_HOLD;
    private Duration recheckDelay = DEFAULT_RECHECK_DELAY;
    private Duration inProgressRecheckDelay;
    /** 0: derived from the STALE age and the shortest recheck delay. */
    private int maxRechecks;
    private Duration pollInterval = Duration.ofMillis(20);
    private MeterRegistry registry;
    /** With {@link #region}: the processor, ownership, shard count and meters come from it. */
    private TandemRegion region;
    private boolean regionApplied;

    private Builder() {}

    /**
     * The processor, ownership, shard count and meter registry from one {@link TandemRegion} (the
     * same object this process's Kafka consumers and Functions integration are made from): an
     * {@link OnceProcessor} from {@link TandemRegion#processorBuilder} with the {@link
     * TandemServiceBusProcessor#settlementDeadLetterSink()} (claims in the replicated store, fenced by the ownership, each
     * claim durable in the own changelog before the handler runs, the configured claim lease and
     * STALE margin), the region's ownership for the epochs (none under {@code
     * tandem.guarantee=detect-only}), {@code tandem.shards}, and the region's meter registry. The
     * processor is registered with the region, which closes it before its store. The ownership's
     * leases are renewed by whoever drives them in this region (a {@code TandemFunctions} heartbeat,
     * or the region's Kafka consumers).
     *
     * <pre>{@code
     * TandemRegion region = TandemRegion.create(props); // tandem.* keys, see TandemRegionConfig
     * TandemServiceBusProcessor once = TandemServiceBusProcessor.builder()
     *     .region(region).recheckSender(senderToTheSameQueue).build();
     * }</pre>
     *
     * <p>Not together with {@link #processor}, {@link #ownership}, {@link #shardCount}, {@link
     * #meterRegistry} or {@link #epochOfShard}: {@link #build} refuses the pair, naming both.
     */
    public Builder region(TandemRegion region) {
      this.region = Objects.requireNonNull(region, "region");
      return this;
    }

    /** Applies {@link #region}: refuses a piece given beside it, then sets the pieces from it. */
    private void fromRegion() {
      java.util.List<String> given = new java.util.ArrayList<>();
      if (processor != null || processorBuilder != null) {
        given.add("processor(...)");
      }
      if (ownership != null) {
        given.add("ownership(...)");
      }
      if (shardCount != 0) {
        given.add("shardCount(...)");
      }
      if (registry != null) {
        given.add("meterRegistry(...)");
      }
      if (epochOfShard != null) {
        given.add("epochOfShard(...)");
      }
      if (!given.isEmpty()) {
        throw new IllegalStateException("region(...) and " + String.join(", ", given) + " both "
            + "given: region(...) sets the processor, ownership, shard count and meter registry "
            + "from the TandemRegion; remove " + String.join(", ", given));
      }
      processorBuilder = region.processorBuilder(settlementDeadLetterSink());
      ownership = region.ownership();
      shardCount = region.shardCount();
      registry = region.meterRegistry();
    }

    /**
     * The once-processor (its store, dead-letter policy, shard fence), already built. With {@link
     * #ownership} it must have been built with {@code .fence(ownership.fence())}; prefer {@link
     * #processor(OnceProcessor.Builder)}, which sets the fence. This or that is required.
     */
    public Builder processor(OnceProcessor processor) {
      this.processor = Objects.requireNonNull(processor, "processor");
      return this;
    }

    /**
     * The once-processor's builder: built here, with the {@link #ownership} fence when ownership is
     * configured. This or {@link #processor(OnceProcessor)} is required.
     */
    public Builder processor(OnceProcessor.Builder processor) {
      this.processorBuilder = Objects.requireNonNull(processor, "processor");
      return this;
    }

    /**
     * Shard ownership across regions: the processor's fence and each shard's epoch come from it (the
     * epoch read at each message, so a takeover applies at once). Renewals and takeovers are driven
     * by whoever runs the ownership's heartbeats in this region. Not with {@link #epochOfShard}.
     */
    public Builder ownership(ShardOwnership ownership) {
      this.ownership = Objects.requireNonNull(ownership, "ownership");
      return this;
    }

    /** The shard count the publishers hash into. Required. */
    public Builder shardCount(int shardCount) {
      if (shardCount <= 0) {
        throw new IllegalArgumentException("shardCount must be > 0, got " + shardCount);
      }
      this.shardCount = shardCount;
      return this;
    }

    /**
     * The lease epoch this region holds for a shard, for apps that run their own ownership; default
     * 0. Prefer {@link #ownership}, which supplies the epochs (and the fence).
     */
    public Builder epochOfShard(IntToLongFunction epochOfShard) {
      this.epochOfShard = Objects.requireNonNull(epochOfShard, "epochOfShard");
      return this;
    }

    /**
     * A sender for recheck copies (optional: else abandon): to the queue the messages come from, or
     * for a topic subscription to a queue this subscription's consumer also reads — never the topic
     * (see the class doc).
     */
    public Builder recheckSender(ServiceBusSenderClient sender) {
      this.recheckSender = Objects.requireNonNull(sender, "sender");
      return this;
    }

    /** How long a follower holds a message for the owner's COMPLETED; default 500 ms. */
    public Builder followerHold(Duration hold) {
      if (hold.isNegative()) {
        throw new IllegalArgumentException("followerHold must be >= 0, got " + hold);
      }
      this.followerHold = hold;
      return this;
    }

    /** When a recheck copy is enqueued, from now; default 5 s. */
    public Builder recheckDelay(Duration delay) {
      if (delay.isNegative() || delay.isZero()) {
        // zero: a copy comes straight back, a tight loop that spends the round bound in moments
        throw new IllegalArgumentException("recheckDelay must be > 0, got " + delay);
      }
      this.recheckDelay = delay;
      return this;
    }

    /**
     * When a copy that found another claim of its id in progress is enqueued again, from now;
     * default the processor's claim lease plus a tenth (a claim nobody renews has expired by then).
     */
    public Builder inProgressRecheckDelay(Duration delay) {
      Objects.requireNonNull(delay, "inProgressRecheckDelay");
      if (delay.isNegative() || delay.isZero()) {
        throw new IllegalArgumentException("inProgressRecheckDelay must be > 0, got " + delay);
      }
      this.inProgressRecheckDelay = delay;
      return this;
    }

    /**
     * The most recheck copies of one message (default {@link RecheckScheduler#defaultMaxRounds}
     * of the processor's STALE age at the shorter of the two recheck delays: as many rounds as
     * reach the STALE age, e.g. about 120,000 of 5 s for 6 days 23 hours, so that the age bound
     * decides);
     * past it, or when a copy would come back older than the processor's STALE age, the message is
     * dead-lettered with the reason {@code RECHECK_LIMIT}.
     */
    public Builder maxRechecks(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxRechecks must be >= 1, got " + max);
      }
      this.maxRechecks = max;
      return this;
    }

    /** Where metrics go; default a new {@link SimpleMeterRegistry}. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    public TandemServiceBusProcessor build() {
      if (region != null && !regionApplied) {
        fromRegion();
        regionApplied = true;
      }
      if ((processor == null) == (processorBuilder == null)) {
        throw new IllegalStateException("exactly one processor(...) is required (a processor or its "
            + "builder)");
      }
      if (shardCount <= 0) {
        throw new IllegalStateException("shardCount(...) is required");
      }
      if (ownership != null && epochOfShard != null) {
        throw new IllegalStateException("ownership(...) supplies the shard epochs: do not set "
            + "epochOfShard(...) too");
      }
      if (epochOfShard == null) {
        epochOfShard = shard -> 0L;
      }
      if (registry == null) {
        registry = new SimpleMeterRegistry();
      }
      OnceProcessor p = processor;
      if (processorBuilder != null) {
        if (ownership != null) {
          processorBuilder.fence(ownership.fence());
        }
        p = processorBuilder.build();
        if (region != null) {
          region.register(p); // closed by the region before its store
        }
      }
      return new TandemServiceBusProcessor(this, p);
    }
  }
}
