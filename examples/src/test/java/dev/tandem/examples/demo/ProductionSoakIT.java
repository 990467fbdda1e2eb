package dev.tandem.examples.demo;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The production-shaped soak's long form, run by the {@code soak} profile (examples/README.md,
 * "Soak"): rounds of 20 s for {@code -Dtandem.soak.minutes} (default 10; at least the five rounds
 * that carry every event once), then the drain. Same checks as {@link ProductionSoakTest}.
 */
class ProductionSoakIT {

  @Test
  void everyRoundKeepsThePromise(@TempDir Path dir) throws Exception {
    double minutes = Double.parseDouble(System.getProperty(DemoSoakIT.MINUTES_PROPERTY, "10"));
    long seed = Long.parseLong(System.getProperty(DemoSoakIT.SEED_PROPERTY, "42"));
    List<ProductionSoak.Round> rounds;
    try (TwoRegions regions = TwoRegions.start()) {
      rounds = ProductionSoak.run(ProductionSoak.Options.soak(minutes, seed), regions, dir);
    }
    assertTrue(rounds.size() >= 6, "at least the five scheduled rounds and the drain ran: " + rounds.size());
    List<String> broken = rounds.stream().filter(r -> !r.ok()).map(ProductionSoak.Round::line).toList();
    assertTrue(broken.isEmpty(), broken.size() + " of " + rounds.size() + " rounds broke the promise:\n"
        + String.join("\n", broken));
  }
}
