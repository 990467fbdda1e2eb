package dev.tandem.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The operator's {@code tandem} command (picocli): {@code status}, {@code evacuate}, {@code return},
 * {@code move}, {@code fence}, {@code dlq list|redrive}. Every command reads the region's own
 * properties file ({@code --config}, the {@code TandemRegionConfig} keys its consumers use) and opens
 * its own replica of the ownership through {@code TandemRegion.adminView} (a temporary directory, no
 * lock of the region's state directory, no heartbeats); {@code --command-config} adds Kafka client
 * security settings to every region's clients, as Kafka's own tools do. See {@code cli/README.md}.
 *
 * <p>Exit codes: {@value #OK} done; {@value #PARTIAL} done in part (a region or a shard did not
 * answer, a move's duplicate bound is unknown); {@value #USAGE} usage or configuration error;
 * {@value #UNREACHABLE} no cluster reached, or a cluster refused the credentials; {@value #FAILED}
 * any other failure.
 */
@Command(name = "tandem", mixinStandardHelpOptions = true, version = "tandem 0.1.0",
    description = "Operate a two-region Tandem deployment: ownership, evacuation, dead letters.",
    subcommands = {StatusCommand.class, EvacuateCommand.class, ReturnCommand.class,
        MoveCommand.class, FenceCommand.class, DlqCommand.class},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
        "0:done",
        "1:done in part: a region or shard did not answer, or a move's duplicate bound is unknown",
        "2:usage or configuration error",
        "3:no cluster reached, or a cluster refused the credentials (SASL/TLS)",
        "4:any other failure"})
public final class TandemCli implements Callable<Integer> {

  /** Done. */
  public static final int OK = 0;
  /** Done in part: a region or a shard did not answer, or a bound is unknown. */
  public static final int PARTIAL = 1;
  /** Usage or configuration error (picocli's own usage code). */
  public static final int USAGE = 2;
  /** No cluster reached, or a cluster refused the credentials. */
  public static final int UNREACHABLE = 3;
  /** Any other failure. */
  public static final int FAILED = 4;

  /** Output formats. */
  public enum Format { text, json }

  @Option(names = "--config", paramLabel = "FILE", scope = ScopeType.INHERIT,
      description = "The region's properties file (the keys its consumers use: tandem.regions, "
          + "tandem.region, tandem.region.<r>.bootstrap.servers, tandem.shards, ...).")
  Path config;

  @Option(names = "--command-config", paramLabel = "FILE", scope = ScopeType.INHERIT,
      description = "Kafka client settings for every region's clients (security.protocol, sasl.*, "
          + "ssl.*), as with Kafka's own tools; they win over the file's.")
  Path commandConfig;

  @Option(names = "--output", paramLabel = "text|json", defaultValue = "text",
      scope = ScopeType.INHERIT, description = "Output format: ${COMPLETION-CANDIDATES} "
          + "(default: ${DEFAULT-VALUE}).")
  Format output;

  @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
      description = "Print each step with its duration to stderr (which cluster is slow).")
  boolean verbose;

  @Override
  public Integer call() {
    // no subcommand: the usage, as a usage error
    throw new CommandLine.ParameterException(new CommandLine(this),
        "a command is required: status, evacuate, return, move, fence, dlq");
  }

  /** The command line, wired with the exit codes and the error handling of this tool. */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new TandemCli());
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
      PrintWriter err = cmd.getErr();
      if (e instanceof CliException c) {
        err.println("tandem: " + c.getMessage());
        return c.code();
      }
      if (e instanceof ConfigException) {
        err.println("tandem: configuration error: " + e.getMessage());
        return USAGE;
      }
      err.println("tandem: failed: " + e);
      return FAILED;
    });
    return cl;
  }

  /** Runs {@code args}; returns the exit code. */
  public static int run(String... args) {
    return commandLine().execute(args);
  }

  public static void main(String[] args) {
    // standard output is the command's answer; the clients' log lines go to stderr, warnings only
    // unless -Dorg.slf4j.simpleLogger.defaultLogLevel=... is given (JAVA_OPTS of bin/tandem)
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    System.exit(run(args));
  }

  /** A failure with its exit code and the message the operator sees. */
  static final class CliException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int code;

    CliException(int code, String message) {
      super(message);
      this.code = code;
    }

    int code() {
      return code;
    }
  }
}
