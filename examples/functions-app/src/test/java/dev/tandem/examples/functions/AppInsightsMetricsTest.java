package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.azuremonitor.AzureMonitorMeterRegistry;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The sample exports its meters to Application Insights exactly when the platform gives it a
 * connection string, including the meters the region registered before (a composite registry hands
 * its existing meters to a registry added later). A composite of the test's own stands for
 * Micrometer's global registry.
 */
class AppInsightsMetricsTest {

  /** A well-formed connection string whose ingestion endpoint answers nothing. */
  static final String CS = "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
      + "IngestionEndpoint=http://127.0.0.1:9/";

  @Test
  void withoutTheSettingNothingIsAdded() {
    CompositeMeterRegistry global = new CompositeMeterRegistry();
    assertTrue(AppInsightsMetrics.addTo(global, Map.<String, String>of()::get).isEmpty());
    assertTrue(AppInsightsMetrics.addTo(global,
        Map.of(AppInsightsMetrics.CONNECTION_STRING, " ")::get).isEmpty(), "blank = absent");
    assertTrue(global.getRegistries().isEmpty());
  }

  @Test
  void withTheSettingTheAzureMonitorRegistryGetsEveryTandemMeterOnce() {
    CompositeMeterRegistry global = new CompositeMeterRegistry();
    Counter early = Counter.builder("tandem.ownership.takeovers").register(global); // the region's
    AzureMonitorMeterRegistry azure = AppInsightsMetrics.addTo(global,
        Map.of(AppInsightsMetrics.CONNECTION_STRING, CS)::get).orElseThrow();
    try {
      assertSame(azure, AppInsightsMetrics.addTo(global,
          Map.of(AppInsightsMetrics.CONNECTION_STRING, CS)::get).orElseThrow(), "added once");
      assertEquals(1, global.getRegistries().size());
      assertNotNull(azure.find("tandem.ownership.takeovers").counter(),
          "a meter registered before the registry was added is exported too");
    } finally {
      global.remove(azure);
      azure.close();
    }
  }
}
