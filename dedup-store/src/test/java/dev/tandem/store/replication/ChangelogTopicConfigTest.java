package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An existing changelog topic that would let the broker drop records a restore still needs (too short
 * a retention, or not compacted) is refused at start with the fix, never used silently.
 */
@TandemClusters
class ChangelogTopicConfigTest {

  private static TwoRegions regions;

  @Test
  void aChangelogWithTooShortARetentionIsRefusedNamingTheFix(@TempDir Path dir) {
    regions.a().createTopic("short.changelog", Replica.SHARDS,
        Map.of("cleanup.policy", "compact,delete", "retention.ms", "60000"));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Replica.open(regions, "region-a", dir.resolve("a"), "short").close());
    String m = rootMessage(e);
    assertTrue(m.contains("retention.ms=60000") && m.contains("short.changelog")
        && m.contains("kafka-configs --alter"), m);
  }

  @Test
  void aChangelogThatIsNotCompactedIsRefused(@TempDir Path dir) {
    regions.a().createTopic("deleteonly.changelog", Replica.SHARDS,
        Map.of("cleanup.policy", "delete", "retention.ms", "-1"));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Replica.open(regions, "region-a", dir.resolve("a"), "deleteonly").close());
    String m = rootMessage(e);
    assertTrue(m.contains("cleanup.policy=delete") && m.contains("compacted"), m);
  }

  @Test
  void theSameRefusalHoldsForThePeerRegionsChangelog(@TempDir Path dir) {
    regions.b().createTopic("peershort.changelog", Replica.SHARDS,
        Map.of("cleanup.policy", "compact,delete", "retention.ms", "60000"));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Replica.open(regions, "region-a", dir.resolve("a"), "peershort").close());
    String m = rootMessage(e);
    assertTrue(m.contains("region-b") && m.contains("retention.ms=60000"), m);
  }

  @Test
  void aCompactOnlyChangelogKeepsEveryKeySoItsRetentionDoesNotMatter(@TempDir Path dir) {
    regions.a().createTopic("compactonly.changelog", Replica.SHARDS,
        Map.of("cleanup.policy", "compact", "retention.ms", "60000"));
    Replica.open(regions, "region-a", dir.resolve("a"), "compactonly").close();
  }

  @Test
  void aCorrectExistingChangelogIsAccepted(@TempDir Path dir) {
    regions.a().createTopic("fine.changelog", Replica.SHARDS,
        Map.of("cleanup.policy", "compact,delete", "retention.ms", "-1"));
    regions.b().createTopic("fine.changelog", Replica.SHARDS,
        Map.of("cleanup.policy", "compact", "retention.ms", "-1"));
    Replica.open(regions, "region-a", dir.resolve("a"), "fine").close();
  }

  private static String rootMessage(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      b.append(c.getMessage()).append(" | ");
    }
    return b.toString();
  }
}
