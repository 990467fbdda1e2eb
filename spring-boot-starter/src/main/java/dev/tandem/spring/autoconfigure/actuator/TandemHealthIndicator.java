package dev.tandem.spring.autoconfigure.actuator;

import dev.tandem.consumer.RegionHealth;
import dev.tandem.consumer.TandemRegion;
import java.util.Objects;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * The {@code tandem} health of Spring Boot's {@code /actuator/health}: {@link TandemRegion#health()}
 * (store open and restored, own broker reachable, peer replication lag, held records, shards owned,
 * takeovers with the last bound, detected duplicates, spool depth) as details.
 *
 * <p>Status: the region's DOWN is {@code DOWN} (closed, own broker not answering, a poll loop
 * stopped); its DEGRADED (peer unreachable or lagging, a shard restoring, copies spooled) is {@code
 * UP} with {@code status=DEGRADED} and the reasons in the details — a degraded region still processes
 * the shards it owns, which is the point of running in two regions, so readiness must not take it
 * out of service.
 */
public class TandemHealthIndicator implements HealthIndicator {

  private final TandemRegion region;

  /** The health of {@code region}. */
  public TandemHealthIndicator(TandemRegion region) {
    this.region = Objects.requireNonNull(region, "region");
  }

  @Override
  public Health health() {
    RegionHealth h = region.health();
    Health.Builder b = h.status() == RegionHealth.Status.DOWN ? Health.down() : Health.up();
    return b.withDetails(h.details()).build();
  }
}
