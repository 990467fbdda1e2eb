package dev.tandem.examples.functions;

import io.micrometer.azuremonitor.AzureMonitorConfig;
import io.micrometer.azuremonitor.AzureMonitorMeterRegistry;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.util.Optional;
import java.util.function.Function;

/**
 * Exports the app's meters — Tandem's, registered in Micrometer's global registry by the {@code
 * TandemRegion} — to Application Insights when the platform sets {@code
 * APPLICATIONINSIGHTS_CONNECTION_STRING}: an {@link AzureMonitorMeterRegistry} (one-minute steps)
 * added to the global registry, once per process. Without the setting nothing is exported.
 */
final class AppInsightsMetrics {

  static final String CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING";

  private AppInsightsMetrics() {}

  /**
   * Adds the Azure Monitor registry to {@code global} if {@code env} has a connection string and
   * none was added yet; returns it (empty without the setting).
   */
  static synchronized Optional<AzureMonitorMeterRegistry> addTo(CompositeMeterRegistry global,
      Function<String, String> env) {
    String cs = env.apply(CONNECTION_STRING);
    if (cs == null || cs.isBlank()) {
      return Optional.empty();
    }
    for (var r : global.getRegistries()) {
      if (r instanceof AzureMonitorMeterRegistry added) {
        return Optional.of(added);
      }
    }
    AzureMonitorMeterRegistry registry = new AzureMonitorMeterRegistry(new AzureMonitorConfig() {
      @Override
      public String get(String key) {
        return null; // Micrometer's defaults (step 1 min, enabled)
      }

      @Override
      public String connectionString() {
        return cs.strip();
      }
    }, Clock.SYSTEM);
    global.add(registry);
    return Optional.of(registry);
  }
}
