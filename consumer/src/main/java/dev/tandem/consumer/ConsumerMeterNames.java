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

  // ---- ownership: leases, takeover, handover, requests, liveness, witness -----------------------

  /** Counter, tags {@code policy}: shards taken over by this region (policy, witness, operator). */
  public static final String TAKEOVERS = "tandem.consumer.takeovers";

  /** Distribution summary: the duplicate bound reported at each takeover where it holds. */
  public static final String DUPLICATE_BOUND = "tandem.consumer.duplicate.bound";

  /** Distribution summary: bounds that hold only if the unreadable old owner stopped. */
  public static final String DUPLICATE_BOUND_CONDITIONAL = "tandem.consumer.duplicate.bound.conditional";

  /** Counter: takeovers whose duplicate bound is unknown (the old owner's window was lifted). */
  public static final String DUPLICATE_BOUND_UNKNOWN = "tandem.consumer.duplicate.bound.unknown";

  /** Gauge: cross-region duplicates the store detected. */
  public static final String DETECTED_DUPLICATES = "tandem.consumer.detected.duplicates";

  /** Gauge, tag {@code origin}, seconds: replication lag from a peer as this consumer sees it. */
  public static final String REPLICATION_LAG_SEEN = "tandem.consumer.replication.lag.seen";

  /** Counter, tag {@code outcome} (moved, aborted): planned handovers started by this region. */
  public static final String HANDOVERS = "tandem.consumer.handovers";

  /** Counter, tag {@code outcome} (acknowledged, unacknowledged): operator moves to this region. */
  public static final String MANUAL_MOVES = "tandem.consumer.manual.moves";

  /** Counter, tag {@code outcome} (moved, aborted, held): automatic failbacks to a home region. */
  public static final String FAILBACKS = "tandem.consumer.failbacks";

  /** Gauge, tag {@code shard}: 1 while the shard's lease names this region, as seen here. */
  public static final String SHARD_OWNED = "tandem.consumer.shard.owned";

  /** Gauge, tags {@code shard}, {@code policy}: the shard's lease epoch as seen here. */
  public static final String LEASE_EPOCH = "tandem.consumer.lease.epoch";

  /** Counter, tags {@code probe}, {@code outcome} (answered, silent): an owner's broker probes. */
  public static final String OWNERSHIP_PROBE = "tandem.ownership.probe";

  /** Counter, tags {@code kind} (claim, renew), {@code outcome}: requests to the takeover witness. */
  public static final String WITNESS_REQUESTS = "tandem.consumer.witness.requests";

  /** Counter: witness leases given up by a planned handover. */
  public static final String WITNESS_RELEASES = "tandem.consumer.witness.releases";

  /** Gauge: shards whose witness lease this region holds now. */
  public static final String WITNESS_HELD = "tandem.consumer.witness.held";

  // ---- end of sections ----------------------------------------------------------------------------
}
