package dev.tandem.spring.autoconfigure.actuator;

import dev.tandem.consumer.RegionHealth;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.ownership.HandoverReport;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.actuate.endpoint.Access;
import org.springframework.boot.actuate.endpoint.annotation.Endpoint;
import org.springframework.boot.actuate.endpoint.annotation.ReadOperation;
import org.springframework.boot.actuate.endpoint.annotation.WriteOperation;

/**
 * The {@code tandem} Actuator endpoint: shard ownership (read) and a planned handover of a shard
 * (write).
 *
 * <p><b>Access.</b> Like every Actuator endpoint it is reachable over HTTP or JMX only when exposed
 * ({@code management.endpoints.web.exposure.include=tandem}); its default access is read-only, so
 * the handover needs {@code management.endpoint.tandem.access=unrestricted} besides — and, as every
 * Actuator write operation, an HTTP {@code POST} that the application secures (Spring Security).
 */
@Endpoint(id = "tandem", defaultAccess = Access.READ_ONLY)
public class TandemEndpoint {

  /** The handover's bound when the caller gives none. */
  public static final Duration DEFAULT_HANDOVER_TIMEOUT = Duration.ofSeconds(30);

  private final TandemRegion region;

  /** The endpoint of {@code region}. */
  public TandemEndpoint(TandemRegion region) {
    this.region = Objects.requireNonNull(region, "region");
  }

  /**
   * Shard ownership as this region's replica sees it: region, instance, policy, held records (the
   * followers' records waiting for the owner's completion), peer lag; per shard its owner, epoch,
   * whether this region processes it now, whether it is restored, and the changes of it the peers
   * have not acknowledged yet.
   */
  @ReadOperation
  public Map<String, Object> ownership() {
    RegionHealth h = region.health();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("region", h.region());
    out.put("instance", h.instance());
    out.put("policy", h.policy());
    out.put("status", h.status().name());
    out.put("heldRecords", h.heldRecords());
    out.put("peers", h.details().get("peers"));
    out.put("takeovers", h.takeovers());
    List<Map<String, Object>> shards = new ArrayList<>();
    for (RegionHealth.ShardState s : h.shards()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("shard", s.shard());
      m.put("owner", s.owner());
      m.put("epoch", s.epoch());
      m.put("held", s.ownedHere());
      m.put("restored", s.restored());
      m.put("unackedByPeers", region.replicationLog().unackedByPeers(s.shard()));
      shards.add(m);
    }
    out.put("shards", shards);
    return out;
  }

  /**
   * A planned handover of {@code shard} from this region (its owner) to region {@code to} ({@link
   * ShardOwnership#handOver}): stops claiming for the shard, waits for the work in flight and for
   * {@code to} to acknowledge every change of the shard, then moves the lease. No duplicate is
   * expected; when a step does not finish in time the shard stays here and the report says why.
   *
   * @param shard the shard
   * @param to the region to hand it to
   * @param timeoutMs the bound in milliseconds (default 30000)
   * @return the report: moved, new epoch, lease acknowledged, detail, took
   * @throws IllegalArgumentException for an unknown region or a bad shard
   * @throws IllegalStateException when this region does not own the shard (or runs detect-only)
   */
  @WriteOperation
  public Map<String, Object> handover(int shard, String to, @Nullable Long timeoutMs) {
    ShardOwnership ownership = region.ownership();
    if (ownership == null) {
      throw new IllegalStateException("tandem.guarantee=detect-only: no shard ownership to hand over");
    }
    if (shard < 0 || shard >= region.shardCount()) {
      throw new IllegalArgumentException("shard " + shard + " is not in [0, " + region.shardCount()
          + ")");
    }
    Duration timeout = timeoutMs == null ? DEFAULT_HANDOVER_TIMEOUT : Duration.ofMillis(timeoutMs);
    HandoverReport r = ownership.handOver(shard, RegionId.of(to), timeout);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("shard", r.shard());
    out.put("from", r.from().name());
    out.put("to", r.to().name());
    out.put("moved", r.moved());
    out.put("newEpoch", r.newEpoch());
    out.put("leaseAcknowledged", r.leaseAcknowledged());
    out.put("detail", r.detail());
    out.put("tookMs", r.took().toMillis());
    return out;
  }
}
