package dev.tandem.consumer;

/**
 * Every Micrometer meter name the consumer module registers, in one place, so dashboards, alert
 * rules and tests can refer to a constant instead of a string copied from the code. Each meter is
 * tagged {@code region}; further tags are named next to the constant.
 *
 * <p>Sections follow the concepts that register the meters. Code that registers a meter takes its
 * name from here; {@code ConsumerMeterNamesTest} checks that a running region registers no
 * {@code tandem.*} name of this module that is missing here.
 */
public final class ConsumerMeterNames {

  private ConsumerMeterNames() {}

  // ---- processing: OnceProcessor and its parts, ConsumerMetrics -------------------------------

  // ---- region: TandemRegion, RegionHealth -------------------------------------------------------

  // ---- Kafka consumer loop and interceptor (consumer.kafka) -------------------------------------

  /** Records a follower acknowledged because the owner completed them (counter). */
  public static final String FOLLOWER_ACKNOWLEDGED = "tandem.consumer.follower.acknowledged";
  /** Held copies re-sent to the owner region after maxHold (counter). */
  public static final String FOLLOWER_RESENT = "tandem.consumer.follower.resent";
  /** How long a follower held a record until its completion replicated (timer). */
  public static final String FOLLOWER_HOLD = "tandem.consumer.follower.hold";
  /**
   * Records the followers hold now (gauge, tags {@code region}, {@code topic}): the sum over the
   * running poll loops of the topic that share the registry.
   */
  public static final String FOLLOWER_HELD = "tandem.consumer.follower.held";
  /**
   * Rounds of the background lease renewer while the poll loop runs a batch (counter, tag {@code
   * outcome}: renewed, withheld_stuck, withheld_broker).
   */
  public static final String LEASE_RENEWER = "tandem.consumer.lease.renewer";
  /** Batches whose processing failed and were read again (counter, tag {@code reason}). */
  public static final String PROCESSING_FAILURES = "tandem.consumer.processing.failures";
  /** Hand-offs inside a region (counter, tag {@code side}: given, expired). */
  public static final String HANDOFFS = "tandem.consumer.handoffs";
  /** How long a received partition waited for its previous holder's marker (timer). */
  public static final String HANDOFF_WAIT = "tandem.consumer.handoff.wait";
  /** How long a rebalance's revoke callback took (timer). */
  public static final String REVOKE_DURATION = "tandem.consumer.revoke.duration";
  /** Interceptor: records dropped as completed in either region (counter). */
  public static final String INTERCEPTOR_DROPPED = "tandem.consumer.interceptor.dropped";
  /** Interceptor: records passed on (counter). */
  public static final String INTERCEPTOR_PASSED = "tandem.consumer.interceptor.passed";
  /** Interceptor: copies with another payload digest than the completed one (counter). */
  public static final String INTERCEPTOR_CONFLICTS = "tandem.consumer.interceptor.conflicts";
  /** Interceptor: records without a usable tandem-id (counter). */
  public static final String INTERCEPTOR_INVALID = "tandem.consumer.interceptor.invalid";
  /** Interceptor: completions recorded for committed records (counter). */
  public static final String INTERCEPTOR_COMPLETED = "tandem.consumer.interceptor.completed";
  /** Interceptor: passed records evicted from tracking before a commit (counter). */
  public static final String INTERCEPTOR_UNTRACKED = "tandem.consumer.interceptor.untracked";
  /** Interceptor: store failures (counter, tag {@code operation}: read, complete). */
  public static final String INTERCEPTOR_STORE_FAILURES = "tandem.consumer.interceptor.store.failures";
  /** Interceptor: records passed unchecked because their shard is still restoring (counter). */
  public static final String INTERCEPTOR_RESTORING = "tandem.consumer.interceptor.restoring";

  // ---- ownership: leases, takeover, handover, requests, liveness, witness -----------------------

  // ---- end of sections ----------------------------------------------------------------------------
}
