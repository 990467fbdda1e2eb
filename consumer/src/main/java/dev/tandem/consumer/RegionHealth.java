package dev.tandem.consumer;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A snapshot of one region's health, from {@link TandemRegion#health()}: every figure is read from
 * the object that owns it (the store, the replication log, the changelog publisher, the ownership,
 * the consumers' poll loops) at the moment of the call. Immutable; cheap to make (no request to any
 * broker: the own broker's reachability is the evidence the poll loops and the changelog publisher
 * already gather); safe to make from any thread.
 *
 * <p><b>Status rules</b> (the reasons list says which applied, in this order):
 *
 * <ul>
 *   <li>{@link Status#DOWN}: the region is closed; the own Kafka broker does not answer (a poll
 *       loop's probe failed after its last answer, or — without such evidence — the changelog lane
 *       to the own region is open-circuited or spooling; or a probe registered with {@code
 *       TandemRegion.registerBrokerEvidence}, e.g. a Functions heartbeat's trigger probe, failed
 *       after its last answer); a consumer's poll loop stopped with an
 *       error. A region that is down renews no lease: the peer takes its shards over after L +
 *       margin.
 *   <li>{@link Status#DEGRADED}: a shard of the store is still restoring from the changelogs; a peer
 *       region is unreachable for the changelog (its changes wait in the spool, the window W limits
 *       what the owner may run); no heartbeat of a peer region was applied within the lease timeout
 *       L (or none yet); changelog copies for a region wait in the spool; the reader of the
 *       ownership request topic stopped for good (e.g. not authorized): it processes, but an
 *       evacuation reports its shards NOT_ANSWERED.
 *   <li>{@link Status#UP} otherwise.
 * </ul>
 *
 * <p>Detected duplicates and takeovers are history (counters since start), reported in the figures
 * and {@link #details()}, never a status: the alert rules of {@code ops/} page on them.
 */
public final class RegionHealth {

  /** Overall status. */
  public enum Status {
    /** Everything this region depends on answers. */
    UP,
    /** It processes, but a guarantee runs on reserve (restore, peer unreachable, spooling). */
    DEGRADED,
    /** It cannot process: closed, own broker unreachable, or a poll loop died. */
    DOWN
  }

  /**
   * One shard's lease as this region's replica sees it.
   *
   * @param shard the shard
   * @param owner the owner region in its lease, or null while the shard is restoring
   * @param epoch the lease epoch (-1 while restoring)
   * @param ownedHere whether the shard's lease names this region (under WITNESS it processes only
   *     while the witness also grants it the shard)
   * @param restored whether the replica of the shard is restored from the changelogs
   */
  public record ShardState(int shard, String owner, long epoch, boolean ownedHere, boolean restored) {}

  /**
   * How far this replica trails a peer region.
   *
   * @param region the peer region
   * @param timeLag applied-at − sent-at of its newest heartbeat, or null if none was applied yet
   * @param recordsBehind changelog records not yet read (every origin's)
   * @param sinceLastHeartbeat time since its newest heartbeat was applied, or null if none yet
   */
  public record PeerLag(String region, Duration timeLag, long recordsBehind, Duration sinceLastHeartbeat) {}

  /**
   * The newest takeover this instance made.
   *
   * @param shard the shard taken over
   * @param from the previous owner region
   * @param to the new owner (this region)
   * @param epoch the epoch written
   * @param boundKind HOLDS, HOLDS_IF_OLD_OWNER_STOPPED or UNKNOWN
   * @param bound the duplicate bound, or null when unknown
   * @param reason why the policy took over
   */
  public record Takeover(int shard, String from, String to, long epoch, String boundKind, Long bound,
      String reason) {}

  private final String region;
  private final String instance;
  private final Instant at;
  private final Status status;
  private final List<String> reasons;
  private final boolean storeOpen;
  private final boolean storeRestored;
  private final Boolean ownBrokerReachable;
  private final String ownBrokerEvidence;
  private final List<PeerLag> peers;
  private final Map<String, Boolean> peerReachable;
  private final Duration lagLimit;
  private final long heldRecords;
  private final List<ShardState> shards;
  private final long takeovers;
  private final Takeover lastTakeover;
  private final long detectedDuplicates;
  private final Map<String, Long> spoolDepth;
  private final int consumersRunning;
  private final List<String> consumerFailures;
  private final String policy;

  private RegionHealth(Facts f) {
    this.region = Objects.requireNonNull(f.region, "region");
    this.instance = f.instance;
    this.at = f.at != null ? f.at : Instant.now();
    this.storeOpen = f.storeOpen;
    this.storeRestored = f.storeRestored;
    this.ownBrokerReachable = f.ownBrokerReachable;
    this.ownBrokerEvidence = f.ownBrokerEvidence;
    this.peers = List.copyOf(f.peers);
    this.peerReachable = Collections.unmodifiableMap(new LinkedHashMap<>(f.peerReachable));
    this.lagLimit = f.lagLimit;
    this.heldRecords = f.heldRecords;
    this.shards = List.copyOf(f.shards);
    this.takeovers = f.takeovers;
    this.lastTakeover = f.lastTakeover;
    this.detectedDuplicates = f.detectedDuplicates;
    this.spoolDepth = Collections.unmodifiableMap(new LinkedHashMap<>(f.spoolDepth));
    this.consumersRunning = f.consumersRunning;
    this.consumerFailures = List.copyOf(f.consumerFailures);
    this.policy = f.policy;
    List<String> down = new ArrayList<>();
    List<String> degraded = new ArrayList<>();
    if (!storeOpen) {
      down.add("the region is closed");
    }
    if (Boolean.FALSE.equals(ownBrokerReachable)) {
      down.add("the own Kafka broker does not answer ("
          + (ownBrokerEvidence == null ? "no evidence" : ownBrokerEvidence) + ")");
    }
    for (String failure : consumerFailures) {
      down.add("a poll loop stopped: " + failure);
    }
    if (storeOpen && !storeRestored) {
      degraded.add("shards still restoring from the changelogs");
    }
    peerReachable.forEach((r, reachable) -> {
      if (!reachable) {
        degraded.add("peer region " + r + " unreachable for the changelog (changes wait in the spool)");
      }
    });
    for (PeerLag p : peers) {
      if (p.sinceLastHeartbeat() == null) {
        degraded.add("no heartbeat of peer region " + p.region() + " applied yet");
      } else if (lagLimit != null && p.sinceLastHeartbeat().compareTo(lagLimit) > 0) {
        degraded.add("no heartbeat of peer region " + p.region() + " for "
            + p.sinceLastHeartbeat().toMillis() + " ms (over L = " + lagLimit.toMillis() + " ms)");
      }
    }
    spoolDepth.forEach((r, depth) -> {
      if (depth > 0) {
        degraded.add(depth + " changelog copies for region " + r + " wait in the spool");
      }
    });
    if (f.ownershipRequestsFailure != null) {
      degraded.add("remote ownership requests (evacuate, return, move) are not acted on: "
          + f.ownershipRequestsFailure);
    }
    List<String> all = new ArrayList<>(down);
    all.addAll(degraded);
    this.reasons = List.copyOf(all);
    this.status = !down.isEmpty() ? Status.DOWN : !degraded.isEmpty() ? Status.DEGRADED : Status.UP;
  }

  /** The overall status (see the class comment for the rules). */
  public Status status() {
    return status;
  }

  /** Why the status is not UP, most severe first; empty when UP. */
  public List<String> reasons() {
    return reasons;
  }

  /** This region's name. */
  public String region() {
    return region;
  }

  /** This process's instance id. */
  public String instance() {
    return instance;
  }

  /** When the snapshot was taken (wall clock). */
  public Instant at() {
    return at;
  }

  /** The ownership policy (automatic, witness, manual) or {@code detect-only}. */
  public String policy() {
    return policy;
  }

  /** Whether the store is open (false once the region is closed). */
  public boolean storeOpen() {
    return storeOpen;
  }

  /** Whether every shard of the replica is restored from the changelogs. */
  public boolean storeRestored() {
    return storeRestored;
  }

  /** Whether the own Kafka broker answers; empty when there is no evidence either way yet. */
  public Optional<Boolean> ownBrokerReachable() {
    return Optional.ofNullable(ownBrokerReachable);
  }

  /** Where {@link #ownBrokerReachable()} comes from (which evidence, how old). */
  public String ownBrokerEvidence() {
    return ownBrokerEvidence;
  }

  /** How far this replica trails each peer region. */
  public List<PeerLag> peerLag() {
    return peers;
  }

  /** Per peer region: whether the changelog publisher reaches it (its writes are acknowledged). */
  public Map<String, Boolean> peerReachable() {
    return peerReachable;
  }

  /** Records the followers of this region's poll loops hold until the owner's completion arrives. */
  public long heldRecords() {
    return heldRecords;
  }

  /** Every shard's lease as seen here, by shard. */
  public List<ShardState> shards() {
    return shards;
  }

  /** How many shards' leases name this region. */
  public int shardsOwned() {
    return (int) shards.stream().filter(ShardState::ownedHere).count();
  }

  /** Takeovers this instance made since it started. */
  public long takeovers() {
    return takeovers;
  }

  /** The newest takeover this instance made, with its bound. */
  public Optional<Takeover> lastTakeover() {
    return Optional.ofNullable(lastTakeover);
  }

  /** Cross-region duplicates the store detected since it opened. */
  public long detectedDuplicates() {
    return detectedDuplicates;
  }

  /** Per region: changelog copies waiting in the publisher's spool. */
  public Map<String, Long> spoolDepth() {
    return spoolDepth;
  }

  /** Poll loops of this region's Kafka consumers that run now. */
  public int consumersRunning() {
    return consumersRunning;
  }

  /**
   * The snapshot as a map of plain values (strings, numbers, booleans, lists and maps of them), in a
   * stable order — what an Actuator health indicator or a JSON writer shows.
   */
  public Map<String, Object> details() {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("status", status.name());
    d.put("reasons", reasons);
    d.put("region", region);
    d.put("instance", instance);
    d.put("at", at.toString());
    d.put("policy", policy);
    d.put("storeOpen", storeOpen);
    d.put("storeRestored", storeRestored);
    d.put("ownBrokerReachable", ownBrokerReachable == null ? "unknown" : ownBrokerReachable);
    d.put("ownBrokerEvidence", ownBrokerEvidence);
    Map<String, Object> lag = new LinkedHashMap<>();
    for (PeerLag p : peers) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("reachable", peerReachable.getOrDefault(p.region(), Boolean.TRUE));
      m.put("timeLagMs", p.timeLag() == null ? null : p.timeLag().toMillis());
      m.put("recordsBehind", p.recordsBehind());
      m.put("sinceLastHeartbeatMs",
          p.sinceLastHeartbeat() == null ? null : p.sinceLastHeartbeat().toMillis());
      lag.put(p.region(), Collections.unmodifiableMap(m));
    }
    d.put("peers", Collections.unmodifiableMap(lag));
    d.put("heldRecords", heldRecords);
    d.put("shardsOwned", shardsOwned());
    List<Map<String, Object>> s = new ArrayList<>();
    for (ShardState st : shards) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("shard", st.shard());
      m.put("owner", st.owner());
      m.put("epoch", st.epoch());
      m.put("ownedHere", st.ownedHere());
      m.put("restored", st.restored());
      s.add(Collections.unmodifiableMap(m));
    }
    d.put("shards", List.copyOf(s));
    d.put("takeovers", takeovers);
    if (lastTakeover != null) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("shard", lastTakeover.shard());
      m.put("from", lastTakeover.from());
      m.put("to", lastTakeover.to());
      m.put("epoch", lastTakeover.epoch());
      m.put("boundKind", lastTakeover.boundKind());
      m.put("bound", lastTakeover.bound());
      m.put("reason", lastTakeover.reason());
      d.put("lastTakeover", Collections.unmodifiableMap(m));
    }
    d.put("detectedDuplicates", detectedDuplicates);
    d.put("spoolDepth", spoolDepth);
    d.put("consumersRunning", consumersRunning);
    return Collections.unmodifiableMap(d);
  }

  @Override
  public String toString() {
    return "RegionHealth{" + region + " " + status + (reasons.isEmpty() ? "" : " " + reasons)
        + ", shardsOwned=" + shardsOwned() + ", held=" + heldRecords + ", takeovers=" + takeovers
        + ", detectedDuplicates=" + detectedDuplicates + "}";
  }

  /** The facts a snapshot is made of (package-private: the region fills it; tests too). */
  static final class Facts {
    String region;
    String instance;
    Instant at;
    String policy;
    boolean storeOpen = true;
    boolean storeRestored = true;
    Boolean ownBrokerReachable;
    String ownBrokerEvidence;
    final List<PeerLag> peers = new ArrayList<>();
    final Map<String, Boolean> peerReachable = new LinkedHashMap<>();
    Duration lagLimit;
    long heldRecords;
    final List<ShardState> shards = new ArrayList<>();
    long takeovers;
    Takeover lastTakeover;
    long detectedDuplicates;
    final Map<String, Long> spoolDepth = new LinkedHashMap<>();
    int consumersRunning;
    final List<String> consumerFailures = new ArrayList<>();
    /** Why remote ownership requests are not read here (null: they are, or none were opened). */
    String ownershipRequestsFailure;

    RegionHealth build() {
      return new RegionHealth(this);
    }
  }

  /** {@link #lastTakeover()}'s bound as an OptionalLong (empty when unknown or no takeover). */
  public OptionalLong lastBound() {
    return lastTakeover == null || lastTakeover.bound() == null
        ? OptionalLong.empty() : OptionalLong.of(lastTakeover.bound());
  }
}
