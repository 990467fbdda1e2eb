package dev.tandem.publisher;

import java.util.List;

/**
 * Every Micrometer meter name the publisher module registers, and its tag keys, in one place, so
 * dashboards, alert rules and tests can refer to a constant instead of a string copied from the code.
 * Every meter is tagged {@link #TAG_PUBLISHER} (the publisher's name, {@link DualPublisher.Builder#name},
 * {@code tandem.name} of {@link TandemProducerConfig}); per-region meters also {@link #TAG_REGION}.
 *
 * <p>Sections follow the concepts that register the meters. Code that registers a meter takes its
 * name from here; {@code PublisherMeterNamesTest} checks that a running publisher registers no
 * {@code tandem.*} name missing from {@link #ALL}, and none of {@link #ALL} goes unregistered.
 */
public final class PublisherMeterNames {

  private PublisherMeterNames() {}

  // ---- tags -------------------------------------------------------------------------------------

  /** The publisher's name (default {@code default}): publishers sharing a registry need their own. */
  public static final String TAG_PUBLISHER = "publisher";
  /** The region a per-region meter is about. */
  public static final String TAG_REGION = "region";
  /** {@link #PUBLISHED}: {@code ok} / {@code failed}; {@link #FAILED}: {@code timeout}, {@code error}, ... */
  public static final String TAG_OUTCOME = "outcome";

  // ---- publish: PublisherEngine (one per message) -----------------------------------------------

  /** Counter: publishes that met the ack policy ({@code outcome=ok}) or did not ({@code outcome=failed}). */
  public static final String PUBLISHED = "tandem.publisher.published";

  // ---- region lane: RegionLane (one per copy, tagged region) ------------------------------------

  /** Counter: copies handed to the region (directly or via the spool). */
  public static final String SENT = "tandem.publisher.sent";
  /** Counter: copies the region's broker acknowledged on first send. */
  public static final String ACKNOWLEDGED = "tandem.publisher.acknowledged";
  /** Counter: copies the region did not acknowledge, tagged {@link #TAG_OUTCOME}. */
  public static final String FAILED = "tandem.publisher.failed";
  /** Timer: time from send to broker acknowledgement. */
  public static final String LATENCY = "tandem.publisher.latency";
  /** Gauge: the region's circuit, 0 closed, 1 open, 2 half-open, 3 other. */
  public static final String CIRCUIT_STATE = "tandem.publisher.circuit.state";

  // ---- spool: DurableSpool and its replay (tagged region) ---------------------------------------

  /** Counter: copies fsynced into the spool for later replay. */
  public static final String SPOOLED = "tandem.publisher.spooled";
  /** Counter: spooled copies the region's broker acknowledged on replay. */
  public static final String REPLAYED = "tandem.publisher.replayed";
  /** Counter: spool records that could not be decoded (logged and removed). */
  public static final String SPOOL_CORRUPT = "tandem.publisher.spool.corrupt";
  /** Counter: spooled copies the region refused on replay for their content (removed). */
  public static final String SPOOL_REJECTED = "tandem.publisher.spool.rejected";
  /** Gauge: copies waiting in the spool for this region. */
  public static final String SPOOL_DEPTH = "tandem.publisher.spool.depth";
  /**
   * Counter: replay steps that threw (a sink's probe or send, the spool, the circuit), logged at ERROR;
   * the replayer counts it against the circuit where it held a permission, waits a little and goes on.
   */
  public static final String REPLAYER_ERRORS = "tandem.publisher.replayer.errors";

  // ---- caller's completion: Publication (one per publish whose completion threw) -------------------

  /**
   * Counter: a caller's completion (a {@code TandemKafkaProducer} record callback) threw — caught,
   * logged at ERROR with the message's tandem-id, and counted, so it never reaches a region producer's
   * I/O thread or the publisher's timer (an Error there would stop that thread).
   */
  public static final String CALLBACK_ERRORS = "tandem.publisher.callback.errors";

  // ---- end of sections --------------------------------------------------------------------------

  /** Every meter name above. */
  public static final List<String> ALL = List.of(PUBLISHED, SENT, ACKNOWLEDGED, FAILED, LATENCY,
      CIRCUIT_STATE, SPOOLED, REPLAYED, SPOOL_CORRUPT, SPOOL_REJECTED, SPOOL_DEPTH, REPLAYER_ERRORS,
      CALLBACK_ERRORS);
}
