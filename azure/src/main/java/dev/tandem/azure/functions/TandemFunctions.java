package dev.tandem.azure.functions;

import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.azure.servicebus.RecheckScheduler;
import dev.tandem.azure.servicebus.TandemServiceBusProcessor;
import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.RegionHealth;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.azure.servicebus.ServiceBusNamespaceProbe;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.TandemClock;
import dev.tandem.store.replication.ReplicationLog;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.IntToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Process-once for Azure Functions: the plain helper {@link #once} for any trigger, and the
 * configuration {@link TandemMiddleware} uses. (Over 500 lines on purpose: what is left here is the
 * public API a function app touches — the entry points, {@link RetryLaterException} and the nested
 * {@link Builder} with the Javadoc of every option, which apps, the Spring starter and the sample
 * call as {@code TandemFunctions.Builder}. The machinery is in package-private classes named after
 * their concepts: {@link TriggerProcessing} (owner, follower, hold), {@link ServiceBusParking}
 * (recheck copies), {@link TriggerProbes} and {@link TriggerProbeEvidence} (the heartbeat's probes
 * and their evidence for health), {@link FunctionsHealth} (the endpoint's answer), {@link
 * ShardHeartbeats} (the heartbeat).)
 *
 * <p>The function app installs it once: through a {@link
 * TandemFunctionsProvider} registered in {@code META-INF/services} (loaded at the first protected
 * call, so it works even when the middleware runs before any app code), or by calling {@link
 * #install} itself:
 *
 * <pre>{@code
 * public final class MyTandem implements TandemFunctionsProvider {
 *   public TandemFunctions.Builder configure() {
 *     TandemRegion region = TandemRegion.create(tandemKeys); // store, changelogs, ownership
 *     return TandemFunctions.builder()
 *         .region(region, region.kafkaDeadLetters("orders.tandem-dlq")) // processor, ownership, shards
 *         .recheckSender(senderToTheOrdersQueue); // Service Bus followers park recheck copies
 *   }
 * }
 *
 * @FunctionName("orders")
 * public void run(@ServiceBusQueueTrigger(name = "body", queueName = "orders", connection = "SB")
 *         byte[] body,
 *     @BindingName("ApplicationProperties") Map<String, Object> properties,
 *     @BindingName("DeliveryCount") int deliveryCount) {
 *   TandemFunctions.installed().once(ServiceBusTriggerMessage.of(body, properties, deliveryCount),
 *       ctx -> orders.apply(body));
 * }
 * }</pre>
 *
 * <p>What the function then does, by outcome (the trigger settles the message when the function
 * returns, and retries it when it throws):
 *
 * <ul>
 *   <li>processed, skipped (already COMPLETED), passed through, dead-lettered (the processor's
 *       {@code DeadLetterSink} holds it) → returns, the trigger completes the message;
 *   <li>this region does not own the shard and the owner's COMPLETED has not replicated within
 *       {@code followerHold}: for a Service Bus trigger passed as a {@link ServiceBusTriggerMessage}
 *       with a {@link Builder#recheckSender recheck sender} configured → a <b>recheck copy</b> is
 *       scheduled to the same entity ({@link RecheckScheduler}: new {@code MessageId}, same {@code
 *       tandem-id} and envelope, {@code recheckDelay} later) and the function <b>returns</b>, so the
 *       trigger completes the original: no abandon loop toward {@code MaxDeliveryCount} during a
 *       takeover. A copy of a shard this region owns by then is processed; one the owner completed
 *       is skipped. If the copy cannot be scheduled, the sender's exception is thrown (the trigger
 *       retries the original);
 *   <li>another claim of the id is in progress (typically this message's earlier invocation,
 *       which crashed or timed out — the host then restarts the worker, so its claim is no longer
 *       renewed — or lost its lock while still running): for a Service Bus trigger with a recheck
 *       sender → a recheck copy is scheduled for when that claim's lease has run out ({@link
 *       Builder#inProgressRecheckDelay}, default the claim lease plus a tenth) and the function
 *       returns: waiting costs no delivery attempt. A claim nobody renews expires within one claim
 *       lease and the copy then re-claims it (a possible re-run, reported); a live holder renews it
 *       and the copy waits another round. Counted in {@code tandem.functions.servicebus.parked}
 *       tagged {@code reason=in-progress} (a follower's parked copies: {@code reason=follower});
 *       on a session-enabled entity the copy goes to the back of its session (see the README);
 *   <li>a recheck copy past its bound (rounds, age against the processor's STALE age, or the
 *       original's time-to-live) → sent to the processor's {@code DeadLetterSink} with the reason
 *       {@code RECHECK_LIMIT} and the function returns (WARN log, {@code
 *       tandem.servicebus.rechecks{outcome=limit}}) — not to the Service Bus dead-letter queue,
 *       which a function cannot settle into; hence {@code
 *       TandemServiceBusProcessor.settlementDeadLetterSink()} is refused here. If the sink fails,
 *       {@link RetryLaterException} (the trigger retries);
 *   <li>the same without a recheck (Kafka and Event Hubs triggers, or no recheck sender), or the
 *       handler failed → throws {@link RetryLaterException}, so the trigger retries it (a Service Bus
 *       retry counts toward {@code MaxDeliveryCount}; Kafka and Event Hubs triggers retry by their
 *       retry policy — the Kafka extension commits past a failed invocation, so a Kafka function
 *       needs a retry policy that outlasts a takeover: see {@link Builder#kafkaFunctions} and
 *       {@link KafkaTriggerRetryCheck}).
 * </ul>
 *
 * <p>Only a message the function declares as a Service Bus trigger can be rechecked: the copy needs
 * the body's bytes and the application properties, which the worker hands only to a function that
 * declares them ({@link ServiceBusTriggerMessage}). Kafka and Event Hubs messages cannot be re-sent
 * to their partition as the same record, and keep the retry.
 *
 * <h2>Shard ownership across regions</h2>
 *
 * With {@link Builder#ownership} each shard has one owner region at a time ({@code
 * docs/design.md#processing-once-across-regions}): the owner processes its shards, the other
 * region's copies wait (the follower
 * hold, then a recheck copy for a Service Bus trigger, else a trigger retry) until the owner's
 * COMPLETED has replicated or this region took the shard over. Leases are renewed, and
 * silent owners taken over, by {@link #heartbeat()}, which a timer-triggered function calls:
 *
 * <pre>{@code
 * @FunctionName("tandem-heartbeat")
 * public void heartbeat(@TimerTrigger(name = "tick", schedule = "0/5 * * * * *") String tick) {
 *   TandemFunctions.installed().heartbeat();
 * }
 * }</pre>
 *
 * <p>Only the owner's heartbeat renews a lease, and only after every broker this region depends on
 * answered — its own changelog broker and each trigger's ({@link Builder#triggerProbe(BrokerProbe)},
 * e.g. {@code ServiceBusNamespaceProbe.of(receiver)}; the {@link Builder#recheckSender}'s namespace
 * too, which a sender notices down only once its link drops): a region
 * whose changelog broker or Service Bus namespace is down stays silent, so the other region takes
 * over and processes its shards' messages. The protocol is the one the Kafka poll loop runs ({@link
 * dev.tandem.consumer.ownership.OwnerLiveness}); with {@code ShardOwnership.Builder.failbackAfter} a
 * shard goes back to its recovered home region. An owner
 * whose last renewal is older than the ownership's {@code revalidateAfter} (no timer ran on this
 * instance, or its broker was down) renews — re-reading the changelogs first — before it processes,
 * and answers {@link RetryLaterException} while it cannot.
 *
 * <p>Timer triggers run on every hosting plan, on one instance of the app at a time. A region's
 * shards are taken over by the other region about {@code L + margin + one timer period} after its last
 * heartbeat (plus the changelog catch-ups, reported in each {@code TakeoverReport}). <b>On a
 * consumption plan an app scaled to zero runs no timer at all</b>: its heartbeats stop while it is
 * idle (the peer then takes its shards over, which is safe but moves work), and the peer's own
 * takeovers wait until something wakes it. A strict takeover time therefore needs always-ready
 * instances: the Premium plan's always-ready/minimum instances, or the Flex Consumption plan's
 * always-ready instances, in both regions.
 */
public final class TandemFunctions {

  private static final Logger log = LoggerFactory.getLogger(TandemFunctions.class);
  private static volatile TandemFunctions installed;

  private final OnceProcessor processor;
  /** Null without {@link Builder#ownership}: then every shard is processed here at its given epoch. */
  private final ShardOwnership ownership;
  private final ShardHeartbeats heartbeats;
  /** Whether the heartbeat probes any trigger's broker (else a Service Bus message warns once). */
  private final boolean triggerProbed;
  private final java.util.concurrent.atomic.AtomicBoolean unprobedWarned =
      new java.util.concurrent.atomic.AtomicBoolean();
  /** The message through the processor under shard ownership (owner, follower, hold). */
  private final TriggerProcessing processing;
  /** Where a Service Bus copy that cannot settle now waits (recheck copies). */
  private final ServiceBusParking parking;
  /** What the start-up check of {@link Builder#kafkaFunctions} found (empty without it). */
  private final List<KafkaTriggerRetryCheck.Finding> startupFindings;
  /** The region this configuration was made from ({@link Builder#region}); null when built from parts. */
  private final TandemRegion region;

  private TandemFunctions(Builder b, OnceProcessor processor) {
    MeterRegistry registry = b.registry != null ? b.registry : new SimpleMeterRegistry();
    this.region = b.region;
    this.processor = processor;
    this.ownership = b.ownership;
    IntToLongFunction epochOfShard = b.ownership != null ? b.ownership::epoch : b.epochOfShard;
    List<BrokerProbe> probes = b.ownership == null ? List.of()
        : TriggerProbes.assemble(b.triggerProbes, b.recheckSender, b.ownership, b.region, b.clock);
    this.triggerProbed = !probes.isEmpty();
    this.heartbeats = b.ownership == null ? null
        : new ShardHeartbeats(b.ownership, b.replicationLog, b.shardCount, b.clock, b.probeTimeout,
            probes, b.heldExpiry, registry,
            // tandem evacuate/return act through the heartbeat tick (a region's configuration only)
            b.region != null ? b.region.ownershipRequests() : null);
    this.processing = new TriggerProcessing(processor, b.shardCount, epochOfShard, b.followerHold,
        b.ownership, heartbeats);
    this.parking = new ServiceBusParking(processor, b.recheckSender, b.recheckDelay,
        b.inProgressRecheckDelay, b.maxRechecks, registry);
    this.startupFindings = b.kafkaFunctionClasses.isEmpty() ? List.of()
        : KafkaTriggerRetryCheck.atStartup(b.kafkaFunctionClasses, b.kafkaTakeoverTime, registry,
            processor.owner().region().name(), b.kafkaCheckEnv);
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Builds and installs the configuration the middleware and {@link #installed()} use. */
  public static TandemFunctions install(Builder builder) {
    TandemFunctions t = builder.build();
    installed = t;
    return t;
  }

  /**
   * The installed configuration.
   *
   * @throws IllegalStateException when {@link #install} has not run
   */
  public static TandemFunctions installed() {
    TandemFunctions t = installed;
    if (t == null) {
      synchronized (TandemFunctions.class) {
        t = installed;
        if (t == null) {
          // The app's classes and this library share the app's class loader in the worker.
          for (TandemFunctionsProvider p : ServiceLoader.load(TandemFunctionsProvider.class,
              TandemFunctions.class.getClassLoader())) {
            Builder b = p.configure();
            if (b != null) {
              t = install(b);
              break;
            }
          }
        }
      }
    }
    if (t == null) {
      throw new IllegalStateException("Tandem is not installed in this function app: call "
          + "TandemFunctions.install(...) once at start, or register a TandemFunctionsProvider in "
          + "META-INF/services");
    }
    return t;
  }

  /** Removes the installed configuration (tests, shutdown). */
  public static void uninstall() {
    installed = null;
  }

  /**
   * Runs {@code handler} once for the message across regions, or throws {@link RetryLaterException}
   * (see the class doc).
   *
   * @param headers the trigger's headers, e.g. {@link TriggerHeaders#serviceBus}
   * @param payload the message body's bytes (checked against {@code tandem-digest})
   * @param deliveryCount the trigger's delivery count (1 when it has none)
   * @return the outcome (settled)
   */
  public Outcome once(Function<String, String> headers, byte[] payload, int deliveryCount,
      MessageHandler handler) {
    Objects.requireNonNull(headers, "headers");
    Objects.requireNonNull(handler, "handler");
    IncomingMessage message = IncomingMessage.of(headers, payload, shardOf(headers),
        Math.max(1, deliveryCount), null);
    Outcome outcome = run(message, handler);
    if (!outcome.settled()) {
      Outcome.RetryLater r = (Outcome.RetryLater) outcome;
      throw new RetryLaterException(r);
    }
    return outcome;
  }

  /**
   * Runs {@code handler} once for a Service Bus trigger's message across regions. As {@link
   * #once(Function, byte[], int, MessageHandler)}, except that a follower region which could not
   * settle the copy within {@code followerHold}, or a copy whose id another claim holds, schedules a
   * recheck copy (with a {@link Builder#recheckSender}) and returns normally, so that the trigger
   * completes the original (see the class doc).
   *
   * @return the outcome: settled ({@link Outcome.DeadLettered} with {@code RECHECK_LIMIT} for a
   *     copy past the recheck bound), or {@link Outcome.RetryLater} ({@code FENCED} or {@code
   *     IN_PROGRESS}) when a recheck copy was scheduled in place of this one
   * @throws IllegalArgumentException when the {@code ApplicationProperties} metadata is missing or
   *     unreadable (the function must declare it)
   * @throws RetryLaterException when the message must be retried and no recheck applies
   * @throws RuntimeException the recheck sender's failure: no copy is on the broker, so the
   *     trigger's retry keeps the original
   */
  public Outcome once(ServiceBusTriggerMessage message, MessageHandler handler) {
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(handler, "handler");
    if (ownership != null && !triggerProbed && unprobedWarned.compareAndSet(false, true)) {
      // a declared Service Bus trigger whose namespace the heartbeat does not probe (issue 15.8)
      log.warn("Tandem " + ownership.self() + ": a Service Bus trigger runs, but the"
          + " heartbeat does not probe its namespace: while the namespace is down this region"
          + " keeps its shards and their messages wait out the outage. Give"
          + " TandemFunctions.Builder.triggerProbe(ServiceBusNamespaceProbe.of(...)) or a"
          + " recheckSender");
    }
    Function<String, String> headers = TriggerHeaders.serviceBus(message.applicationProperties());
    IncomingMessage incoming = IncomingMessage.of(headers, message.body(), shardOf(headers),
        Math.max(1, message.deliveryCount()), message);
    Outcome outcome = run(incoming, handler);
    if (outcome.settled()) {
      return outcome;
    }
    return parking.park(message, headers, incoming, (Outcome.RetryLater) outcome);
  }

  /** {@link #once} for a text body. */
  public Outcome once(Function<String, String> headers, String body, int deliveryCount,
      MessageHandler handler) {
    return once(headers, body == null ? null : body.getBytes(StandardCharsets.UTF_8), deliveryCount,
        handler);
  }

  /**
   * One heartbeat tick, for a timer-triggered function (see the class doc): for every shard this
   * region owns, renews its lease — only after this region's own changelog broker and every {@link
   * Builder#triggerProbe(BrokerProbe) trigger probe} answered, and after re-reading the changelogs when
   * the last renewal is older than the ownership's {@code revalidateAfter}; for every shard it
   * follows, lets the ownership policy decide on a takeover, and reports each takeover with its
   * duplicate bound.
   *
   * @throws IllegalStateException when no {@link Builder#ownership} was configured
   */
  public HeartbeatReport heartbeat() {
    if (heartbeats == null) {
      throw new IllegalStateException("no shard ownership configured: TandemFunctions.Builder"
          + ".ownership(...) is needed for heartbeats");
    }
    return heartbeats.tick();
  }

  /**
   * What the start-up check of the {@link Builder#kafkaFunctions Kafka functions} found: each a
   * function whose copies held during a takeover the Kafka extension would commit past (also logged
   * as warnings, and counted by the gauge {@code tandem.functions.kafka.retry.findings}). Empty when
   * every one keeps its copies, or when no classes were given.
   */
  public List<KafkaTriggerRetryCheck.Finding> startupFindings() {
    return startupFindings;
  }

  /**
   * This region's health, for a function app's health endpoint: {@link TandemRegion#health()} of
   * the region this configuration was made from — the same snapshot and status rules as the Spring
   * Actuator indicator (store restored, own broker reachable, peer lag, held records, shards owned;
   * see {@link RegionHealth}). Serve it with {@link #httpStatus(RegionHealth)} and {@link
   * #json(RegionHealth)}. Cheap (no broker request); any thread.
   *
   * @throws IllegalStateException when this configuration was built from parts ({@link
   *     Builder#processor}, {@link Builder#ownership}) instead of {@link Builder#region}: the parts
   *     lack the store, the changelog publisher and the replication lag the rules read
   */
  public RegionHealth health() {
    if (region == null) {
      throw new IllegalStateException("health() needs TandemFunctions.Builder.region(...): a "
          + "configuration built from processor(...)/ownership(...) has no TandemRegion to ask");
    }
    return region.health();
  }

  /**
   * The HTTP status a health endpoint answers for {@code health}: 503 when it is {@link
   * RegionHealth.Status#DOWN DOWN} (the region cannot process: a load balancer or probe should stop
   * sending to it), else 200 — DEGRADED still processes (its reasons are in the body), as Spring
   * Boot's Actuator maps an unknown status to 200 and DOWN to 503.
   */
  public static int httpStatus(RegionHealth health) {
    return FunctionsHealth.httpStatus(health);
  }

  /** {@link RegionHealth#details()} as a JSON object (status, reasons, figures; stable order). */
  public static String json(RegionHealth health) {
    return FunctionsHealth.json(health);
  }

  /** The shard ownership, if configured. */
  public Optional<ShardOwnership> ownership() {
    return Optional.ofNullable(ownership);
  }

  /** {@link TriggerProcessing#run}: the outcome, settled or not (the caller maps it). */
  Outcome run(IncomingMessage message, MessageHandler handler) {
    return processing.run(message, handler);
  }

  /** Whether the message's id is already COMPLETED here (what the middleware may skip). */
  boolean isCompleted(IncomingMessage message) {
    return processing.isCompleted(message);
  }

  OnceProcessor processor() {
    return processor;
  }

  int shardOf(Function<String, String> headers) {
    return processing.shardOf(headers);
  }

  /** Thrown to make the trigger retry the message: nothing was decided (see the outcome). */
  public static final class RetryLaterException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient Outcome.RetryLater outcome;

    RetryLaterException(Outcome.RetryLater outcome) {
      super("retry later (" + outcome.reason() + ") message " + outcome.id()
          + (outcome.detail() == null ? "" : ": " + outcome.detail()));
      this.outcome = outcome;
    }

    /** The outcome that asks for the retry. */
    public Outcome.RetryLater outcome() {
      return outcome;
    }
  }

  /** Builds a {@link TandemFunctions}. */
  public static final class Builder {
    private OnceProcessor processor;
    private OnceProcessor.Builder processorBuilder;
    private int shardCount;
    private IntToLongFunction epochOfShard;
    private java.time.Duration followerHold = java.time.Duration.ofMillis(500);
    private ShardOwnership ownership;
    private ReplicationLog replicationLog;
    private Duration probeTimeout = Duration.ofSeconds(5);
    private final List<BrokerProbe> triggerProbes = new ArrayList<>();
    private Duration heldExpiry = Duration.ofMinutes(5);
    private ServiceBusSenderClient recheckSender;
    private Duration recheckDelay = Duration.ofSeconds(5);
    private Duration inProgressRecheckDelay;
    /** 0: derived from the STALE age and the shortest recheck delay. */
    private int maxRechecks;
    private TandemClock clock = TandemClock.system();
    private MeterRegistry registry;
    private List<Class<?>> kafkaFunctionClasses = List.of();
    private Duration kafkaTakeoverTime;
    private Map<String, String> kafkaCheckEnv = System.getenv();
    /** With {@link #region}: the processor, ownership, shard count and meters come from it. */
    private TandemRegion region;
    private DeadLetterSink regionDeadLetters;
    private boolean recheckDelayGiven;
    private boolean regionApplied;

    private Builder() {}

    /**
     * Everything this configuration needs from the region, from one {@link TandemRegion} (the same
     * object a Kafka consumer or a Service Bus processor of this process is made from, so a function
     * app has no wiring of its own): the once-processor ({@link TandemRegion#processorBuilder}:
     * claims in the replicated store, fenced by the ownership, each claim durable in the own
     * changelog before the handler runs, the configured claim lease and STALE margin), the shard
     * ownership with its replication log (for {@link TandemFunctions#heartbeat()}; none under {@code
     * tandem.guarantee=detect-only}), the shard count, the meter registry, and — unless {@link
     * #recheckDelay} is given — a recheck delay of one heartbeat timer period, {@code
     * tandem.heartbeat.interval.ms} (set that key to the {@code tandem-heartbeat} timer's period: the
     * region checks it against L). The processor is registered with the region, which closes it
     * before its store.
     *
     * <pre>{@code
     * TandemRegion region = TandemRegion.create(props); // tandem.* keys, see TandemRegionConfig
     * TandemFunctions.install(TandemFunctions.builder()
     *     .region(region, region.kafkaDeadLetters("orders.tandem-dlq"))
     *     .recheckSender(senderToTheOrdersQueue));
     * }</pre>
     *
     * <p>Not together with {@link #processor}, {@link #ownership}, {@link #shardCount}, {@link
     * #meterRegistry} or {@link #epochOfShard}: {@code build} refuses the pair, naming both.
     *
     * @param deadLetters where the processor's dead letters go: a Functions trigger cannot dead-letter
     *     a message into its entity, so they must be stored (e.g. {@link
     *     TandemRegion#kafkaDeadLetters(String)}); never {@code
     *     TandemServiceBusProcessor.settlementDeadLetterSink()}, which stores nothing
     */
    public Builder region(TandemRegion region, DeadLetterSink deadLetters) {
      this.region = Objects.requireNonNull(region, "region");
      this.regionDeadLetters = Objects.requireNonNull(deadLetters, "deadLetters");
      return this;
    }

    /** Applies {@link #region}: refuses a piece given beside it, then sets the pieces from it. */
    private void fromRegion() {
      List<String> given = new ArrayList<>();
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
      processorBuilder = region.processorBuilder(regionDeadLetters);
      if (region.ownership() != null) {
        ownership = region.ownership();
        replicationLog = region.replicationLog();
      }
      shardCount = region.shardCount();
      registry = region.meterRegistry();
      if (!recheckDelayGiven) {
        recheckDelay = region.heartbeatInterval(); // about one heartbeat timer period
      }
    }

    /**
     * The classes declaring this app's Kafka-triggered functions, checked when the configuration is
     * built ({@link KafkaTriggerRetryCheck}): a copy that Tandem asks to retry later (a follower's,
     * during a takeover) survives only if the function's retry policy, with the Kafka extension's
     * {@code commitOnFailure}/{@code maxRetries}, holds it for {@code takeoverTime} — else the
     * extension commits past it and it is lost. Findings are logged as warnings and returned by
     * {@link TandemFunctions#startupFindings()} and counted by the gauge {@code
     * tandem.functions.kafka.retry.findings{region}}; they do not stop the app. Optional: an app
     * without Kafka-triggered functions does not call it.
     *
     * @param takeoverTime how long a held copy must survive: about L + margin + one heartbeat timer
     *     period, plus the changelog catch-ups
     * @param functionClasses the classes declaring the Kafka-triggered functions ({@code
     *     @FunctionName} methods with a {@code @KafkaTrigger} parameter); at least one, none null; a
     *     class without such a method is itself a finding
     * @throws IllegalArgumentException if no class is given (the check would silently be off)
     * @throws NullPointerException naming the index of a null class
     */
    public Builder kafkaFunctions(Duration takeoverTime, Class<?>... functionClasses) {
      Objects.requireNonNull(takeoverTime, "takeoverTime");
      if (takeoverTime.isNegative() || takeoverTime.isZero()) {
        throw new IllegalArgumentException("takeoverTime must be > 0, got " + takeoverTime);
      }
      Objects.requireNonNull(functionClasses, "functionClasses");
      if (functionClasses.length == 0) {
        throw new IllegalArgumentException("kafkaFunctions needs at least one class declaring the "
            + "Kafka-triggered functions: with none, nothing would be checked");
      }
      for (int i = 0; i < functionClasses.length; i++) {
        Objects.requireNonNull(functionClasses[i], "functionClasses[" + i + "]");
      }
      this.kafkaTakeoverTime = takeoverTime;
      this.kafkaFunctionClasses = List.of(functionClasses);
      return this;
    }

    /**
     * The environment the Kafka check reads (app settings, host.json location); default this
     * process's. For tests, so that the machine's own environment does not decide the result.
     */
    Builder kafkaCheckEnvironment(Map<String, String> env) {
      this.kafkaCheckEnv = Map.copyOf(env);
      return this;
    }

    /**
     * The once-processor (store, dead-letter sink, shard fence), already built. With {@link
     * #ownership} it must have been built with {@code .fence(ownership.fence())}, or a takeover
     * during a claim is not noticed before the handler runs; prefer {@link
     * #processor(OnceProcessor.Builder)}, which sets the fence. This or that is required.
     */
    public Builder processor(OnceProcessor processor) {
      this.processor = Objects.requireNonNull(processor, "processor");
      return this;
    }

    /**
     * The once-processor's builder: built with the {@link #ownership} fence, when ownership is
     * configured. This or {@link #processor(OnceProcessor)} is required.
     */
    public Builder processor(OnceProcessor.Builder processor) {
      this.processorBuilder = Objects.requireNonNull(processor, "processor");
      return this;
    }

    /**
     * Shard ownership across regions (see the class doc): the processor's fence and each shard's
     * epoch come from it, and {@link TandemFunctions#heartbeat()} renews and takes over its leases.
     * {@code replicationLog} is the log of the store the ownership holds its leases in: the heartbeat
     * reads this region's changelog from it to check that the region's broker answers.
     */
    public Builder ownership(ShardOwnership ownership, ReplicationLog replicationLog) {
      this.ownership = Objects.requireNonNull(ownership, "ownership");
      this.replicationLog = Objects.requireNonNull(replicationLog, "replicationLog");
      return this;
    }

    /**
     * How long a heartbeat waits for this region's changelog to answer before it stays silent
     * (default 5 s; keep it below the ownership's L).
     */
    public Builder probeTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "probeTimeout");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("probeTimeout must be > 0, got " + timeout);
      }
      this.probeTimeout = timeout;
      return this;
    }

    /**
     * An extra check that this region's trigger broker answers (e.g. the Service Bus namespace,
     * when the changelog lives elsewhere), asked before every heartbeat; false or an exception
     * keeps the heartbeat silent so the other region takes over. Named {@code trigger}; a second
     * call replaces it. Prefer {@link #triggerProbe(BrokerProbe)}, one per trigger.
     */
    public Builder triggerProbe(BooleanSupplier probe) {
      Objects.requireNonNull(probe, "triggerProbe");
      triggerProbes.removeIf(p -> p.name().equals("trigger"));
      triggerProbes.add(BrokerProbe.selfBounded("trigger", probe));
      return this;
    }

    /**
     * The probe of one trigger's broker, asked (with {@link #probeTimeout}) before every heartbeat
     * together with this region's changelog: every one must answer for this region to renew its
     * shard leases, so a region whose trigger broker is down goes silent and the other region takes
     * its shards over. Give one per trigger the app has whose broker is not the changelog's: {@link
     * ServiceBusNamespaceProbe#of} for a Service Bus trigger, {@code KafkaClusterProbe.of} for a
     * Kafka trigger on another cluster. For a Service Bus trigger give {@code
     * ServiceBusNamespaceProbe.of(receiver)} with a {@code ServiceBusReceiverClient} of the
     * trigger's entity: its {@code peekMessage()} is a round trip on every heartbeat. A {@link
     * #recheckSender}'s namespace is probed too (unless a probe of that name is given), but a
     * sender answers from its open send link without a request, so alone it notices an outage only
     * once the SDK closes the link or connection (a WARNING at build); no probe at all: a WARNING
     * at build.
     *
     * @throws IllegalArgumentException when a probe of that name was given already
     */
    public Builder triggerProbe(BrokerProbe probe) {
      Objects.requireNonNull(probe, "triggerProbe");
      if (probe.name().equals(ShardHeartbeats.CHANGELOG_PROBE)
          || triggerProbes.stream().anyMatch(p -> p.name().equals(probe.name()))) {
        throw new IllegalArgumentException("a trigger probe named " + probe.name()
            + " is configured already");
      }
      triggerProbes.add(probe);
      return this;
    }

    /**
     * How long a follower keeps counting a held copy that is not redelivered (default 5 min): the
     * trigger may have given it up, and it must not make an idle owner look stuck forever.
     */
    public Builder heldExpiry(Duration expiry) {
      Objects.requireNonNull(expiry, "heldExpiry");
      if (expiry.isNegative() || expiry.isZero()) {
        throw new IllegalArgumentException("heldExpiry must be > 0, got " + expiry);
      }
      this.heldExpiry = expiry;
      return this;
    }

    /**
     * A sender for recheck copies, in this region's namespace: to the queue the function is triggered
     * by; for a topic subscription trigger, to a queue this subscription's app also has a trigger on
     * (calling the same {@code once}) — never to the topic, whose every subscription would get the
     * copy. A follower region's copy that the owner has not completed within {@code followerHold},
     * or a copy whose id another claim holds, is parked there as a recheck copy and the function
     * returns, instead of a trigger retry that counts toward {@code MaxDeliveryCount} (see the class
     * doc). Applies to {@link #once(ServiceBusTriggerMessage, MessageHandler)} only. Optional.
     */
    public Builder recheckSender(ServiceBusSenderClient sender) {
      this.recheckSender = Objects.requireNonNull(sender, "recheckSender");
      return this;
    }

    /**
     * When a recheck copy is enqueued, from now (default 5 s): about one heartbeat timer period, so
     * that a copy held during a takeover comes back a few times (each is cheap: one store read and
     * one scheduled send) and is processed soon after the takeover. Keep it well below {@link
     * #heldExpiry} and the idempotency records' TTL.
     */
    public Builder recheckDelay(Duration delay) {
      Objects.requireNonNull(delay, "recheckDelay");
      if (delay.isNegative() || delay.isZero()) {
        // zero: a copy comes straight back, a tight loop that spends the round bound in moments
        throw new IllegalArgumentException("recheckDelay must be > 0, got " + delay);
      }
      this.recheckDelay = delay;
      this.recheckDelayGiven = true;
      return this;
    }

    /**
     * When a Service Bus copy that found another claim of its id in progress is enqueued again, from
     * now; default the processor's claim lease plus a tenth (a claim nobody renews has expired by
     * then). Keep the claim lease short (about the entity's lock duration): a live handler's claim
     * is renewed every third of it, so a short lease only shortens the wait after a crash.
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
     * past it, or when a copy would come back older than the processor's STALE age, the message goes
     * to the processor's dead-letter sink with the reason {@code RECHECK_LIMIT}.
     */
    public Builder maxRechecks(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxRechecks must be >= 1, got " + max);
      }
      this.maxRechecks = max;
      return this;
    }

    /** The monotonic clock for renewals, holds and the tick age (default: the system's). */
    public Builder clock(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Where the heartbeat and recheck meters go (default: a new {@link SimpleMeterRegistry}). */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /** The publishers' shard count. Required. */
    public Builder shardCount(int shardCount) {
      if (shardCount <= 0) {
        throw new IllegalArgumentException("shardCount must be > 0, got " + shardCount);
      }
      this.shardCount = shardCount;
      return this;
    }

    /**
     * This region's lease epoch of a shard, for apps that run their own shard ownership; default 0.
     * Not with {@link #ownership}, which supplies the epochs.
     */
    public Builder epochOfShard(IntToLongFunction epochOfShard) {
      this.epochOfShard = Objects.requireNonNull(epochOfShard, "epochOfShard");
      return this;
    }

    /** How long a follower waits for the owner's COMPLETED; default 500 ms. */
    public Builder followerHold(java.time.Duration hold) {
      if (hold.isNegative()) {
        throw new IllegalArgumentException("followerHold must be >= 0, got " + hold);
      }
      this.followerHold = hold;
      return this;
    }

    TandemFunctions build() {
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
      if (recheckSender != null && recheckDelay.compareTo(heldExpiry) >= 0) {
        // a re-held copy must refresh its hold before it expires, or a stuck owner goes unnoticed
        throw new IllegalStateException("recheckDelay (" + recheckDelay + ") must be below "
            + "heldExpiry (" + heldExpiry + ")");
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
      if (p.deadLetterSink() == TandemServiceBusProcessor.settlementDeadLetterSink()) {
        // A function's trigger completes or retries; it never settles into the Service Bus
        // dead-letter queue: with that no-op sink every dead letter (RECHECK_LIMIT, STALE, a
        // handler past its attempts) would be dropped without a trace.
        if (processorBuilder != null) {
          p.close();
        }
        throw new IllegalStateException("the processor's dead-letter sink is "
            + "TandemServiceBusProcessor.settlementDeadLetterSink(), which stores nothing: a "
            + "function cannot dead-letter by settlement, so its dead letters would be lost; "
            + "configure a sink that stores them (e.g. KafkaDeadLetterSink)");
      }
      return new TandemFunctions(this, p);
    }
  }
}
