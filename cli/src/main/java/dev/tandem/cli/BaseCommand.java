package dev.tandem.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** What every subcommand shares: the global options of {@link TandemCli}, output, a session. */
abstract class BaseCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  TandemCli root() {
    return (TandemCli) spec.root().userObject();
  }

  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  PrintWriter err() {
    return spec.commandLine().getErr();
  }

  TandemCli.Format format() {
    return root().output;
  }

  Session session() {
    return Session.open(root(), spec.commandLine());
  }

  /** A usage error naming {@code option}. */
  CommandLine.ParameterException usage(String message) {
    return new CommandLine.ParameterException(spec.commandLine(), message);
  }

  /** {@code 10s}, {@code 500ms}, {@code 2m} or ISO-8601 ({@code PT10S}). */
  static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(String v) {
      String s = v.trim().toLowerCase(Locale.ROOT);
      try {
        if (s.startsWith("pt")) {
          return Duration.parse(s.toUpperCase(Locale.ROOT));
        }
        if (s.endsWith("ms")) {
          return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2)));
        }
        if (s.endsWith("s")) {
          return Duration.ofSeconds(Long.parseLong(s.substring(0, s.length() - 1)));
        }
        if (s.endsWith("m")) {
          return Duration.ofMinutes(Long.parseLong(s.substring(0, s.length() - 1)));
        }
      } catch (NumberFormatException | DateTimeParseException e) {
        // below
      }
      throw new CommandLine.TypeConversionException("'" + v + "' is not a duration (10s, 500ms, "
          + "2m or PT10S)");
    }
  }
}
