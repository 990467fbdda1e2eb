package dev.tandem.consumer.ownership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tandem ownership show|move|fence} against two real KRaft clusters: a move written by one
 * operator replica is seen by another replica (in the other region) through the changelogs.
 */
@TandemClusters
class OwnershipCliTest {

  static TwoRegions regions;

  record Run(int code, String out) {}

  static Run cli(Path dir, String region, String... command) {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    String[] common = {"--region", region, "--regions", "region-a=" + regions.a().bootstrapServers()
        + ",region-b=" + regions.b().bootstrapServers(), "--dir", dir.toString(), "--shards", "4",
        "--prefix", "cli", "--wait", "PT10S"};
    String[] args = new String[command.length + common.length];
    System.arraycopy(command, 0, args, 0, command.length);
    System.arraycopy(common, 0, args, command.length, common.length);
    int code = OwnershipCli.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
    String out = buf.toString(StandardCharsets.UTF_8);
    System.out.println("tandem ownership " + String.join(" ", command) + " -> " + code + "\n" + out);
    return new Run(code, out);
  }

  @Test
  void showMoveFenceThroughTheChangelogs(@TempDir Path dir) {
    Run show = cli(dir.resolve("op-b"), "region-b", "show");
    assertEquals(0, show.code());
    assertTrue(show.out().contains("shard 0 owner region-a epoch 0"), show.out());
    assertTrue(show.out().contains("shard 1 owner region-b epoch 0"), show.out());

    Run move = cli(dir.resolve("op-a"), "region-a", "move", "1");
    assertEquals(0, move.code(), move.out());
    assertTrue(move.out().startsWith("moved: the old owner region-b acknowledged epoch 1"), move.out());

    // the other operator replica, in region B, reads the move from the changelog
    Run after = cli(dir.resolve("op-b"), "region-b", "show");
    assertTrue(after.out().contains("shard 1 owner region-a epoch 1"), after.out());

    // fence does not wait for the old owner: the report says so, exit code 1
    Run fence = cli(dir.resolve("op-b"), "region-b", "fence", "0");
    assertEquals(1, fence.code(), fence.out());
    assertTrue(fence.out().contains("bound UNKNOWN"), fence.out());
    assertTrue(cli(dir.resolve("op-a"), "region-a", "show").out()
        .contains("shard 0 owner region-b epoch 1"));

    Run usage = cli(dir.resolve("op-a"), "region-a", "move");
    assertEquals(2, usage.code());
    assertTrue(usage.out().contains("usage: tandem ownership"), usage.out());
  }

  static Run cliArgs(String... args) {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int code = OwnershipCli.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
    String out = buf.toString(StandardCharsets.UTF_8);
    System.out.println("tandem ownership " + String.join(" ", args) + " -> " + code + "\n" + out);
    return new Run(code, out);
  }

  /**
   * The region's own properties file (the consumers': with their state dir and group.id) opens the
   * CLI's replica; --dir stays the CLI's own directory; a piece the file sets given again is refused.
   */
  @Test
  void theRegionsPropertiesFileOpensTheReplica(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("tandem-region.properties");
    Files.writeString(file, String.join("\n",
        "tandem.regions=region-a,region-b",
        "tandem.region=region-a",
        "tandem.region.region-a.bootstrap.servers=" + regions.a().bootstrapServers(),
        "tandem.region.region-b.bootstrap.servers=" + regions.b().bootstrapServers(),
        "tandem.shards=4",
        "tandem.changelog.topic.prefix=cli-config",
        "tandem.state.dir=" + dir.resolve("the-consumers-dir"),
        "group.id=orders", ""));
    Run show = cliArgs("show", "--config", file.toString(), "--dir", dir.resolve("op").toString(),
        "--region", "region-b");
    assertEquals(0, show.code(), show.out());
    assertTrue(show.out().contains("shard 0 owner region-a epoch 0"), show.out());
    assertTrue(show.out().contains("shard 3 owner region-b epoch 0"), show.out());

    Run both = cliArgs("show", "--config", file.toString(), "--dir", dir.resolve("op").toString(),
        "--shards", "8");
    assertEquals(2, both.code(), both.out());
    assertTrue(both.out().contains("--config and --shards both given"), both.out());

    Files.writeString(file, Files.readString(file) + "tandem.shards.count=4\n");
    Run unknown = cliArgs("show", "--config", file.toString(), "--dir",
        dir.resolve("op").toString());
    assertEquals(2, unknown.code(), unknown.out());
    assertTrue(unknown.out().contains("tandem.shards.count"), unknown.out());
  }
}
