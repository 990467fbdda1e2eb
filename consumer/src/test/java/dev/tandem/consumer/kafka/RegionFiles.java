package dev.tandem.consumer.kafka;

import dev.tandem.testkit.TwoRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The properties file of one region's process in a test over {@link TwoRegions}, as an operator
 * writes it (test scope): the keys such tests share, then the test's own (its lease, heartbeat and
 * application consumer settings). Shared by {@code TandemRegionTest} and {@code
 * CleanShutdownAndHealthTest}.
 */
final class RegionFiles {

  private RegionFiles() {}

  /**
   * Writes {@code <prefix>-<region>.properties} into {@code dir}: both regions' bootstrap servers,
   * a state directory {@code <prefix>-<region>} under {@code dir}, 4 shards, the changelog prefix,
   * a 1 s takeover margin, W = 20, 5 s catch-up and 3 s changelog publish time-outs, the Kafka
   * consumer's {@code auto.offset.reset=earliest}, {@code session.timeout.ms=6000}, {@code
   * heartbeat.interval.ms=1000}; then {@code settings} ({@code key=value} lines).
   */
  static Path write(Path dir, TwoRegions regions, String region, String prefix, String... settings)
      throws Exception {
    List<String> lines = new ArrayList<>(List.of(
        "# Tandem region " + region,
        "tandem.regions=region-a,region-b",
        "tandem.region=" + region,
        "tandem.region.region-a.bootstrap.servers=" + regions.a().bootstrapServers(),
        "tandem.region.region-b.bootstrap.servers=" + regions.b().bootstrapServers(),
        "tandem.state.dir=" + dir.resolve(prefix + "-" + region).toString().replace("\\", "/"),
        "tandem.shards=4",
        "tandem.changelog.topic.prefix=" + prefix,
        "tandem.takeover.margin.ms=1000",
        "tandem.replication.window=20",
        "tandem.catchup.timeout.ms=5000",
        "tandem.changelog.publish.timeout.ms=3000",
        "auto.offset.reset=earliest",
        "session.timeout.ms=6000",
        "heartbeat.interval.ms=1000"));
    lines.addAll(List.of(settings));
    lines.add("");
    Path file = dir.resolve(prefix + "-" + region + ".properties");
    Files.writeString(file, String.join("\n", lines), StandardCharsets.UTF_8);
    return file;
  }

  /** Creates {@code topic} and its dead-letter topic with 4 partitions in both regions. */
  static void createTopics(TwoRegions regions, String topic) {
    regions.createTopic(topic, 4);
    regions.createTopic(KafkaDeadLetterSink.topicFor(topic), 4);
  }
}
