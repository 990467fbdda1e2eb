package dev.tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * cli/README.md documents every command and every option the command accepts (an operator reads
 * the README, not the code); `status --restore-timeout` was missing from it. No cluster.
 */
class CliDocsTest {

  @Test
  void everyCommandAndOptionIsInTheReadme() throws Exception {
    String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
    List<String> missing = new ArrayList<>();
    int options = 0;
    for (Map.Entry<String, CommandSpec> c : leaves(TandemCli.commandLine().getCommandSpec()).entrySet()) {
      if (!readme.contains("tandem " + c.getKey())) {
        missing.add("command 'tandem " + c.getKey() + "'");
      }
      for (OptionSpec o : c.getValue().options()) {
        if (o.usageHelp() || o.versionHelp()) {
          continue;
        }
        options++;
        if (!readme.contains(o.longestName())) {
          missing.add(c.getKey() + " " + o.longestName());
        }
      }
    }
    assertTrue(options > 10, "options found: " + options);
    assertEquals(List.of(), missing, "cli/README.md does not mention these");
  }

  /** The runnable commands by their full name ("status", "dlq list", ...). */
  private static Map<String, CommandSpec> leaves(CommandSpec root) {
    Map<String, CommandSpec> out = new java.util.TreeMap<>();
    for (CommandLine sub : root.subcommands().values()) {
      CommandSpec s = sub.getCommandSpec();
      if (s.subcommands().isEmpty()) {
        out.put(s.name(), s);
      } else {
        leaves(s).forEach((k, v) -> out.put(s.name() + " " + k, v));
      }
    }
    return out;
  }
}
