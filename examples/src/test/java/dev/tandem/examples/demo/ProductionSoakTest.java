package dev.tandem.examples.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The production-shaped soak in its CI form ({@link ProductionSoak.Options#ci}): five rounds of 8 s,
 * each carrying one scheduled event once — a region-A instance removed, added back, region A's own
 * changelog lane stalled past the publish timeout while a region-A instance leaves, added back, region
 * A's broker restarted — then a drain round with the publisher stopped. Every round's history must
 * keep the promise (see {@link ProductionSoak}); the failure lists every broken round's line.
 */
class ProductionSoakTest {

  @Test
  void everyRoundKeepsThePromise(@TempDir Path dir) throws Exception {
    long seed = Long.getLong("tandem.soak.seed", 14);
    List<ProductionSoak.Round> rounds;
    try (TwoRegions regions = TwoRegions.start()) {
      rounds = ProductionSoak.run(ProductionSoak.Options.ci(seed), regions, dir);
    }
    assertEquals(6, rounds.size(), "five scheduled rounds and the drain ran");
    List<String> broken = rounds.stream().filter(r -> !r.ok()).map(ProductionSoak.Round::line).toList();
    assertTrue(broken.isEmpty(), broken.size() + " of " + rounds.size() + " rounds broke the promise:\n"
        + String.join("\n", broken));
  }
}
