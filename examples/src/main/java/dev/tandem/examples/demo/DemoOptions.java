package dev.tandem.examples.demo;

import java.util.Locale;

/**
 * The demo's command line: {@code --messages N --rate R --fail none|consumers|broker|partition|handover
 * --policy automatic|witness|manual --seed S --help}. Unknown or malformed options are refused with a
 * message naming them.
 */
public record DemoOptions(int messages, int rate, Fault fail, Policy policy, long seed, boolean help) {

  /** The failure injected halfway through the run. */
  public enum Fault {
    /** No fault: duplicates must be 0. */
    NONE,
    /** Region A's consumers stop (its broker stays up): B takes over. */
    CONSUMERS,
    /** Region A's broker stops (its consumers stay): B takes over. */
    BROKER,
    /** Replication between the regions is cut both ways, then healed. */
    PARTITION,
    /** A planned handover of region A's shards to B: duplicates must be 0. */
    HANDOVER
  }

  /** The takeover policy. */
  public enum Policy {
    AUTOMATIC,
    WITNESS,
    MANUAL
  }

  public static final String USAGE =
      String.join(
          "\n",
          "Tandem two-region demo: two in-JVM Kafka clusters (region-a, region-b), a dual publisher,",
          "once-processing consumers in both regions, and a fault halfway through.",
          "",
          "Options:",
          "  --messages N    messages to publish (default 20000)",
          "  --rate R        messages per second (default 2000)",
          "  --fail F        none|consumers|broker|partition|handover (default broker)",
          "  --policy P      automatic|witness|manual (default automatic)",
          "  --seed S        random seed (default 1)",
          "  --help          this text",
          "",
          "The last line is machine-readable:",
          "  RESULT published=<n> processed=<n> lost=<n> duplicates=<n> bound=<n> detected=<n> takeover_ms=<n>",
          "Exit code 0 unless lost > 0, duplicates > bound after a crash, duplicates != detected (in",
          "either region) after a partition under automatic, duplicates > bound after a partition under",
          "witness, or duplicates > 0 with --fail none|handover.",
          "",
          "--fail partition cuts the link between the regions both ways for 15 s (both stay up);",
          "--policy witness starts a third in-JVM Kafka cluster as the takeover witness.");

  /** Parses {@code args}; throws {@link IllegalArgumentException} with a clear message on bad input. */
  public static DemoOptions parse(String... args) {
    int messages = 20_000;
    int rate = 2_000;
    Fault fail = Fault.BROKER;
    Policy policy = Policy.AUTOMATIC;
    long seed = 1;
    boolean help = false;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
      if (name.equals("--help") || name.equals("-h")) {
        help = true;
        continue;
      }
      String value;
      if (a.contains("=")) {
        value = a.substring(a.indexOf('=') + 1);
      } else if (i + 1 < args.length) {
        value = args[++i];
      } else {
        throw new IllegalArgumentException("option " + name + " needs a value\n\n" + USAGE);
      }
      switch (name) {
        case "--messages" -> messages = positive(name, value);
        case "--rate" -> rate = positive(name, value);
        case "--fail" -> fail = choice(Fault.class, name, value);
        case "--policy" -> policy = choice(Policy.class, name, value);
        case "--seed" -> seed = number(name, value);
        default -> throw new IllegalArgumentException("unknown option " + name + "\n\n" + USAGE);
      }
    }
    return new DemoOptions(messages, rate, fail, policy, seed, help);
  }

  private static int positive(String name, String value) {
    long n = number(name, value);
    if (n <= 0 || n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(name + " must be a positive integer, got " + value);
    }
    return (int) n;
  }

  private static long number(String name, String value) {
    try {
      return Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a number, got '" + value + "'");
    }
  }

  private static <E extends Enum<E>> E choice(Class<E> type, String name, String value) {
    try {
      return Enum.valueOf(type, value.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      StringBuilder allowed = new StringBuilder();
      for (E c : type.getEnumConstants()) {
        allowed.append(allowed.length() == 0 ? "" : "|").append(c.name().toLowerCase(Locale.ROOT));
      }
      throw new IllegalArgumentException(name + " must be one of " + allowed + ", got '" + value + "'");
    }
  }
}
