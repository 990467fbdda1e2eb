package dev.tandem.azure;

import java.util.List;

/**
 * Every Micrometer meter name the azure module registers, in one place, so dashboards, alert rules
 * and tests can refer to a constant instead of a string copied from the code. Tags are named next to
 * each constant.
 *
 * <p>Sections follow the concepts that register the meters. Code that registers a meter takes its
 * name from here; {@code AzureMeterNamesTest} drives the module's classes and checks that every
 * {@code tandem.*} name they register under the module's prefixes ({@link #PREFIXES}) is listed in
 * {@link #ALL}. Meters registered by consumer-module classes the azure classes use ({@code
 * OwnerLiveness}, {@code OnceProcessor}, {@code TandemRegion}) are that module's: see {@code
 * dev.tandem.consumer.ConsumerMeterNames}.
 */
public final class AzureMeterNames {

  private AzureMeterNames() {}

  // ---- Functions heartbeat: ShardHeartbeats (tag region) ------------------------------------------
  // ShardHeartbeats still writes these as literals (it is being replaced by the consumer module's
  // shared ownership ticker); listed here so that the names stay in one place.

  /** Counter: owned shards renewed or left silent by a heartbeat tick; tag {@code outcome}. */
  public static final String FUNCTIONS_HEARTBEATS = "tandem.functions.heartbeats";
  /** Counter: shards this region's heartbeat function took over. */
  public static final String FUNCTIONS_TAKEOVERS = "tandem.functions.takeovers";
  /** Gauge (seconds): time since the heartbeat function last ran. */
  public static final String FUNCTIONS_HEARTBEAT_TICK_AGE = "tandem.functions.heartbeat.tick.age";
  /** Gauge: copies of other regions' shards this follower could not settle yet. */
  public static final String FUNCTIONS_HELD = "tandem.functions.held";

  // ---- Functions Service Bus trigger: ServiceBusParking (TandemFunctions) -------------------------

  /** Counter: copies parked as recheck copies; tag {@code reason} = follower | in-progress. */
  public static final String FUNCTIONS_SERVICEBUS_PARKED = "tandem.functions.servicebus.parked";

  // ---- Functions Kafka trigger: KafkaTriggerRetryCheck (tag region) -------------------------------

  /** Gauge: Kafka-triggered functions whose held copies the extension would commit past. */
  public static final String FUNCTIONS_KAFKA_RETRY_FINDINGS = "tandem.functions.kafka.retry.findings";

  // ---- idempotent HTTP: IdempotentHttp (tags region, outcome) -------------------------------------

  /** Counter: HTTP requests by outcome (processed, replayed, in-progress, conflict, ...). */
  public static final String HTTP_REQUESTS = "tandem.http.requests";

  // ---- Service Bus publishing: ServiceBusRegionalSink (tags region, outcome) ----------------------

  /**
   * Counter: batches sent; {@code outcome} = sent | refused | single | error (an operation whose SDK
   * call threw an Error; its copies failed as the region's).
   */
  public static final String SERVICEBUS_BATCHES = "tandem.servicebus.batches";
  /** Counter: copies scheduled. */
  public static final String SERVICEBUS_SCHEDULED = "tandem.servicebus.scheduled";
  /** Counter: cancellations of scheduled copies; {@code outcome} = cancelled | failed | unknown-copy. */
  public static final String SERVICEBUS_CANCELLED = "tandem.servicebus.cancelled";
  /** Counter: copies rejected for their content ({@code outcome=content}). */
  public static final String SERVICEBUS_REJECTED = "tandem.servicebus.rejected";

  // ---- Service Bus processing: TandemServiceBusProcessor (tag outcome) ----------------------------

  /** Counter: received messages settled, by settlement. */
  public static final String SERVICEBUS_SETTLED = "tandem.servicebus.settled";

  // ---- Service Bus recheck copies: RecheckScheduler (tags source, outcome) ------------------------

  /** Counter: recheck copies; {@code outcome} = scheduled | failed | limit | misrouted. */
  public static final String SERVICEBUS_RECHECKS = "tandem.servicebus.rechecks";
  /** Distribution summary: the round of each scheduled recheck copy. */
  public static final String SERVICEBUS_RECHECK_ROUND = "tandem.servicebus.recheck.round";

  // ---- witness: BlobLeaseWitness (tags witness, region, outcome) ----------------------------------

  /** Counter: lease acquisitions. */
  public static final String WITNESS_ACQUIRE = "tandem.witness.acquire";
  /** Counter: lease releases. */
  public static final String WITNESS_RELEASE = "tandem.witness.release";
  /** Timer: blob lease requests. */
  public static final String WITNESS_REQUEST = "tandem.witness.request";

  // ---- app settings: TandemAppSettings registers no meter (its region's are the consumer's) -------

  // ---- end of sections ----------------------------------------------------------------------------

  /** The name prefixes of this module's meters (a name under one of them must be listed in ALL). */
  public static final List<String> PREFIXES = List.of("tandem.functions.", "tandem.http.",
      "tandem.servicebus.", "tandem.witness.");

  /** Every name above. */
  public static final List<String> ALL = List.of(FUNCTIONS_HEARTBEATS, FUNCTIONS_TAKEOVERS,
      FUNCTIONS_HEARTBEAT_TICK_AGE, FUNCTIONS_HELD, FUNCTIONS_SERVICEBUS_PARKED,
      FUNCTIONS_KAFKA_RETRY_FINDINGS, HTTP_REQUESTS, SERVICEBUS_BATCHES, SERVICEBUS_SCHEDULED,
      SERVICEBUS_CANCELLED, SERVICEBUS_REJECTED, SERVICEBUS_SETTLED, SERVICEBUS_RECHECKS,
      SERVICEBUS_RECHECK_ROUND, WITNESS_ACQUIRE, WITNESS_RELEASE, WITNESS_REQUEST);
}
