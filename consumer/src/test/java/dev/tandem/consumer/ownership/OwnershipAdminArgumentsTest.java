package dev.tandem.consumer.ownership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input to {@link OwnershipAdmin} fails at once with a clear exception, before it opens a replica
 * or reaches a broker (none runs here).
 */
class OwnershipAdminArgumentsTest {

  @TempDir Path dir;

  static Map<String, Object> config(String regions) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put(TandemRegionConfig.REGIONS_CONFIG, regions);
    for (String r : regions.split(",")) {
      c.put(TandemRegionConfig.REGION_PREFIX + r + ".bootstrap.servers", "127.0.0.1:1");
    }
    c.put(TandemRegionConfig.SHARDS_CONFIG, 4);
    return c;
  }

  @Test
  void unknownRegionsShardsAndTimeoutsAreRefusedBeforeAnythingOpens() {
    try (OwnershipAdmin admin = OwnershipAdmin.create(config("region-a,region-b"), dir)) {
      assertEquals(List.of(RegionId.of("region-a"), RegionId.of("region-b")), admin.regions());
      assertEquals(4, admin.shardCount());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> admin.evacuate(RegionId.of("region-c"), Duration.ofSeconds(1), false));
      assertTrue(e.getMessage().contains("unknown region region-c"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> admin.returnTo(RegionId.of("region-a"), Duration.ZERO));
      assertTrue(e.getMessage().contains("timeout must be > 0"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> admin.move(4, RegionId.of("region-b"), Duration.ofSeconds(1), false));
      assertTrue(e.getMessage().contains("shard 4 is not in 0..3"), e.getMessage());
    }
  }

  @Test
  void evacuateNeedsExactlyTwoRegionsAndAValidConfiguration() {
    try (OwnershipAdmin admin = OwnershipAdmin.create(config("r1,r2,r3"), dir)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> admin.evacuate(RegionId.of("r1"), Duration.ofSeconds(1), false));
      assertTrue(e.getMessage().contains("between two regions"), e.getMessage());
    }
    Map<String, Object> bad = config("region-a,region-b");
    bad.put(TandemRegionConfig.SHARDS_CONFIG, 0);
    assertThrows(ConfigException.class, () -> OwnershipAdmin.create(bad, dir));
  }

  @Test
  void aClosedAdminRefusesWork() {
    OwnershipAdmin admin = OwnershipAdmin.create(config("region-a,region-b"));
    admin.close();
    assertThrows(IllegalStateException.class, admin::leases);
  }
}
