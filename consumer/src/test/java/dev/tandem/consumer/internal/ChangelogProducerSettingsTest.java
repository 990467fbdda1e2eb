package dev.tandem.consumer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.Test;

/**
 * Issue 20: every changelog write of a region built by {@code TandemRegion} is awaited somewhere — the
 * poll loop waits for its batch's claims (own region) before any handler, the follower holds its copy
 * until the COMPLETED arrives — so the changelog producers' {@code linger.ms} is added to the claims
 * wait of every loop turn, to every completion's replication lag, and (the loop turns slower) to the
 * end-to-end latency. The region's own changelog producers linger 1 ms, as the replication log's
 * (ChangelogSetup) do; an operator's {@code tandem.region.<r>.linger.ms} still wins. No cluster.
 */
class ChangelogProducerSettingsTest {

  static Properties file() {
    Properties p = new Properties();
    p.put("tandem.regions", "westeurope,northeurope");
    p.put("tandem.region", "westeurope");
    p.put("tandem.region.westeurope.bootstrap.servers", "kafka-we:9092");
    p.put("tandem.region.northeurope.bootstrap.servers", "kafka-ne:9093");
    p.put("tandem.state.dir", "/var/lib/app/tandem");
    p.put("tandem.shards", "8");
    p.put("group.id", "orders");
    return p;
  }

  @Test
  void theRegionsChangelogProducersLingerOneMillisecond() {
    TandemRegionConfig c = new TandemRegionConfig(file());
    for (RegionId to : c.regions()) {
      assertEquals("1", RegionAssembly.changelogProducer(c, "i1", to)
          .getProperty(ProducerConfig.LINGER_MS_CONFIG), "linger.ms of the changelog to " + to);
    }
  }

  @Test
  void anOperatorsLingerForARegionIsKept() {
    Properties p = file();
    p.put("tandem.region.northeurope.linger.ms", "20");
    TandemRegionConfig c = new TandemRegionConfig(p);
    assertEquals("20", RegionAssembly.changelogProducer(c, "i1", RegionId.of("northeurope"))
        .getProperty(ProducerConfig.LINGER_MS_CONFIG));
    assertEquals("1", RegionAssembly.changelogProducer(c, "i1", RegionId.of("westeurope"))
        .getProperty(ProducerConfig.LINGER_MS_CONFIG));
  }
}
