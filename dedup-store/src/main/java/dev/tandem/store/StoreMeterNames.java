package dev.tandem.store;

/**
 * Every Micrometer meter name the dedup-store module registers (the store and its replication), in
 * one place, so dashboards, alert rules and tests can refer to a constant instead of a string copied
 * from the code. Each meter is tagged {@code region}; further tags are named next to the constant.
 *
 * <p>Sections follow the concepts that register the meters. Code that registers a meter takes its
 * name from here; {@code StoreMeterNamesTest} checks that a running store with replication registers
 * no {@code tandem.*} name that is missing here.
 */
public final class StoreMeterNames {

  private StoreMeterNames() {}

  // ---- store operations: claims and their outcomes (RocksStore) --------------------------------

  /**
   * Claims answered; tag {@code outcome}: acquired, already_completed, in_progress, conflict,
   * dead_lettered.
   */
  public static final String CLAIMS = "tandem.store.claims";
  /** Time to answer a claim (or a claimAll batch). */
  public static final String CLAIM_LATENCY = "tandem.store.claim.latency";
  /** Completions written by this store. */
  public static final String COMPLETES = "tandem.store.completes";
  /** Time to write a completion (or a completeAll batch). */
  public static final String COMPLETE_LATENCY = "tandem.store.complete.latency";
  /** Claims released by failed handlers. */
  public static final String RELEASES = "tandem.store.releases";
  /** Ids dead-lettered by this store (attempts ran out, or an explicit dead letter). */
  public static final String DEAD_LETTERS = "tandem.store.dead.letters";
  /** Dead letters re-driven into a new generation. */
  public static final String REDRIVES = "tandem.store.redrives";
  /** Claims refused because the id carried another payload digest. */
  public static final String CONFLICTS = "tandem.store.conflicts";
  /** Gauge: detected cross-region duplicates among the records held. */
  public static final String DETECTED_DUPLICATES = "tandem.store.detected.duplicates";
  /** Store listeners that threw (the write stands). */
  public static final String LISTENER_ERRORS = "tandem.store.listener.errors";

  // ---- remote apply (RemoteApply) ----------------------------------------------------------------

  /** Remote records merged; tag {@code outcome}: changed, unchanged, expired. */
  public static final String REMOTE_APPLIED = "tandem.store.remote.applied";

  // ---- TTL buckets and size (RocksStore, RocksEngine) --------------------------------------------

  /** TTL buckets dropped whole. */
  public static final String TTL_BUCKETS_DROPPED = "tandem.store.ttl.buckets.dropped";
  /** Gauge: live TTL buckets. */
  public static final String TTL_BUCKETS = "tandem.store.ttl.buckets";
  /** Gauge: estimated number of records (RocksDB estimate-num-keys). */
  public static final String SIZE = "tandem.store.size";

  // ---- record caches (RecordCaches) --------------------------------------------------------------

  /**
   * Name of the terminal-record cache: Micrometer's cache binder registers {@code cache.gets} (tag
   * {@code result} hit/miss), {@code cache.puts}, {@code cache.evictions} and {@code cache.size}, tagged
   * {@code cache=tandem.store.cache}.
   */
  public static final String CACHE = "tandem.store.cache";
  /** Gauge: terminal-record cache hit ratio. */
  public static final String CACHE_HIT_RATIO = "tandem.store.cache.hit.ratio";

  // ---- replication: changelog writer (ChangelogWriter, ShardBarriers, ChangelogSink) -------------

  /** Changes sent to the changelogs; tag {@code type}: record, lease, heartbeat. */
  public static final String REPLICATION_SENT = "tandem.replication.sent";
  /** Publish retries of the changelog writer. */
  public static final String REPLICATION_PUBLISH_RETRIES = "tandem.replication.publish.retries";
  /**
   * Publish failures; tag {@code reason}: rejected, heartbeat, closing, replay_failed (a spooled
   * changelog copy not replayed for another reason than a refusal, e.g. a corrupt spool record).
   */
  public static final String REPLICATION_PUBLISH_FAILURES = "tandem.replication.publish.failures";
  /** Changes published again (after a producer reset or a failure). */
  public static final String REPLICATION_REPUBLISHED = "tandem.replication.republished";
  /** Gauge: local changes not yet shipped to every changelog. */
  public static final String REPLICATION_UNSHIPPED = "tandem.replication.unshipped";
  /** Changelog producers reset (fenced or failed) and created again. */
  public static final String REPLICATION_PRODUCER_RESET = "tandem.replication.producer.reset";

  // ---- replication: changelog reader, apply and restore (ChangelogReader, BatchApplier) ----------

  /** Changes applied from other regions' changelogs; tag {@code type}: record, lease, heartbeat. */
  public static final String REPLICATION_APPLIED = "tandem.replication.applied";
  /** Changelog records refused; tag {@code reason}: corrupt, wrong-partition, unauthenticated. */
  public static final String REPLICATION_BAD_RECORDS = "tandem.replication.bad.records";
  /**
   * Changelog records skipped undecoded: tag {@code reason} {@code own-writer} = this writer's own
   * record changes read back from the own region's changelog, already in the store (issue 20).
   */
  public static final String REPLICATION_SKIPPED = "tandem.replication.skipped";
  /** Records applied while restoring a shard. */
  public static final String REPLICATION_RESTORE_RECORDS = "tandem.replication.restore.records";
  /** Time to restore a shard. */
  public static final String REPLICATION_RESTORE = "tandem.replication.restore";
  /** Batches the reader failed to apply. */
  public static final String REPLICATION_APPLY_ERRORS = "tandem.replication.apply.errors";
  /** Errors of the reader loop. */
  public static final String REPLICATION_READER_ERRORS = "tandem.replication.reader.errors";

  // ---- replication: lag (LagTracker) -------------------------------------------------------------

  /** Gauge: changelog records not yet read from a remote region. */
  public static final String REPLICATION_RECORDS_BEHIND = "tandem.replication.records.behind";
  /** Timer: age of a remote change when applied here. */
  public static final String REPLICATION_LAG = "tandem.replication.lag";
  /**
   * The percentiles (0.5, 0.99; tag {@code phi}) of {@link #REPLICATION_LAG}, which Micrometer
   * registers under this name as gauges (what a dashboard reads for p99 lag).
   */
  public static final String REPLICATION_LAG_PERCENTILE = REPLICATION_LAG + ".percentile";
  /** Gauge: age of the newest heartbeat seen from a remote region, seconds. */
  public static final String REPLICATION_HEARTBEAT_AGE = "tandem.replication.heartbeat.age";

  // ---- replication: log, window, handoff, catch-up (KafkaReplicationLog) -------------------------

  /** Gauge: local changes not yet acknowledged by every region (the replication window W). */
  public static final String REPLICATION_UNACKED = "tandem.replication.unacked";
  /** Shard handoffs; tags name the outcome. */
  public static final String REPLICATION_HANDOFFS = "tandem.replication.handoffs";
  /** Catch-ups of a region's changelog before a takeover; tags name the outcome. */
  public static final String REPLICATION_CATCHUP = "tandem.replication.catchup";
  /** Changelog records whose region authentication failed. */
  public static final String REGION_AUTHENTICATION_FAILURES =
      "tandem.region.authentication.failures";

  // ---- end of sections ---------------------------------------------------------------------------
}
