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

  /**
   * Counter: copies by outcome (tag {@code outcome}: processed, duplicate, retry, dead_lettered,
   * passed_through).
   */
  public static final String MESSAGES = "tandem.consumer.messages";
  /** Counter: copies skipped because their id was already terminal. */
  public static final String DUPLICATES_SUPPRESSED = "tandem.consumer.duplicates.suppressed";
  /** Counter: ids seen with two different payloads. */
  public static final String CONFLICTS = "tandem.consumer.conflicts";
  /** Counter: claims superseded (lease expired or takeover) while their handler ran. */
  public static final String CLAIMS_LOST = "tandem.consumer.claims.lost";
  /** Counter: handlers run again after an earlier claim of the id expired without completion. */
  public static final String RECLAIMED_EXPIRED = "tandem.consumer.reclaimed.expired";
  /** Counter: handler exceptions. */
  public static final String HANDLER_FAILURES = "tandem.consumer.handler.failures";
  /** Counter: copies that met another owner's live claim (try later, not a duplicate). */
  public static final String IN_PROGRESS = "tandem.consumer.in.progress";
  /** Timer: handler run time. */
  public static final String HANDLER = "tandem.consumer.handler";
  /** Counter: messages sent to the dead-letter path (tag {@code reason}). */
  public static final String DEAD_LETTERS = "tandem.consumer.dead.letters";
  /** Counter: batches whose handlers were held back because their claims were not durable in time. */
  public static final String CLAIMS_NOT_DURABLE = "tandem.consumer.claims.not.durable";
  /** Counter: unstarted claims released (tag {@code cause}: forgotten, closed, aged, evicted). */
  public static final String PARKED_RELEASED = "tandem.consumer.parked.released";

  // ---- region: TandemRegion, RegionHealth -------------------------------------------------------

  /**
   * Gauge: 1 while a region object is open, 0 after close (then removed); tags {@code instance},
   * {@code guarantee} (full, detect-only), {@code policy}.
   */
  public static final String REGION_OPEN = "tandem.region.open";
  /** Gauge: the replication window W (changes per shard), for the lag alert's W's time. */
  public static final String REGION_REPLICATION_WINDOW = "tandem.region.replication.window";
  /** Gauge: the number of shards ({@code tandem.shards}). */
  public static final String REGION_SHARDS = "tandem.region.shards";

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
   * Polls a follower ended early because the completion of a copy it holds was applied in its store
   * (counter): the held copy is acknowledged then, not when the poll timeout runs out.
   */
  public static final String FOLLOWER_EARLY_RELEASES = "tandem.consumer.follower.early.releases";
  /**
   * Slices of a poll that ended without records while a follower waited for a held copy's
   * completion (counter): the polls the early release costs beyond one per loop turn.
   */
  public static final String FOLLOWER_HOLD_RECHECKS = "tandem.consumer.follower.hold.rechecks";
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
  /**
   * Offset commits of the loop's turns (sent without waiting, {@code commitAsync}) that failed
   * (counter, tag {@code retried}: true when the offset is sent again at the next turn, false when a
   * newer commit of the partition supersedes it or the error is not retriable). Nothing is lost:
   * records past the group's committed offset are read again and skipped as completed.
   */
  public static final String OFFSET_COMMIT_FAILURES = "tandem.consumer.offset.commit.failures";
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

  // remote ownership requests, the owning side (OwnershipRequests)

  /** Counter, tag {@code outcome}: received, acted, expired, ignored. */
  public static final String OWNERSHIP_REQUESTS = "tandem.ownership.requests";
  /** Timer of the planned handovers done on request, tag {@code outcome}: moved, failed. */
  public static final String OWNERSHIP_REQUEST_HANDOVER = "tandem.ownership.request.handover";
  /**
   * Gauge: 1 while this region object's reader of its ownership request topic has stopped for good
   * (not authorized, a bad configuration): remote requests are not acted on; 0 while it reads.
   */
  public static final String OWNERSHIP_REQUESTS_READER_FAILED =
      "tandem.ownership.requests.reader.failed";

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
