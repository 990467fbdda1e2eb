package dev.tandem.consumer.ownership;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.KafkaReplicationLog;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's remote control of shard ownership: evacuate a region before maintenance and give
 * its shards back after, from any machine that reaches both regions' clusters, with zero duplicates
 * ({@code docs/design.md#remote-ownership-requests}).
 *
 * <p>A request travels as a record on the owning region's ownership request topic ({@code
 * <tandem.changelog.topic.prefix>.ownership}); the process that currently runs the shard's work
 * (the Kafka poll loop of the instance assigned the partition, or a Functions / Service Bus /
 * Spring heartbeat tick through {@code OwnershipRequests}) performs the planned handover ({@link
 * ShardOwnership#handOver}: drain, the destination acknowledges every change, epoch + 1) and writes
 * a result record; this client waits for each shard's result. A shard whose owner does not answer
 * before the deadline is reported {@link ShardMoveResult.Outcome#NOT_ANSWERED} and never moved,
 * unless {@code force} is given: then it is moved by a fenced move ({@link ShardOwnership#move}),
 * reported {@link ShardMoveResult.Outcome#FORCED} with its duplicate bound.
 *
 * <p>Made from the same configuration as the region's consumers ({@link
 * dev.tandem.consumer.TandemRegionConfig}); it opens its own replica in its own working directory
 * (never the region's {@code tandem.state.dir}, whose lock a running instance holds), as a MANUAL
 * member of the destination region: it takes no ownership and acts on no request by itself.
 *
 * <pre>{@code
 * try (OwnershipAdmin admin = OwnershipAdmin.create(TandemRegion.load(Path.of("tandem.properties")),
 *     Path.of("/var/lib/tandem-admin"))) {
 *   List<ShardMoveResult> out = admin.evacuate(RegionId.of("westeurope"), Duration.ofSeconds(30), false);
 *   // ... maintenance ...
 *   admin.returnTo(RegionId.of("westeurope"), Duration.ofSeconds(30));
 * }
 * }</pre>
 *
 * <p>Thread-safe (calls are serialised).
 */
public final class OwnershipAdmin implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(OwnershipAdmin.class);
  /** The instance name of the admin's replicas (never a consumer instance's). */
  static final String INSTANCE = "ownership-admin";
  private static final Duration CATCH_UP = Duration.ofSeconds(5);
  private static final Duration RESTORE = Duration.ofSeconds(60);
  /** The most a request's owner window is shorter than the client's wait ({@link #ownerWindow}). */
  private static final Duration READ_LAG_ALLOWANCE = Duration.ofSeconds(1);

  private final Map<String, Object> keys;
  private final List<RegionId> regions;
  private final int shards;
  private final String prefix;
  private final TandemRegionConfig config;
  private final Path workDir;
  private final boolean deleteWorkDir;
  private final String issuedBy;
  private final BiFunction<RegionId, Properties, OwnershipRequestChannel> channels;
  /**
   * The wall clock stamps a request's deadline for owners of an older version (and for a request
   * an owner reads from its backlog); an owner of this version measures the request's time-out on
   * its own monotonic clock from reading it, so this machine's wall clock being off neither
   * shortens nor lengthens its window. How long this client waits is measured on the monotonic
   * clock only, so a step of this machine's wall clock neither hangs nor cuts it.
   */
  private final TandemClock clock;
  /** One replica per region this admin acts as (the destination of a move), opened on first use. */
  private final Map<RegionId, TandemRegion> replicas = new LinkedHashMap<>();
  private final Map<RegionId, OwnershipRequestChannel> open = new HashMap<>();
  private boolean closed;

  private OwnershipAdmin(Map<?, ?> regionConfig, Path workDir, boolean deleteWorkDir,
      TandemClock clock) {
    this.clock = Objects.requireNonNull(clock, "clock");
    Map<String, Object> k = new LinkedHashMap<>();
    regionConfig.forEach((key, v) -> k.put(String.valueOf(key), v));
    this.config = new TandemRegionConfig(withAdminKeys(k, null, workDir));
    this.keys = k;
    this.regions = config.regions().stream().sorted().toList();
    this.shards = config.getInt(TandemRegionConfig.SHARDS_CONFIG);
    this.prefix = config.getString(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG);
    this.workDir = workDir;
    this.deleteWorkDir = deleteWorkDir;
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      host = "unknown-host";
    }
    this.issuedBy = INSTANCE + "@" + host;
    this.channels = (region, props) -> new KafkaOwnershipChannel(props,
        KafkaOwnershipChannel.topicFor(prefix), "tandem-admin-" + region);
  }

  /** The region keys with this admin's own replica settings for acting as {@code as}. */
  private Map<String, Object> withAdminKeys(Map<String, Object> base, RegionId as, Path dir) {
    Map<String, Object> k = new LinkedHashMap<>(base);
    if (as != null) {
      k.put(TandemRegionConfig.REGION_CONFIG, as.name());
      k.put(TandemRegionConfig.STATE_DIR_CONFIG, dir.resolve(as.name()).toString());
    } else {
      // validation only: any region of the list
      Object list = base.get(TandemRegionConfig.REGIONS_CONFIG);
      if (list != null && !base.containsKey(TandemRegionConfig.REGION_CONFIG)) {
        k.put(TandemRegionConfig.REGION_CONFIG, list.toString().split(",")[0].trim());
      }
      k.put(TandemRegionConfig.STATE_DIR_CONFIG, dir.resolve("validate").toString());
    }
    // its own replica (RocksDB opens a directory once), a MANUAL member: it never takes a shard by
    // itself and runs no consumer, so it acts on no request either
    k.put(TandemRegionConfig.INSTANCE_CONFIG, INSTANCE);
    k.put(TandemRegionConfig.OWNERSHIP_POLICY_CONFIG, "manual");
    k.put(TandemRegionConfig.GUARANTEE_CONFIG, TandemRegionConfig.GUARANTEE_FULL);
    k.put(TandemRegionConfig.STORE_SHARDS_CONFIG, "all");
    return k;
  }

  /**
   * An admin client for the regions of {@code regionConfig} (the key table of {@link
   * dev.tandem.consumer.TandemRegionConfig}; {@code tandem.region}, {@code tandem.state.dir} and
   * {@code tandem.instance} are ignored).
   *
   * @param workDir this client's own directory for its replicas (one sub-directory per region it
   *     acts as); must not be a running instance's state directory
   * @throws org.apache.kafka.common.config.ConfigException on a bad key, naming it
   */
  public static OwnershipAdmin create(Map<?, ?> regionConfig, Path workDir) {
    Objects.requireNonNull(regionConfig, "regionConfig");
    Objects.requireNonNull(workDir, "workDir");
    return new OwnershipAdmin(regionConfig, workDir, false, TandemClock.system());
  }

  /** As {@link #create(Map, Path)} with a temporary working directory deleted on {@link #close()}. */
  public static OwnershipAdmin create(Map<?, ?> regionConfig) {
    Objects.requireNonNull(regionConfig, "regionConfig");
    Path dir;
    try {
      dir = Files.createTempDirectory("tandem-admin");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a working directory for the admin", e);
    }
    try {
      return new OwnershipAdmin(regionConfig, dir, true, TandemClock.system());
    } catch (RuntimeException e) {
      dir.toFile().delete(); // a bad configuration must not leave a directory per attempt behind
      throw e;
    }
  }

  /** Every region of the configuration, sorted. */
  public List<RegionId> regions() {
    return regions;
  }

  /** The number of shards ({@code tandem.shards}). */
  public int shardCount() {
    return shards;
  }

  /** Every shard's lease as this client's replica holds it (restored from the changelogs). */
  public synchronized List<ShardLease> leases() {
    TandemRegion r = anyReplica();
    refresh(r, allShards());
    List<ShardLease> out = new ArrayList<>();
    for (int s = 0; s < shards; s++) {
      out.add(r.ownership().lease(s));
    }
    return out;
  }

  /**
   * Moves every shard {@code region} owns to the other region by planned handover and waits for
   * each shard's result, at most {@code timeout} (then the request expires: an owner that reads it
   * later ignores it). Each moved shard's lease is marked evacuated ({@link
   * ShardOwnership#evacuatedFrom}): automatic failback ({@code tandem.failback.after.ms}) leaves
   * it away until {@link #returnTo} hands it back.
   *
   * @param force move the shards whose owner did not answer (or failed) by a fenced move, reported
   *     {@link ShardMoveResult.Outcome#FORCED} with its bound; without it they are reported and stay
   * @return one result per shard {@code region} owned, by shard; empty when it owns none
   * @throws IllegalArgumentException for an unknown region, or a deployment of other than two regions
   */
  public synchronized List<ShardMoveResult> evacuate(RegionId region, Duration timeout,
      boolean force) {
    RegionId to = other(region);
    positive(timeout);
    TandemRegion replica = force ? replica(to) : anyReplica();
    refresh(replica, allShards());
    Set<Integer> owned = new TreeSet<>();
    for (int s = 0; s < shards; s++) {
      if (replica.ownership().lease(s).owner().equals(region)) {
        owned.add(s);
      }
    }
    log.info("Tandem evacuate {}: shards {} to {} (timeout {}, force {})", region, owned, to,
        timeout, force);
    return owned.isEmpty() ? List.of()
        : requestAndWait(region, to, owned, timeout, force, replica, true);
  }

  /**
   * Hands back to {@code region} every shard whose initial owner it is ({@link
   * ShardOwnership#initialOwner}) and that another region owns now, by planned handover; shards
   * whose owner does not answer are reported, never forced.
   *
   * @return one result per shard to return, by shard; empty when there is none
   */
  public List<ShardMoveResult> returnTo(RegionId region, Duration timeout) {
    return returnTo(region, timeout, false);
  }

  /** As {@link #returnTo(RegionId, Duration)}; with {@code force}, unanswered shards are fenced. */
  public synchronized List<ShardMoveResult> returnTo(RegionId region, Duration timeout,
      boolean force) {
    RegionId from = other(region);
    positive(timeout);
    TandemRegion replica = force ? replica(region) : anyReplica();
    refresh(replica, allShards());
    Set<Integer> away = new TreeSet<>();
    for (int s = 0; s < shards; s++) {
      if (replica.ownership().initialOwner(s).equals(region)
          && replica.ownership().lease(s).owner().equals(from)) {
        away.add(s);
      }
    }
    log.info("Tandem return to {}: shards {} from {} (timeout {}, force {})", region, away, from,
        timeout, force);
    return away.isEmpty() ? List.of()
        : requestAndWait(from, region, away, timeout, force, replica, false);
  }

  /**
   * Moves one shard to {@code to} by planned handover, through its owner as {@link #evacuate} does.
   *
   * @throws IllegalArgumentException when {@code to} already owns {@code shard} or is unknown
   */
  public synchronized ShardMoveResult move(int shard, RegionId to, Duration timeout,
      boolean force) {
    RegionId from = other(to);
    checkShard(shard);
    positive(timeout);
    TandemRegion replica = force ? replica(to) : anyReplica();
    refresh(replica, Set.of(shard));
    ShardLease l = replica.ownership().lease(shard);
    if (l.owner().equals(to)) {
      throw new IllegalArgumentException("shard " + shard + " is already owned by " + to
          + " (epoch " + l.epoch() + ")");
    }
    return requestAndWait(from, to, new TreeSet<>(Set.of(shard)), timeout, force, replica, false)
        .get(0);
  }

  /**
   * A fenced move of {@code shard} to {@code to} without asking its owner ({@link
   * ShardOwnership#move}): the new epoch is written first, then the old owner's acknowledgement is
   * waited for up to {@code ackWait} (zero: not at all, for an owner known to be down). Reported
   * {@link ShardMoveResult.Outcome#FORCED} with the bound (empty: detected, not bounded).
   *
   * @throws IllegalArgumentException when {@code to} already owns {@code shard} or is unknown
   */
  public synchronized ShardMoveResult fence(int shard, RegionId to, Duration ackWait) {
    RegionId from = other(to);
    checkShard(shard);
    Objects.requireNonNull(ackWait, "ackWait");
    TandemRegion replica = replica(to);
    refresh(replica, Set.of(shard));
    ShardLease l = replica.ownership().lease(shard);
    if (l.owner().equals(to)) {
      throw new IllegalArgumentException("shard " + shard + " is already owned by " + to
          + " (epoch " + l.epoch() + ")");
    }
    return forced(replica, shard, from, to, ackWait, "", clock.nanoTime(), "fenced by command",
        false);
  }

  /**
   * Writes one request for {@code shards}, waits for the results, forces the rest if asked. {@code
   * replica} reads the leases; with {@code force} it must act as {@code to} (a fenced move moves a
   * shard to the replica's own region).
   */
  private List<ShardMoveResult> requestAndWait(RegionId from, RegionId to, Set<Integer> shardSet,
      Duration timeout, boolean force, TandemRegion replica, boolean evacuation) {
    Map<Integer, Long> epochBefore = new HashMap<>();
    for (int s : shardSet) {
      epochBefore.put(s, replica.ownership().lease(s).epoch());
    }
    OwnershipRequestChannel channel = channel(from);
    long t0 = clock.nanoTime();
    OwnershipRequest q = new OwnershipRequest(UUID.randomUUID().toString(), from, to,
        new TreeSet<>(shardSet), clock.wallMillis() + timeout.toMillis(), issuedBy, evacuation,
        ownerWindow(timeout).toMillis());
    channel.request(q);
    log.info("Tandem ownership request {} written: {} hands shards {} over to {} within {} ms of "
        + "reading it (older owners: by {}; issued by {})", q.id(), from, q.shards(), to,
        q.timeoutMillis(), java.time.Instant.ofEpochMilli(q.deadlineMillis()), issuedBy);
    Map<Integer, ShardMoveResult> results = new TreeMap<>();
    OwnershipResultWait.awaitResults(channel, q.id(), shardSet, t0 + timeout.toNanos(), clock, r -> {
      ShardMoveResult m = new ShardMoveResult(r.shard(), from, to,
          r.moved() ? ShardMoveResult.Outcome.MOVED : ShardMoveResult.Outcome.FAILED,
          r.newEpoch(), Duration.ofNanos(clock.nanoTime() - t0), OptionalLong.empty(), q.id(),
          (r.moved() ? "" : "handover failed: ") + r.detail() + " (" + r.instance() + ")");
      results.put(r.shard(), m);
      log.info("Tandem ownership request {}: shard {} {} (epoch {}) after {} ms by {}", q.id(),
          r.shard(), m.outcome(), r.newEpoch(), m.took().toMillis(), r.instance());
    });
    String unread = channel.failure().map(e -> "; this client could not read the results ("
        + e + "): the lease was read instead").orElse("");
    Set<Integer> missing = new TreeSet<>(shardSet);
    missing.removeAll(results.keySet());
    if (!missing.isEmpty()) {
      refresh(replica, missing);
    }
    List<ShardMoveResult> out = new ArrayList<>();
    for (int s : shardSet) {
      ShardMoveResult r = results.get(s);
      if (r == null) {
        ShardLease l = replica.ownership().lease(s);
        if (l.owner().equals(to) && l.epoch() > epochBefore.get(s)) {
          // moved, but its result was not read in time (written late, or not at all)
          r = new ShardMoveResult(s, from, to, ShardMoveResult.Outcome.MOVED, l.epoch(),
              Duration.ofNanos(clock.nanoTime() - t0), OptionalLong.empty(), q.id(),
              "no result read; the lease shows the handover (epoch " + l.epoch() + ")" + unread);
        } else {
          r = new ShardMoveResult(s, from, to, ShardMoveResult.Outcome.NOT_ANSWERED, l.epoch(),
              Duration.ofNanos(clock.nanoTime() - t0), OptionalLong.empty(), q.id(),
              "no process of " + from + " answered within " + timeout + " (stopped, hung or cut"
                  + " off); the shard stays with " + l.owner() + " at epoch " + l.epoch()
                  + unread);
          log.warn("Tandem ownership request {}: shard {} NOT ANSWERED by {} within {}{}", q.id(),
              s, from, timeout, force ? "; forcing a fenced move" : "; nothing forced");
        }
      }
      if (force && !r.moved()) {
        r = forced(replica, s, from, to, timeout, q.id(), t0, r.outcome() + ": " + r.detail(),
            evacuation);
      }
      out.add(r);
    }
    return out;
  }

  /** A fenced move of {@code shard} to {@code to} (this admin's replica acts as {@code to}). */
  private ShardMoveResult forced(TandemRegion replica, int shard, RegionId from, RegionId to,
      Duration ackWait, String requestId, long t0, String why, boolean evacuation) {
    MoveReport m = replica.ownership().move(shard, ackWait, evacuation);
    try {
      // the new lease must reach the destination's changelog before this client may exit
      replica.replicationLog().barrier(shard, to).get(CATCH_UP.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      log.warn("Tandem fenced move of shard {}: the new lease is not yet acknowledged by {}'s "
          + "changelog ({}); it stays in the spool of this client until it is", shard, to,
          e.toString());
    }
    OptionalLong bound = m.bound();
    ShardMoveResult r = new ShardMoveResult(shard, from, to, ShardMoveResult.Outcome.FORCED,
        m.takeover().newEpoch(), Duration.ofNanos(clock.nanoTime() - t0), bound, requestId,
        why + "; fenced move: " + m.detail());
    log.warn("Tandem ownership: shard {} FORCED from {} to {} at epoch {}, duplicate bound {}", shard,
        from, to, r.newEpoch(), bound.isPresent() ? bound.getAsLong() : "UNKNOWN (detected)");
    return r;
  }

  private RegionId other(RegionId region) {
    Objects.requireNonNull(region, "region");
    if (!regions.contains(region)) {
      throw new IllegalArgumentException("unknown region " + region + "; regions " + regions);
    }
    if (regions.size() != 2) {
      throw new IllegalArgumentException("evacuate and return move shards between two regions; "
          + "this deployment has " + regions);
    }
    return regions.get(0).equals(region) ? regions.get(1) : regions.get(0);
  }

  private void checkShard(int shard) {
    if (shard < 0 || shard >= shards) {
      throw new IllegalArgumentException("shard " + shard + " is not in 0.." + (shards - 1));
    }
  }

  /**
   * The owner's window for a request this client waits {@code timeout} for: shorter by the time the
   * request may take to reach the owner's reader (its clock starts at its reading, this client's at
   * its writing), so an owner does not finish a handover after this client reported the shard
   * NOT_ANSWERED. A tenth of the time-out, at most 1 s, at least 1 ms of window.
   */
  static Duration ownerWindow(Duration timeout) {
    Duration allowance = timeout.dividedBy(10);
    if (allowance.compareTo(READ_LAG_ALLOWANCE) > 0) {
      allowance = READ_LAG_ALLOWANCE;
    }
    Duration w = timeout.minus(allowance);
    return w.toMillis() < 1 ? Duration.ofMillis(1) : w;
  }

  private static void positive(Duration timeout) {
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be > 0, got " + timeout);
    }
  }

  private Set<Integer> allShards() {
    return IntStream.range(0, shards).boxed().collect(Collectors.toCollection(TreeSet::new));
  }

  /** Reads every region's changelog of {@code which} to its end, so the leases are current. */
  private void refresh(TandemRegion replica, Set<Integer> which) {
    KafkaReplicationLog l = replica.replicationLog();
    for (RegionId r : regions) {
      l.catchUp(r, which, CATCH_UP);
    }
  }

  private TandemRegion anyReplica() {
    checkOpen();
    return replicas.isEmpty() ? replica(regions.get(0)) : replicas.values().iterator().next();
  }

  private TandemRegion replica(RegionId as) {
    checkOpen();
    TandemRegion r = replicas.get(as);
    if (r == null) {
      // its own meters: a replica's gauges must not mix with a region instance's in one registry
      r = TandemRegion.builder().configs(withAdminKeys(keys, as, workDir))
          .meterRegistry(new io.micrometer.core.instrument.simple.SimpleMeterRegistry()).build();
      if (!r.replicationLog().awaitRestored(RESTORE)) {
        r.close();
        throw new IllegalStateException("the changelogs could not be restored within " + RESTORE
            + "; nothing done");
      }
      replicas.put(as, r);
    }
    return r;
  }

  private OwnershipRequestChannel channel(RegionId region) {
    checkOpen();
    return open.computeIfAbsent(region,
        r -> channels.apply(r, config.regionClientProperties(r)));
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("this OwnershipAdmin is closed");
    }
  }

  /** Closes the replicas and clients this admin opened. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (OwnershipRequestChannel c : open.values()) {
      try {
        c.close();
      } catch (RuntimeException e) {
        log.warn("closing {} failed", c, e);
      }
    }
    for (TandemRegion r : replicas.values()) {
      try {
        r.close();
      } catch (RuntimeException e) {
        // the other replicas and the working directory are still released
        log.warn("closing the admin's replica {} failed", r, e);
      }
    }
    if (deleteWorkDir) {
      try (Stream<Path> walk = Files.walk(workDir)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException e) {
        log.warn("could not delete {}: {}", workDir, e.toString());
      }
    }
  }
}
