package dev.tandem.azure.functions;

import dev.tandem.azure.AzureMeterNames;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.microsoft.azure.functions.annotation.ExponentialBackoffRetry;
import com.microsoft.azure.functions.annotation.FixedDelayRetry;
import com.microsoft.azure.functions.annotation.FunctionName;
import com.microsoft.azure.functions.annotation.KafkaTrigger;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Parameter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The start-up check of Kafka-triggered functions: does a copy that Tandem asks to retry later (a
 * follower's copy while the other region's shards are taken over) survive until the takeover, or
 * does the Kafka extension commit past it?
 *
 * <p>What the platform does (Azure Functions Kafka extension, {@code SingleItemFunctionExecutor}):
 * before 4.3.0 the offset is committed after every invocation, failed or not; from 4.3.0 too by
 * default ({@code extensions.kafka.commitOnFailure}, default {@code true}); with {@code
 * commitOnFailure: false} a failed invocation is invoked again at once, and after {@code maxRetries}
 * (default 5; -1 unlimited) the offset is force-committed. The function's retry policy ({@link
 * FixedDelayRetry}, {@link ExponentialBackoffRetry}; {@code maxRetryCount = -1} retries
 * indefinitely) runs inside one invocation, before the extension sees the failure. A committed copy
 * is gone; the old owner, back as a follower, then waits for a completion that never comes.
 *
 * <p>What is checked, reliably: the methods of the given classes that have a {@link FunctionName}
 * and a {@link KafkaTrigger} parameter (all RUNTIME annotations), their retry policy, and how long it
 * holds a copy against {@code mustOutlast}; and {@code commitOnFailure}/{@code maxRetries} from the
 * app settings that override host.json ({@code AzureFunctionsJobHost__extensions__kafka__...}) or
 * from host.json in the script root ({@code AzureWebJobsScriptRoot}, else {@code
 * HOME/site/wwwroot}) when the worker can see it. What cannot be checked: which function classes the
 * app has (the caller names them), the extension version the host loaded (from the extension bundle:
 * {@code commitOnFailure}/{@code maxRetries} are ignored before 4.3.0, so only the retry policy counts
 * there), and retry policies set outside the annotations.
 *
 * <p>What is flagged: every Kafka function whose <b>own</b> retry policy (none = 0 s) does not hold
 * a copy for {@code mustOutlast}. The extension's settings cannot clear it: they count only on
 * extension 4.3.0+, which the worker cannot see; when they would hold the copy there, the finding
 * says so (and, with no policy, that the extension re-invokes the function at once: a hot loop for
 * the whole takeover). Also a finding: a given class with no Kafka function, and a check that could
 * not run. Names and host.json keys are matched ignoring case, as the host's binder does.
 *
 * <p>A policy with {@code maxRetryCount = -1} is what Tandem needs: a handler that keeps failing is
 * bounded by the store's {@code maxAttempts} (then dead-lettered, and the function returns), so
 * the only endless retry is a copy waiting for an owner — which the takeover ends.
 */
public final class KafkaTriggerRetryCheck {

  /** The app-setting prefix that overrides host.json values. */
  static final String HOST_OVERRIDE = "AzureFunctionsJobHost__extensions__kafka__";
  /** The extension's default of {@code maxRetries} (4.3.0+). */
  static final int DEFAULT_MAX_RETRIES = 5;

  private static final Logger LOG = LoggerFactory.getLogger(KafkaTriggerRetryCheck.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  /**
   * .NET {@code TimeSpan.Parse}'s invariant form: {@code d}, or {@code [d.]hh:mm[:ss[.fffffff]]}
   * (the host parses the retry intervals with it).
   */
  private static final Pattern TIME_SPAN = Pattern.compile(
      "^(?:(\\d+)|(?:(\\d+)\\.)?(\\d{1,2}):(\\d{1,2})(?::(\\d{1,2})(?:\\.(\\d{1,7}))?)?)$");
  /** The name of the finding when the check itself could not run. */
  static final String CHECK_FAILED = "kafka-retry-check";

  private KafkaTriggerRetryCheck() {}

  /**
   * One finding of the check.
   *
   * @param function the function's name ({@code @FunctionName}); for a class given without any
   *     Kafka function, the class's name; {@value #CHECK_FAILED} when the check could not run
   * @param message what holds, what is lost, and what to change
   */
  public record Finding(String function, String message) {
    @Override
    public String toString() {
      return function + ": " + message;
    }
  }

  /**
   * The Kafka extension's failure settings as the worker sees them.
   *
   * @param commitOnFailure empty when not set anywhere visible (the extension's default is true)
   * @param maxRetries empty when not set (the extension's default is 5)
   * @param source where they were read (a file, the app settings, or "not visible")
   */
  public record ExtensionSettings(Optional<Boolean> commitOnFailure, Optional<Integer> maxRetries,
      String source) {}

  /**
   * Checks the Kafka functions of {@code functionClasses} against {@code mustOutlast}, reading the
   * extension settings from {@code env} and the host.json it locates.
   *
   * @param mustOutlast how long a held copy must be retried: the takeover time (about L + margin +
   *     one heartbeat timer period), plus room for the changelog catch-ups
   * @return the findings; empty when every Kafka function keeps its copies through a takeover
   */
  public static List<Finding> check(Collection<Class<?>> functionClasses, Duration mustOutlast,
      Map<String, String> env) {
    return check(functionClasses, mustOutlast, settings(env));
  }

  /**
   * {@link #check(Collection, Duration, Map)} with the extension settings given. A class with no
   * Kafka function ({@code @FunctionName} method with a {@code @KafkaTrigger} parameter) is a
   * finding too: it was named to be checked, and nothing in it was.
   */
  public static List<Finding> check(Collection<Class<?>> functionClasses, Duration mustOutlast,
      ExtensionSettings settings) {
    Objects.requireNonNull(functionClasses, "functionClasses");
    Objects.requireNonNull(mustOutlast, "mustOutlast");
    Objects.requireNonNull(settings, "settings");
    List<Finding> findings = new ArrayList<>();
    int i = 0;
    for (Iterator<Class<?>> it = functionClasses.iterator(); it.hasNext(); i++) {
      Class<?> c = Objects.requireNonNull(it.next(), "functionClasses[" + i + "]");
      boolean any = false;
      for (Method m : c.getMethods()) {
        FunctionName name = m.getAnnotation(FunctionName.class);
        if (name == null || !hasKafkaTrigger(m)) {
          continue;
        }
        any = true;
        check(name.value(), m, mustOutlast, settings).ifPresent(findings::add);
      }
      if (!any) {
        findings.add(new Finding(c.getName(), "no Kafka function in " + c.getName() + " (no public "
            + "@FunctionName method with a @KafkaTrigger parameter): nothing was checked; name the "
            + "class that declares the Kafka-triggered functions"));
      }
    }
    return findings;
  }

  private static Optional<Finding> check(String function, Method m, Duration mustOutlast,
      ExtensionSettings settings) {
    Optional<Duration> policy; // empty: retries indefinitely
    String policyText;
    FixedDelayRetry fixed = m.getAnnotation(FixedDelayRetry.class);
    ExponentialBackoffRetry backoff = m.getAnnotation(ExponentialBackoffRetry.class);
    try {
      if (fixed != null) {
        policy = fixedSpan(fixed.maxRetryCount(), parseTimeSpan(fixed.delayInterval()));
        policyText = "@FixedDelayRetry(maxRetryCount = " + fixed.maxRetryCount() + ", delayInterval = "
            + fixed.delayInterval() + ")";
      } else if (backoff != null) {
        policy = backoffSpan(backoff.maxRetryCount(), parseTimeSpan(backoff.minimumInterval()),
            parseTimeSpan(backoff.maximumInterval()));
        policyText = "@ExponentialBackoffRetry(maxRetryCount = " + backoff.maxRetryCount() + ")";
      } else {
        policy = Optional.of(Duration.ZERO);
        policyText = "no retry policy";
      }
    } catch (IllegalArgumentException e) {
      return Optional.of(new Finding(function, "its retry policy cannot be read: " + e.getMessage()));
    }
    if (policy.isEmpty() || policy.get().compareTo(mustOutlast) >= 0) {
      return Optional.empty(); // the function's own policy holds the copy, on every extension version
    }
    // The policy alone falls short. The extension's settings can still hold the copy, but only on
    // extension 4.3.0+ (ignored before), and the version the host loaded (extension bundle
    // [4.*, 5.0.0)) cannot be seen from the worker: always a finding, softer when they would cover.
    boolean commitOnFailure = settings.commitOnFailure().orElse(true);
    int maxRetries = settings.maxRetries().orElse(DEFAULT_MAX_RETRIES);
    Optional<Duration> held; // with the settings on 4.3.0+; empty: indefinitely
    if (commitOnFailure) {
      held = policy;
    } else if (maxRetries < 0) {
      held = Optional.empty();
    } else {
      // each in-place redelivery runs the whole retry policy again
      held = Optional.of(policy.get().multipliedBy(maxRetries + 1L));
    }
    String fix = "Declare @FixedDelayRetry(maxRetryCount = -1, delayInterval = \"00:00:05\") on the "
        + "function (and keep extensions.kafka.commitOnFailure = false, maxRetries = -1 in host.json "
        + "for extension 4.3.0+)";
    String takeover = "A takeover takes about " + mustOutlast.toSeconds() + " s. ";
    String own = policyText + " holds a copy held during a takeover for about "
        + policy.get().toSeconds() + " s on its own. ";
    if (held.isEmpty() || held.get().compareTo(mustOutlast) >= 0) {
      String hot = policy.get().isZero()
          ? " With no delay between attempts the extension re-invokes the function at once, a hot "
              + "loop for the whole takeover."
          : "";
      return Optional.of(new Finding(function, own + "The Kafka extension's settings (commitOnFailure "
          + "= false, maxRetries = " + maxRetries + ", " + settings.source() + ") keep it only on "
          + "extension 4.3.0+; before 4.3.0 they are ignored and the offset is committed past the "
          + "copy, which is then lost, and the version the host loaded (extension bundle [4.*, "
          + "5.0.0)) cannot be seen from here." + hot + " " + takeover + fix));
    }
    String extension = commitOnFailure
        ? "the Kafka extension then commits past it (before 4.3.0 always; from 4.3.0 while "
            + "extensions.kafka.commitOnFailure is true, its default; settings " + settings.source()
            + ")"
        : "the Kafka extension then skips it after maxRetries = " + maxRetries + " (settings "
            + settings.source() + ")";
    return Optional.of(new Finding(function, policyText + ": a copy held during a takeover is "
        + "retried for about " + held.get().toSeconds() + " s, then " + extension + ": that copy "
        + "is lost, and the other region's copy, held by a follower too, waits for a completion "
        + "that never comes. " + takeover + fix));
  }

  /**
   * Runs the check in {@code env} as {@link TandemFunctions.Builder#kafkaFunctions} does at start-up
   * (with this process's environment): logs each finding as a warning and exports their number as
   * the gauge {@code tandem.functions.kafka.retry.findings{region}}. Never throws: a check that
   * fails is itself a finding ({@value #CHECK_FAILED}), so the gauge never reads 0 ("all good")
   * for a check that did not run.
   */
  static List<Finding> atStartup(Collection<Class<?>> functionClasses, Duration mustOutlast,
      MeterRegistry registry, String region, Map<String, String> env) {
    List<Finding> findings;
    try {
      findings = List.copyOf(check(functionClasses, mustOutlast, env));
    } catch (RuntimeException | LinkageError e) {
      LOG.warn("Tandem could not check the retry policies of the Kafka functions", e);
      findings = List.of(new Finding(CHECK_FAILED, "the check of the Kafka functions' retry "
          + "policies could not run (" + e + "): whether a copy held during a takeover survives "
          + "is unknown"));
    }
    for (Finding f : findings) {
      LOG.warn("Tandem: Kafka function {}", f);
    }
    Gauge.builder(AzureMeterNames.FUNCTIONS_KAFKA_RETRY_FINDINGS, findings, List::size).tag("region", region)
        .description("Kafka-triggered functions whose copies held during a takeover may be "
            + "committed past (no retry policy of their own outlasting it), classes without a Kafka "
            + "function, or 1 when the check could not run")
        .strongReference(true).register(registry);
    return findings;
  }

  /**
   * How long a fixed-delay policy holds a failing copy (the delays between its retries), empty for
   * {@code maxRetryCount = -1}.
   */
  static Optional<Duration> fixedSpan(int maxRetryCount, Duration delay) {
    if (maxRetryCount < 0) {
      return Optional.empty();
    }
    return Optional.of(delay.multipliedBy(maxRetryCount));
  }

  /**
   * About how long an exponential policy holds a failing copy: retry {@code i} waits about {@code
   * min(maximum, minimum * 2^(i-1))} (the host's randomized exponential strategy varies each delay
   * around that, so a policy close to {@code mustOutlast} may still fall short: prefer {@code
   * maxRetryCount = -1}); empty for {@code maxRetryCount = -1}.
   */
  static Optional<Duration> backoffSpan(int maxRetryCount, Duration minimum, Duration maximum) {
    if (maxRetryCount < 0) {
      return Optional.empty();
    }
    Duration total = Duration.ZERO;
    Duration step = minimum;
    for (int i = 0; i < maxRetryCount; i++) {
      total = total.plus(step.compareTo(maximum) > 0 ? maximum : step);
      if (step.compareTo(maximum) < 0) {
        step = step.multipliedBy(2);
      }
    }
    return Optional.of(total);
  }

  /**
   * A .NET TimeSpan string as the host parses the retry annotations' intervals ({@code
   * TimeSpan.Parse}, invariant): {@code d} (days), or {@code [d.]hh:mm[:ss[.fffffff]]}, hours 0-23,
   * minutes and seconds 0-59.
   */
  static Duration parseTimeSpan(String text) {
    Matcher m = TIME_SPAN.matcher(text == null ? "" : text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException("not a time span ([d.]hh:mm[:ss[.fffffff]] or d): " + text);
    }
    if (m.group(1) != null) {
      return Duration.ofDays(Long.parseLong(m.group(1)));
    }
    long hours = Long.parseLong(m.group(3));
    long minutes = Long.parseLong(m.group(4));
    long seconds = m.group(5) == null ? 0 : Long.parseLong(m.group(5));
    if (hours > 23 || minutes > 59 || seconds > 59) {
      throw new IllegalArgumentException("not a time span (hours 0-23, minutes and seconds 0-59): "
          + text);
    }
    Duration d = Duration.ofDays(m.group(2) == null ? 0 : Long.parseLong(m.group(2)))
        .plusHours(hours).plusMinutes(minutes).plusSeconds(seconds);
    if (m.group(6) != null) {
      String f = (m.group(6) + "0000000").substring(0, 7); // ticks of 100 ns
      d = d.plusNanos(Long.parseLong(f) * 100);
    }
    return d;
  }

  /**
   * The extension's failure settings visible to the worker: app settings overriding host.json
   * first ({@code AzureFunctionsJobHost__extensions__kafka__commitOnFailure}, {@code ...maxRetries}),
   * then host.json in the script root ({@code AzureWebJobsScriptRoot}, else {@code
   * HOME/site/wwwroot}). Names and host.json keys are matched ignoring case, as the host's
   * configuration binder does.
   *
   * @param env the environment, e.g. {@code System.getenv()}
   */
  public static ExtensionSettings settings(Map<String, String> env) {
    Map<String, String> ci = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    env.forEach((k, v) -> {
      if (k != null && v != null) {
        ci.put(k, v);
      }
    });
    Optional<Boolean> commit = Optional.ofNullable(ci.get(HOST_OVERRIDE + "commitOnFailure"))
        .flatMap(KafkaTriggerRetryCheck::bool);
    Optional<Integer> retries = Optional.ofNullable(ci.get(HOST_OVERRIDE + "maxRetries"))
        .flatMap(KafkaTriggerRetryCheck::integer);
    String source = commit.isPresent() || retries.isPresent() ? "app settings" : null;
    Optional<Path> hostJson = hostJson(ci);
    if (hostJson.isPresent()) {
      ExtensionSettings file = settings(hostJson.get());
      if (commit.isEmpty()) {
        commit = file.commitOnFailure();
      }
      if (retries.isEmpty()) {
        retries = file.maxRetries();
      }
      source = source == null ? file.source() : source + " and " + file.source();
    }
    return new ExtensionSettings(commit, retries, source == null
        ? "not visible: no host.json under AzureWebJobsScriptRoot or HOME/site/wwwroot" : source);
  }

  /** The extension's failure settings in one host.json file (keys matched ignoring case). */
  public static ExtensionSettings settings(Path hostJson) {
    try {
      JsonNode kafka = field(field(JSON.readTree(Files.readAllBytes(hostJson)), "extensions"),
          "kafka");
      JsonNode c = field(kafka, "commitOnFailure");
      JsonNode r = field(kafka, "maxRetries");
      Optional<Boolean> commit = c.isValueNode() && !c.isNull() ? bool(c.asText())
          : Optional.empty();
      Optional<Integer> retries = r.isValueNode() && !r.isNull() ? integer(r.asText())
          : Optional.empty();
      return new ExtensionSettings(commit, retries, hostJson.toString());
    } catch (IOException e) {
      return new ExtensionSettings(Optional.empty(), Optional.empty(),
          hostJson + " unreadable (" + e.getMessage() + ")");
    }
  }

  /** The field of {@code node} named {@code name} ignoring case; a missing node otherwise. */
  private static JsonNode field(JsonNode node, String name) {
    if (node != null && node.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (e.getKey().equalsIgnoreCase(name)) {
          return e.getValue();
        }
      }
    }
    return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
  }

  private static Optional<Path> hostJson(Map<String, String> env) {
    List<Path> candidates = new ArrayList<>();
    String root = env.get("AzureWebJobsScriptRoot");
    if (root != null && !root.isBlank()) {
      candidates.add(Path.of(root.strip(), "host.json"));
    }
    String home = env.get("HOME");
    if (home != null && !home.isBlank()) {
      candidates.add(Path.of(home.strip(), "site", "wwwroot", "host.json"));
    }
    return candidates.stream().filter(Files::isRegularFile).findFirst();
  }

  /** "true"/"false" in any case, as the .NET binder reads a bool; anything else: not set. */
  private static Optional<Boolean> bool(String s) {
    String v = s.strip();
    if (v.equalsIgnoreCase("true")) {
      return Optional.of(true);
    }
    if (v.equalsIgnoreCase("false")) {
      return Optional.of(false);
    }
    return Optional.empty();
  }

  private static Optional<Integer> integer(String s) {
    try {
      return Optional.of(Integer.parseInt(s.strip()));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  private static boolean hasKafkaTrigger(Method m) {
    for (Parameter p : m.getParameters()) {
      if (p.isAnnotationPresent(KafkaTrigger.class)) {
        return true;
      }
    }
    return false;
  }
}
